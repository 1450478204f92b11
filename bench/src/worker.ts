// A child process hosting one contestant on one workload, so that its peak RSS is its own. It answers
// the harness's requests (see child.ts) over the IPC channel, one at a time.
import type { Check } from './contestant.js';
import { loadContestant } from './contestants/index.js';
import { makeProblem, workloadNamed } from './workloads.js';

export type Request =
  | { cmd: 'check' }
  | { cmd: 'time'; iterations: number }
  | { cmd: 'mark' }
  | { cmd: 'memory' };

export interface Memory {
  /** Peak resident set of the whole process, in bytes. */
  peakRss: number;
  /** Resident set before the contestant's library was loaded. */
  baselineRss: number;
  /** Growth of JS heap + external memory (typed arrays, wasm) from `mark` to now, both after a full GC. */
  heapGrowth: number | null;
}

/** Wall-clock and CPU milliseconds (user + system, all threads of the process) for a batch of iterations. */
export interface Timing {
  ms: number;
  cpuMs: number;
  /** Minor page faults of the process in the batch: first touches of memory the kernel hands out afresh. */
  faults: number;
}

export type Reply = Check | Timing | Memory | { ok: true } | { error: string };

const gc = (globalThis as { gc?: () => void }).gc;
// ArrayBuffer backing stores are released by a task after the collection, so collect, let it run, and
// collect again before reading.
const liveBytes = async () => {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
};

async function main(): Promise<void> {
  const [name, workloadName, seed] = process.argv.slice(2);
  const send = (msg: object) => process.send!(msg);
  const baselineRss = process.memoryUsage().rss;
  try {
    const contestant = await loadContestant(name!);
    const runner = await contestant.create(makeProblem(workloadNamed(workloadName!), Number(seed)));
    let marked: number | null = null;
    const handle = async (req: Request): Promise<Reply> => {
      switch (req.cmd) {
        case 'check':
          return runner.check();
        case 'time': {
          const cpu = process.cpuUsage();
          const faults = process.resourceUsage().minorPageFault;
          const start = performance.now();
          for (let i = 0; i < req.iterations; i++) {
            const loss = runner.step();
            if (loss instanceof Promise) await loss;
          }
          const ms = performance.now() - start;
          const { user, system } = process.cpuUsage(cpu);
          return {
            ms,
            cpuMs: (user + system) / 1000,
            faults: process.resourceUsage().minorPageFault - faults,
          };
        }
        case 'mark':
          marked = await liveBytes();
          return { ok: true };
        case 'memory':
          return {
            peakRss: process.resourceUsage().maxRSS * 1024,
            baselineRss,
            heapGrowth: gc && marked !== null ? (await liveBytes()) - marked : null,
          };
      }
    };
    process.on('message', (req: Request) => {
      handle(req).then(send, (e: unknown) => send({ error: e instanceof Error ? e.message : String(e) }));
    });
    process.on('disconnect', () => {
      runner.dispose?.();
      process.exit(0);
    });
    send({ ready: true, describe: contestant.describe(), baselineRss });
  } catch (e) {
    send({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    process.disconnect();
  }
}

void main();
