// A wasm worker thread that dies in the middle of a split gemm fails that call, naming the worker and
// the kernel, within a bounded time, and the calls after it give the one-thread results bit for bit
// (worker-death-probe.ts does the killing in a child process, which a hang cannot take down with it).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { wasmAvailable } from '../src/kernels/wasm/sgemm.js';

const probe = fileURLToPath(new URL('./worker-death-probe.ts', import.meta.url));

interface Case {
  threads: number;
  index: number;
  how: number | 'terminate';
  kernel: string;
  before: number;
  message: string;
  ms: number;
  availableAfter: number;
  getThreads: number;
  nextEqual: boolean;
  availableReady: number;
  jobsReady: number;
  readyEqual: boolean;
}

it.runIf(wasmAvailable())(
  'a worker that exits or is terminated mid-call fails that call by name; the next calls are right',
  () => {
    const output = execFileSync(process.execPath, ['--conditions=source', '--import', 'tsx', probe], {
      encoding: 'utf8',
      // Before the fix the main thread waited for the dead worker forever: the child is killed instead.
      timeout: 30_000,
    });
    const cases: Case[] = JSON.parse(output.trim().split('\n').pop()!);
    expect(cases).toHaveLength(5);
    for (const c of cases) {
      const name = `${c.how} on worker ${c.index} of ${c.threads - 1} in ${c.kernel}`;
      expect(c.before, name).toBe(c.threads);
      const how =
        c.how === 'terminate' ? 'stopped \\(terminated, or out of memory\\)' : `exited \\(code ${c.how}\\)`;
      expect(c.message, name).toMatch(
        new RegExp(`^kernels: worker ${c.index} \\(thread \\d+\\) ${how} while running ${c.kernel}, `),
      );
      // Spinning (a few ms), then a probe every 20 one-ms slices: far below a second even on a busy VM.
      expect(c.ms, name).toBeLessThan(5_000);
      // At once the dead worker is out and its replacement not ready; the setting stays.
      expect(c.availableAfter, name).toBe(c.threads - 1);
      expect(c.getThreads, name).toBe(c.threads);
      expect(c.nextEqual, name).toBe(true);
      // Once the replacement is ready the pool is whole again and every worker takes a part.
      expect(c.availableReady, name).toBe(c.threads);
      expect(c.jobsReady, name).toBe(c.threads - 1);
      expect(c.readyEqual, name).toBe(true);
    }
  },
  60_000,
);
