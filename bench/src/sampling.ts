// Timing helpers for the bench's scripts that time in one process (ab.ts, hvp.ts, jvp.ts) and for the
// harness: one sample of a step, the median of samples, and the command line of hvp.ts and jvp.ts.
import { parseArgs } from 'node:util';

export interface SampleOptions {
  /**
   * What is measured: the process's CPU time (user + system), which on a machine shared with other work
   * leaves out the wait for a core, or the wall clock.
   */
  clock?: 'cpu' | 'wall';
  /** Iterations at the least, however long they take. */
  min?: number;
}

/** Milliseconds per iteration of fn, run for about ms of wall time (and at least `min` iterations). */
export function sample(
  fn: () => unknown,
  ms: number,
  { clock = 'cpu', min = 3 }: SampleOptions = {},
): number {
  const cpu = process.cpuUsage();
  const wall = performance.now();
  let n = 0;
  while (n < min || performance.now() - wall < ms) {
    fn();
    n++;
  }
  if (clock === 'wall') return (performance.now() - wall) / n;
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / 1000 / n;
}

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `--rounds` (default 7) and `--sample-ms` (default 300) from the command line: hvp.ts's and jvp.ts's. */
export function roundsArgs(): { rounds: number; sampleMs: number } {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '7' },
      'sample-ms': { type: 'string', default: '300' },
    },
  });
  return { rounds: Number(values.rounds), sampleMs: Number(values['sample-ms']) };
}
