// The signal rule in-process, on a clock of our own: the first signal stops after the step and is
// acknowledged; the same press delivered twice is ignored; a press after the acknowledgement quits.
import { describe, expect, it } from 'vitest';
import { SAME_PRESS_MS, stopHandler, stoppedCode } from '../src/stops.js';

function harness() {
  const abort = new AbortController();
  const written: string[] = [];
  const exits: number[] = [];
  let clock = 1000;
  const stop = stopHandler(abort, {
    write: (text) => written.push(text),
    exit: (code) => exits.push(code),
    now: () => clock,
    clear: '',
  });
  return { abort, written, exits, stop, tick: (ms: number) => (clock += ms) };
}

describe('stop signals', () => {
  it('the first aborts the run and says so; a second after the acknowledgement quits with the signal code', () => {
    const { abort, written, exits, stop, tick } = harness();
    stop('SIGINT');
    expect(abort.signal.aborted).toBe(true);
    expect(abort.signal.reason).toBe('SIGINT');
    expect(written).toEqual([
      'Ctrl-C: stopping after this step to save a checkpoint (Ctrl-C again to quit without saving)\n',
    ]);
    expect(exits).toEqual([]);
    tick(SAME_PRESS_MS);
    stop('SIGINT');
    expect(exits).toEqual([130]);
    expect(written[1]).toBe('Ctrl-C again: quit without saving; the last checkpoint saved is intact\n');
  });

  it('ignores the same press delivered twice (two signals within a few milliseconds)', () => {
    const { written, exits, stop, tick } = harness();
    stop('SIGINT');
    tick(30); // a launcher relaying the group's signal, a few ms later
    stop('SIGINT');
    stop('SIGTERM');
    expect(exits).toEqual([]);
    expect(written).toHaveLength(1);
  });

  it('names SIGTERM and SIGHUP, and exits with their shell codes', () => {
    const { written, exits, stop, tick } = harness();
    stop('SIGTERM');
    expect(written[0]).toMatch(/^SIGTERM: stopping after this step/);
    tick(1000);
    stop('SIGHUP');
    expect(exits).toEqual([129]);
    expect([stoppedCode('SIGINT'), stoppedCode('SIGTERM'), stoppedCode('EPIPE')]).toEqual([130, 143, 130]);
  });
});
