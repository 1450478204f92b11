// One workload, all contestants: each in its own process, checked against tapegrad's loss and gradient
// sums, warmed up, then timed in rounds whose order is shuffled, one sample per contestant per round.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { RandomState } from '@tapegrad/core';
import { type Child, startChild } from './child.js';
import { type Check, compareChecks } from './contestant.js';
import { tapegradDefault } from './contestants/tapegrad.js';
import { median } from './sampling.js';
import type { Memory, Timing } from './worker.js';
import { flopsPerIteration, makeProblem, type Workload } from './workloads.js';

export interface Options {
  rounds: number;
  seed: number;
  /** Aim for samples this long: fast contestants run several iterations per sample. */
  sampleMs: number;
  /** Warm up for at least this long (and at least two iterations). */
  warmupMs: number;
  /**
   * Which time the medians are of: the wall clock, or the process's CPU time (user + system, all its
   * threads), which on a machine shared with other work leaves out the time spent descheduled.
   */
  clock: 'wall' | 'cpu';
  /** Extra iterations after the rounds, untimed, so that heap growth covers a long run (e.g. 1,000). */
  soak: number;
}

export interface ContestantResult {
  name: string;
  describe: string;
  /** ok: timed and agrees with tapegrad; invalid: timed but disagrees; failed: could not run. */
  status: 'ok' | 'invalid' | 'failed';
  problems: string[];
  check: Check | null;
  iterationsPerSample: number;
  /** Iterations between the heap marks: the timed rounds and the soak. */
  iterationsMeasured: number;
  /** Wall-clock milliseconds per iteration, one per round, in round order. */
  samples: number[];
  /** CPU milliseconds per iteration, likewise. */
  cpuSamples: number[];
  /** Minor page faults per iteration, likewise. */
  faultSamples: number[];
  medianMs: number | null;
  minMs: number | null;
  maxMs: number | null;
  /** This contestant's median time over tapegrad's (2 = twice as slow as tapegrad). */
  timeVsTapegrad: number | null;
  /**
   * The median over rounds of this contestant's time over tapegrad's in the same round (pairedRatio):
   * samples seconds apart, not the medians of the whole run, whose machine may have drifted between them.
   */
  pairedVsTapegrad: number | null;
  gflops: number | null;
  /** Median CPU time over median wall time: near 1 alone on a core, lower when descheduled by other work. */
  cpuShare: number | null;
  /** Median minor page faults per iteration: memory mapped afresh on first touch (bench/README: their cost). */
  faultsPerIteration: number | null;
  memory: Memory | null;
}

export interface WorkloadResult {
  workload: Workload;
  flopsPerIteration: number;
  reference: Check;
  rounds: number;
  clock: Options['clock'];
  contestants: ContestantResult[];
}

/**
 * A pause before each timed sample: the contestant timed before may still be busy in the background
 * (tfjs-cpu's process used 20-40 ms of CPU in the 100 ms after each of its samples, V8 collecting its
 * garbage), which would fall on the next contestant's time, more on one that uses both cores.
 */
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

/**
 * Moves a process's main thread (not its other threads) onto one core, where taskset exists (Linux);
 * false elsewhere. Left alone, a process tends to stay on the core it runs on while the machine is
 * quiet, and this VM's two cores are not always equal: for tens of seconds one can run at 40-60% of
 * the other's speed (one-thread rnn-big, pinned: 7.5-7.7 ms on core 0 in three runs, 8.2, 11.7 and
 * 20.2 ms on core 1 in the same minutes), so which core a contestant happened to land on could decide
 * its whole median (tapegrad's lstm-small ran at 16.4k it/s in one full run, 24.4k and 22.6k in the
 * runs before and after it).
 */
const pinMainThread = (pid: number, core: number): boolean =>
  spawnSync('taskset', ['-p', '-c', String(core), String(pid)], { stdio: 'ignore', timeout: 5000 }).status ===
  0;

/**
 * The median of times[i] / base[i] over the rounds both have: each contestant's sample over tapegrad's of
 * the same round. Null when there is no such round.
 */
export function pairedRatio(times: readonly number[], base: readonly number[]): number | null {
  const n = Math.min(times.length, base.length);
  if (n === 0) return null;
  return median(Array.from({ length: n }, (_, i) => times[i]! / base[i]!));
}

/** tapegrad's own check, in this process: what every contestant (tapegrad's workers too) must match. */
export async function referenceCheck(workload: Workload, seed: number): Promise<Check> {
  const runner = await tapegradDefault.create(makeProblem(workload, seed));
  const check = await runner.check();
  runner.dispose?.();
  return check;
}

