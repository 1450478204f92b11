// What a signal does to a training run: the first one stops it after the current step, which then
// saves and says how to resume; another, once that was acknowledged on screen, quits at once.
import os from 'node:os';

/**
 * Signals that stop a run the way Ctrl-C does. SIGTERM is what a service manager or `kill` sends
 * first; SIGHUP, a terminal that closes.
 */
export const STOPS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type Stop = (typeof STOPS)[number];

/**
 * A second signal this soon after the first was acknowledged is the same press delivered twice (two
 * presses queued during one step, a launcher relaying the group's signal, a key repeating), not a
 * person who read the message and pressed again: no one reacts that fast.
 */
export const SAME_PRESS_MS = 100;

export interface StopIo {
  write(text: string): void;
  exit(code: number): void;
  /** Milliseconds, monotonic. */
  now(): number;
  /** Put before a message: on a terminal, what clears the live progress line. */
  clear: string;
}

/** The handler of every stop signal of a run whose training loop watches `abort`. */
export function stopHandler(abort: AbortController, io: StopIo): (signal: Stop) => void {
  let acknowledged = 0;
  return (signal) => {
    const key = signal === 'SIGINT' ? 'Ctrl-C' : signal;
    if (!abort.signal.aborted) {
      abort.abort(signal);
      io.write(
        `${io.clear}${key}: stopping after this step to save a checkpoint (${key} again to quit without saving)\n`,
      );
      acknowledged = io.now();
      return;
    }
    if (io.now() - acknowledged < SAME_PRESS_MS) return;
    // Saves are atomic: quitting now, even inside one, leaves the last saved checkpoint whole.
    io.write(`${io.clear}${key} again: quit without saving; the last checkpoint saved is intact\n`);
    io.exit(128 + os.constants.signals[signal]);
  };
}

/** The exit code of a run that `main` ended with 130 (stopped): the shell's code for the signal. */
export function stoppedCode(reason: unknown): number {
  const signal = STOPS.find((s) => s === reason);
  return signal ? 128 + os.constants.signals[signal] : 130;
}