export async function runWorkload(
  workload: Workload,
  names: readonly string[],
  options: Options,
  log: (line: string) => void,
): Promise<WorkloadResult> {
  const reference = await referenceCheck(workload, options.seed);
  const flops = flopsPerIteration(workload);
  const results = new Map<string, ContestantResult>();
  const children: Child[] = [];
  const fresh = (name: string): ContestantResult => ({
    name,
    describe: '',
    status: 'failed',
    problems: [],
    check: null,
    iterationsPerSample: 0,
    iterationsMeasured: 0,
    samples: [],
    cpuSamples: [],
    faultSamples: [],
    medianMs: null,
    minMs: null,
    maxMs: null,
    timeVsTapegrad: null,
    pairedVsTapegrad: null,
    gflops: null,
    cpuShare: null,
    faultsPerIteration: null,
    memory: null,
  });
  const failed = (result: ContestantResult, e: unknown) => {
    result.status = 'failed';
    result.problems.push(e instanceof Error ? e.message : String(e));
    log(`  ${result.name}: FAILED ${result.problems.at(-1)}`);
  };

  try {
    for (const name of names) {
      const result = fresh(name);
      results.set(name, result);
      try {
        const child = await startChild(name, workload, options.seed);
        children.push(child);
        result.describe = child.describe;
        result.check = await child.request<Check>({ cmd: 'check' });
        result.problems = compareChecks(result.check, reference);
        result.status = result.problems.length === 0 ? 'ok' : 'invalid';
        if (result.status === 'invalid')
          log(`  ${name}: INVALID, disagrees with tapegrad: ${result.problems.join('; ')}`);
        // Warm-up: JIT compilers (V8's, jax-js's) settle. Batches double while short, so that fast
        // contestants are not timed one call at a time; the last batch sizes the samples.
        let spent = 0;
        let batch = 1;
        let perIteration = 0;
        for (let i = 0; i < 2 || spent < options.warmupMs; i++) {
          const { ms } = await child.request<Timing>({ cmd: 'time', iterations: batch });
          spent += ms;
          perIteration = ms / batch;
          if (ms < options.sampleMs / 4) batch *= 2;
        }
        result.iterationsPerSample = Math.max(1, Math.round(options.sampleMs / Math.max(perIteration, 1e-4)));
        await child.request({ cmd: 'mark' });
        log(
          `  ${name}: ready, ${perIteration.toPrecision(3)} ms/iteration after warm-up, ` +
            `${result.iterationsPerSample}/sample`,
        );
      } catch (e) {
        failed(result, e);
      }
    }

    const live = () => children.filter((c) => results.get(c.name)!.status !== 'failed');
    const rng = new RandomState(options.seed + 1);
    // Round r runs every contestant's main thread on core r mod cores (its other threads, tapegrad's
    // worker among them, go where the system puts them): each sees every core, in the same rounds.
    const cores = availableParallelism();
    let pinned = cores > 1;
    for (let round = 0; round < options.rounds; round++) {
      const order = Array.from(rng.permutation(children.length).data, (i) => children[i]!);
      const core = round % cores;
      for (const child of order) {
        const result = results.get(child.name)!;
        if (result.status === 'failed') continue;
        try {
          if (pinned) pinned = pinMainThread(child.pid, core);
          await settle();
          const { ms, cpuMs, faults } = await child.request<Timing>({
            cmd: 'time',
            iterations: result.iterationsPerSample,
          });
          result.samples.push(ms / result.iterationsPerSample);
          result.cpuSamples.push(cpuMs / result.iterationsPerSample);
          result.faultSamples.push(faults / result.iterationsPerSample);
        } catch (e) {
          failed(result, e);
        }
      }
      const where = pinned ? ` (main threads on core ${core})` : '';
      log(`  round ${round + 1}/${options.rounds}${where}: ${order.map((c) => c.name).join(', ')}`);
    }
    for (const child of live()) {
      const result = results.get(child.name)!;
      try {
        if (options.soak > 0) {
          log(`  ${child.name}: soak, ${options.soak} iterations`);
          await child.request<Timing>({ cmd: 'time', iterations: options.soak });
        }
        result.iterationsMeasured = result.samples.length * result.iterationsPerSample + options.soak;
        result.memory = await child.request<Memory>({ cmd: 'memory' });
      } catch (e) {
        failed(result, e);
      }
    }
  } finally {
    for (const child of children) child.close();
  }

  const contestants = names.map((name) => results.get(name)!);
  for (const r of contestants) {
    const samples = options.clock === 'cpu' ? r.cpuSamples : r.samples;
    if (samples.length === 0) continue;
    r.medianMs = median(samples);
    r.minMs = Math.min(...samples);
    r.maxMs = Math.max(...samples);
    r.gflops = flops / (r.medianMs * 1e6);
    r.cpuShare = median(r.cpuSamples) / median(r.samples);
    r.faultsPerIteration = median(r.faultSamples);
  }
  // The ratios are against the default tapegrad, or else the first tapegrad backend that ran.
  const base =
    contestants.find((r) => r.name === 'tapegrad' && r.medianMs) ??
    contestants.find((r) => r.name.startsWith('tapegrad') && r.medianMs);
  const timed = (r: ContestantResult) => (options.clock === 'cpu' ? r.cpuSamples : r.samples);
  for (const r of contestants) {
    if (base?.medianMs && r.medianMs) {
      r.timeVsTapegrad = r.medianMs / base.medianMs;
      r.pairedVsTapegrad = pairedRatio(timed(r), timed(base));
    }
  }
  return {
    workload,
    flopsPerIteration: flops,
    reference,
    rounds: options.rounds,
    clock: options.clock,
    contestants,
  };
}
