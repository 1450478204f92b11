// Worker threads that run the wasm kernels beside the calling thread on the shared memory: Node's
// worker_threads, or Web Workers (a browser, Deno) where the memory may be posted to one (a browser
// page must be cross-origin isolated). A split call hands each worker one job through 128 control
// bytes in the memory (a kernel and its arguments), runs its own part, then waits for theirs: no
// messages, no copies, one handshake per call. A queue job instead lists many calls (chunks) in wasm
// memory, and every thread takes the next one until none is left, so a thread that starts late or
// runs slower (the main one copies operands; a VM's cores are not always equal) takes fewer and none
// waits long for another.
// The calling thread must be allowed to block (Atomics.wait), as Node's threads and Web Workers are
// and a browser page's main thread is not. There everything runs on one thread rather than spinning
// for the workers: a page trains in a Web Worker anyway (a long step on the main thread freezes the
// page), a spinning main thread could not learn of a worker's death (events wait for it to yield),
// and Web Workers start only once the main thread yields, which a page's synchronous calls never do.
// A worker that dies (process.exit or an uncaught error in it, terminate(), out of memory) fails the
// call it was running with an error that names it and the kernel, and leaves the pool; a later call
// starts another in its place (see waitLong for how a thread blocked in the wait learns of it).
import {
  controlOf,
  type Export,
  type KernelName,
  type Kernels,
  kernelNames,
  MAX_THREADS,
  scratchOf,
  sharedModule,
  type WasmMemory,
} from './module.js';

/** A kernel call for one thread. */
export interface Job {
  kernel: KernelName;
  args: number[];
}

// Control words (Int32) of one worker: the calling thread posts job n by writing it and setting POSTED
// to n; the worker runs it and sets DONE to n (STATUS 1 if it threw). READY is 1 once it has
// instantiated, EXITED once it ran its exit handler (process.exit, an uncaught error), EXIT_CODE then
// its code. PROBED counts the liveness probes posted to its port (Node's; it drains them). DIE is a
// test hook (dieAtNextJob). QUEUE is 1 for a queue job: ARGS then holds [chunks, table, counter,
// apackIndex, apack] (see runQueue).
const POSTED = 0;
const DONE = 1;
const STATUS = 2;
const READY = 3;
const KERNEL = 4;
const ARGC = 5;
const ARGS = 6;
const DIE = 28;
const PROBED = 29;
const EXIT_CODE = 30;
const QUEUE = 31;
const MAX_ARGS = DIE - ARGS;
const EXITED = 2;
/** Polls of a control word before a thread sleeps on it: a few milliseconds. */
const SPINS = 1_000_000;
/** Millisecond slices of a long wait between two probes of the worker's life (see waitLong). */
const PROBE_SLICES = 20;

// The worker's program, in three parts: each runtime's own start (it receives the memory, the compiled
// modules and its place), then instantiation and the job loop, the same on both. A worker source
// defines memory, modules, scratch, control and names, exit(code) (leave as process.exit does) and
// drain() (drop the liveness probes on its port, if it has one), then runs these.
const instantiateSource = `
const words = new Int32Array(memory.buffer, control, 32);
// As module.ts's instantiate, on this thread's scratch tile.
const make = (module, env) => new WebAssembly.Instance(module, { env: { memory, scratch, ...env } }).exports;
const gemm = make(modules.sgemm, {});
const kernels = { ...gemm, ...(modules.recurrent ? make(modules.recurrent, { sgemmPacked: gemm.sgemmPacked }) : {}) };
`;

const loopSource = `
drain();
Atomics.store(words, ${READY}, 1);
// The loop allocates nothing (one reused argument list per count, the memory's view made again only
// after it grew), so this thread's heap never fills and V8 never stops it for a collection mid-job while
// the calling thread waits on its chunk (it did collect, now and then, in lstm-big runs: bench/README).
const argLists = [];
const argList = (argc) => (argLists[argc] ??= new Array(argc).fill(0));
let heap = new Int32Array(memory.buffer);
let seen = 0;
let drained = 0;
for (;;) {
  // Spin a few milliseconds (the next job of an iteration follows soon, and waking a sleeping thread
  // costs far more than a spinning one takes to notice: bench/README), then sleep until one is posted.
  for (let spins = 0; Atomics.load(words, ${POSTED}) === seen; spins++) {
    if (spins > ${SPINS}) Atomics.wait(words, ${POSTED}, seen);
  }
  seen = Atomics.load(words, ${POSTED});
  // The test hook: exit with that code, or (-1) stall until terminated.
  const die = words[${DIE}];
  if (die > 0) exit(die);
  while (die < 0);
  try {
    const kernel = kernels[names[words[${KERNEL}]]];
    const argc = words[${ARGC}];
    const args = argList(argc);
    if (words[${QUEUE}] === 1) {
      // Take chunks until none is left; this thread's packing space replaces the placeholder.
      const chunks = words[${ARGS}];
      const table = words[${ARGS} + 1] >>> 2;
      const counter = words[${ARGS} + 2] >>> 2;
      const apackIndex = words[${ARGS} + 3];
      const apack = words[${ARGS} + 4];
      if (heap.buffer !== memory.buffer) heap = new Int32Array(memory.buffer);
      for (let i = Atomics.add(heap, counter, 1); i < chunks; i = Atomics.add(heap, counter, 1)) {
        for (let a = 0; a < argc; a++) args[a] = heap[table + i * argc + a];
        args[apackIndex] = apack;
        kernel.apply(null, args);
      }
    } else {
      for (let a = 0; a < argc; a++) args[a] = words[${ARGS} + a];
      kernel.apply(null, args);
    }
    words[${STATUS}] = 0;
  } catch {
    words[${STATUS}] = 1;
  }
  // The calling thread's probes of this thread's life wait unread on the port: drop them, or they pile up.
  if (words[${PROBED}] !== drained) {
    drained = words[${PROBED}];
    drain();
  }
  Atomics.store(words, ${DONE}, seen);
  Atomics.notify(words, ${DONE});
}
`;

/** Node's worker (CommonJS, run with eval): its place comes as workerData. */
const nodeWorkerSource = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { memory, modules, scratch, control, names, port } = workerData;
const drain = () => { while (receiveMessageOnPort(port) !== undefined); };
const exit = (code) => process.exit(code);
${instantiateSource}
// An exit this thread runs (process.exit, an uncaught error) is told at once, with its code, and wakes a
// calling thread waiting for a job; a stop from outside (terminate, out of memory) runs nothing here, and
// the calling thread learns of it from the port below closing.
process.on('exit', (code) => {
  words[${EXIT_CODE}] = code;
  Atomics.store(words, ${READY}, ${EXITED});
  Atomics.notify(words, ${DONE});
});
${loopSource}
`;

/**
 * A Web Worker (a module script from a Blob URL, self-contained): its place comes in the first message,
 * the shared memory and the compiled modules included (posting them is what cross-origin isolation
 * allows). It never returns to its event loop once serving.
 */
const webWorkerSource = `
self.onmessageerror = () => {
  throw new Error('tapegrad kernels worker: the wasm memory or modules could not be received');
};
self.onmessage = ({ data }) => {
  self.onmessage = null;
  const { memory, modules, scratch, control, names } = data;
  const drain = () => {};
  ${instantiateSource}
  // A Web Worker has no exit handler, and the calling thread, blocked in its wait, sees no event: an
  // exit (the test hook) is told in the control words, as Node's handler does, then the worker closes.
  const exit = (code) => {
    words[${EXIT_CODE}] = code;
    Atomics.store(words, ${READY}, ${EXITED});
    Atomics.notify(words, ${DONE});
    self.close();
    throw new Error('tapegrad kernels worker: exit ' + code);
  };
  ${loopSource}
};
`;

interface Worker {
  words: Int32Array;
  posted: number;
  /** Its number among the threads (1, 2, …): its control words and scratch tile, and its name in errors. */
  index: number;
  /** Its thread as errors name it: `thread 12` (Node's id, kept: the handle forgets it once the thread has exited), or `a Web Worker`. */
  thread: string;
  /** Stops it (if it has not stopped already). */
  terminate(): void;
  /** How it went, if a stop that ran nothing of its own can be seen from here (see isGone); else null. */
  probe(): string | null;
  /** Lets go of what watching it took. */
  close(): void;
  /** Out of the pool: it died, or never started. */
  gone: boolean;
  /** Test hook (dieAtNextJob): terminate it once a job of its has kept this thread waiting. */
  terminateWhenWaited: boolean;
}

/** What a worker receives: the memory, the modules, its scratch tile and control words, the kernel names. */
interface Place {
  memory: WasmMemory;
  modules: object;
  scratch: number;
  control: number;
  names: readonly string[];
}
/** Starts worker `index` at `place` (throws where the runtime refuses); `left` runs once it errs or exits. */
type Spawn = (index: number, place: Place, words: Int32Array, left: () => void) => Worker;

interface Port {
  postMessage(value: unknown): unknown;
  unref(): void;
  close(): void;
}
interface NodeWorker {
  readonly threadId: number;
  unref(): void;
  terminate(): Promise<unknown>;
  on(event: 'error' | 'exit', listener: () => void): void;
}
type WorkerThreads = {
  Worker: new (
    source: string,
    options: { eval: true; workerData: unknown; transferList: unknown[] },
  ) => NodeWorker;
  MessageChannel: new () => { port1: Port; port2: Port };
};
interface WebWorker {
  postMessage(message: unknown): void;
  terminate(): void;
  addEventListener(event: 'error', listener: (event: { preventDefault(): void }) => void): void;
}
type WebWorkerClass = new (url: string, options: { type: 'module'; name: string }) => WebWorker;
/** The globals of a browser or Deno that this file uses (the project's lib declares no DOM). */
type WebGlobals = {
  Worker?: WebWorkerClass;
  Blob?: new (parts: string[], options: { type: string }) => object;
  URL: { createObjectURL?(blob: object): string };
  crossOriginIsolated?: boolean;
  navigator?: { hardwareConcurrency?: number };
};
const web = globalThis as unknown as WebGlobals;

/** Node's worker_threads when this runtime has them (process.getBuiltinModule: Node ≥ 20.16), else null. */
function workerThreads(): WorkerThreads | null {
  const process = (globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } }).process;
  return (process?.getBuiltinModule?.('node:worker_threads') as WorkerThreads | undefined) ?? null;
}

/** The machine's cores as Node or the browser reports them, or 1. */
function cores(): number {
  const os = (
    globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } }
  ).process?.getBuiltinModule?.('node:os') as { availableParallelism?: () => number } | undefined;
  return os?.availableParallelism?.() ?? web.navigator?.hardwareConcurrency ?? 1;
}

/**
 * Whether posting to a port says if its channel still has another end (true while it has): Node 20's
 * postMessage returns that, though its documentation does not promise it. Learnt on the first channel,
 * where the other end is surely there; without it only an exit the worker runs itself is seen in a wait.
 */
let probesWork: boolean | null = null;

function spawnNode(threads: WorkerThreads): Spawn {
  return (index, place, words, left) => {
    const { port1: port, port2: theirs } = new threads.MessageChannel();
    // A port never keeps the process alive either (it takes no 'message' listener; only probes use it).
    port.unref();
    probesWork ??= port.postMessage(null) === true;
    let handle: NodeWorker;
    try {
      handle = new threads.Worker(nodeWorkerSource, {
        eval: true,
        workerData: { ...place, port: theirs },
        transferList: [theirs],
      });
    } catch (error) {
      port.close();
      throw error;
    }
    // The pool never keeps the process alive. Node tells of an exit here only when this thread is free
    // (a wait for the worker's job learns of it by itself, see waitLong).
    handle.unref();
    handle.on('error', left);
    handle.on('exit', left);
    let probes = 0;
    return {
      words,
      posted: 0,
      index,
      thread: `thread ${handle.threadId}`,
      terminate: () => void handle.terminate(),
      probe() {
        if (!probesWork) return null;
        // Posting returns false once the worker's end has closed (undefined once this end has too),
        // which its thread does as it stops, whatever stopped it.
        const open = port.postMessage(null) === true;
        Atomics.store(words, PROBED, ++probes);
        return open ? null : 'stopped (terminated, or out of memory)';
      },
      close: () => port.close(),
      gone: false,
      terminateWhenWaited: false,
    };
  };
}

let webWorkerUrl: string | undefined;

function spawnWeb(WebWorker: WebWorkerClass): Spawn {
  return (index, place, words, left) => {
    if (webWorkerUrl === undefined) {
      const blob = new web.Blob!([webWorkerSource], { type: 'text/javascript' });
      webWorkerUrl = web.URL.createObjectURL!(blob);
    }
    const handle = new WebWorker(webWorkerUrl, { type: 'module', name: `tapegrad kernels ${index}` });
    // An uncaught error in a Web Worker is its death here: it serves no more jobs (no exit event exists).
    // The pool handles it: not reported again as an uncaught error of this thread.
    handle.addEventListener('error', (event) => {
      event.preventDefault();
      left();
    });
    try {
      // Throws (DataCloneError) where the shared memory may not be posted: a page not cross-origin isolated.
      handle.postMessage(place);
    } catch (error) {
      handle.terminate();
      throw error;
    }
    // A Web Worker can be stopped only by its handle, which stays here, or by the page's end (and one
    // out of memory takes the page's process with it): a stop is seen by whoever made it.
    let terminated = false;
    return {
      words,
      posted: 0,
      index,
      thread: 'a Web Worker',
      terminate() {
        terminated = true;
        handle.terminate();
      },
      probe: () => (terminated ? 'stopped (terminated)' : null),
      close() {},
      gone: false,
      terminateWhenWaited: false,
    };
  };
}

/** Whether this thread may block in Atomics.wait (a browser page's main thread may not: it throws). */
function mayBlock(memory: WasmMemory): boolean {
  const word = new Int32Array(memory.buffer, controlOf(0), 1);
  try {
    // A value the word does not hold: returns at once where waiting is allowed.
    Atomics.wait(word, 0, Atomics.load(word, 0) + 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** How this runtime starts workers, or why it cannot (decided once, on first need). */
let spawner: Spawn | string | undefined;

function findSpawner(): Spawn | string {
  const shared = sharedModule();
  if (!shared) return 'the wasm memory is not shared in this runtime';
  const threads = workerThreads();
  if (threads) return spawnNode(threads);
  if (!web.Worker || !web.Blob || !web.URL.createObjectURL) return 'this runtime has no worker threads';
  if (web.crossOriginIsolated === false) {
    return 'the page is not cross-origin isolated (Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), so its wasm memory may not be posted to a Web Worker';
  }
  if (!mayBlock(shared.memory)) {
    return "this thread may not block (a browser page's main thread): call the kernels from a Web Worker to use more threads";
  }
  return spawnWeb(web.Worker);
}

/** Why workers cannot start here, set when one failed to start: the runtime refused it. */
let refused: string | null = null;

/** Why kernel calls run on one thread here whatever setThreads asks, or null where workers can run. */
export function singleThreadReason(): string | null {
  spawner ??= findSpawner();
  return typeof spawner === 'string' ? spawner : refused;
}

let wanted = Math.min(2, cores());
/** The pool by index (1 up): a worker, or empty (never filled, or its worker died: the next start fills it). */
const slots: (Worker | undefined)[] = [];
/** The workers in the pool (started or starting), by index; their jobs run here when they are gone. */
let live: Worker[] = [];

/**
 * Sets how many threads the wasm kernels may use, the calling one included (1 turns workers off), and
 * returns how many they will use: `count`, or 1 where workers cannot run (singleThreadReason says
 * why: no shared wasm memory, no workers, a browser page that is not cross-origin isolated, or a
 * browser's main thread, which may not block while workers run). The count asked for is kept, so a
 * later getThreads still says 1 there. The default is the machine's cores, at most 2 (what has been
 * measured). Workers start here (for the default, at the first big call) and serve once ready; await
 * threadsReady before timing, and in a Web Worker before any synchronous loop of calls: Web Workers
 * start only once the thread that made them yields to its event loop, and calls until then run on the
 * threads ready. One that dies is replaced at the next call (which runs on fewer threads until the new
 * one is ready); one that fails to start (the runtime refuses it) leaves every call on one thread from
 * then on, as getThreads then says.
 */
export function setThreads(count: number): number {
  if (!Number.isInteger(count) || count < 1 || count > MAX_THREADS) {
    throw new RangeError(`setThreads: count must be an integer from 1 to ${MAX_THREADS}, got ${count}`);
  }
  wanted = count;
  // Start them now rather than at the first big call: a Web Worker starts only once the thread that made
  // it yields to its event loop, which a synchronous training loop begun after this call never does.
  readyWorkers();
  return getThreads();
}

/**
 * How many threads kernel calls will use: the count setThreads asked for, or 1 where workers cannot run
 * (see setThreads; singleThreadReason says why). Workers still starting are counted: threadsReady
 * resolves once they serve.
 */
export function getThreads(): number {
  return wanted === 1 || singleThreadReason() !== null ? 1 : wanted;
}

/** readyWorkers' answer, one array reused (a kernel call reads it at once and keeps none of it). */
const ready: Worker[] = [];

/** Starts workers up to the wanted count where the runtime allows; returns those ready to take jobs. */
function readyWorkers(): readonly Worker[] {
  ready.length = 0;
  if (singleThreadReason() !== null) return ready;
  if (live.length + 1 < wanted) start(spawner as Spawn);
  for (const worker of live) {
    if (ready.length + 1 >= wanted) break;
    if (Atomics.load(worker.words, READY) === 1) ready.push(worker);
  }
  return ready;
}

function start(spawn: Spawn): void {
  const shared = sharedModule()!;
  for (let index = 1; live.length + 1 < wanted && index < MAX_THREADS; index++) {
    if (slots[index] !== undefined) continue;
    const words = new Int32Array(shared.memory.buffer, controlOf(index), 32);
    words.fill(0);
    const place = {
      memory: shared.memory,
      modules: shared.modules,
      scratch: scratchOf(index),
      control: controlOf(index),
      names: kernelNames,
    };
    let worker: Worker | undefined;
    try {
      worker = spawn(index, place, words, () => worker && leave(worker));
    } catch (error) {
      // A runtime that has workers but refuses this one (a sandbox, a page whose memory may not be
      // posted): stay on one thread.
      refused = `a worker thread could not start here: ${String(error)}`;
      return;
    }
    slots[index] = worker;
    live = slots.filter((w): w is Worker => w !== undefined);
  }
}

/**
 * A worker erred or exited. One that never got ready could not start (its script or memory refused):
 * the next would fail too, so every call stays on one thread. One that served leaves the pool.
 */
function leave(worker: Worker): void {
  if (worker.gone) return;
  if (Atomics.load(worker.words, READY) === 0) {
    refused = `worker ${worker.index} (${worker.thread}) failed to start`;
  }
  drop(worker);
}

/** Takes a worker that died out of the pool (its place empty, for the next start to fill). */
function drop(worker: Worker): void {
  if (worker.gone) return;
  worker.gone = true;
  slots[worker.index] = undefined;
  live = live.filter((w) => w !== worker);
  worker.close();
  // It has stopped or is stopping; this only makes sure (a worker that has exited ends at once).
  worker.terminate();
}

/**
 * Test hook, not part of the API: the worker `index` (1, 2, …, as errors name it) dies at its next
 * job, by exiting with `code` on its thread (process.exit; a Web Worker records the code and closes),
 * or ('terminate') by stalling there until the calling thread, having waited past its spinning,
 * terminates it: no code of the worker's runs as it goes. Returns false when there is no such worker.
 * @internal
 */
export function dieAtNextJob(index: number, how: number | 'terminate'): boolean {
  if (how !== 'terminate' && !(Number.isInteger(how) && how > 0)) {
    throw new RangeError(`dieAtNextJob: how must be 'terminate' or an exit code above 0, got ${how}`);
  }
  const worker = slots[index];
  if (worker === undefined) return false;
  worker.terminateWhenWaited = how === 'terminate';
  Atomics.store(worker.words, DIE, how === 'terminate' ? -1 : how);
  return true;
}

/** Resolves once every worker wanted now has started or failed (at once where there are none). */
export async function threadsReady(): Promise<void> {
  readyWorkers();
  while (live.some((w) => Atomics.load(w.words, READY) !== 1)) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Threads a call can be split over right now: 1 + the workers ready. */
export function threadsAvailable(): number {
  return wanted > 1 ? readyWorkers().length + 1 : 1;
}

/** Jobs run by workers so far (tests read it to know a split happened). */
export let jobsOnWorkers = 0;

/**
 * Runs jobs[0] on this thread and each later one on a ready worker (at most threadsAvailable() - 1 of
 * them; any without a worker run here too), and returns when all are done.
 */
export function runParallel(kernels: Kernels, jobs: readonly Job[]): void {
  const [first, ...rest] = jobs;
  if (!first) return;
  const run = (job: Job) => (kernels[job.kernel] as Export)(...job.args);
  if (rest.length === 0) {
    // One thread: the call itself (small calls are most calls; no worker bookkeeping).
    run(first);
    return;
  }
  const workersReady = readyWorkers();
  const posted: [Worker, Job][] = [];
  rest.forEach((job, i) => {
    const worker = workersReady[i];
    if (!worker || job.args.length > MAX_ARGS) {
      run(job);
      return;
    }
    post(worker, job.kernel, job.args);
    posted.push([worker, job]);
  });
  alongside(posted, () => run(first));
}

/**
 * Runs this thread's part while the posted jobs run, then waits for them all, also when this part
 * throws (a worker still running must not have its next job's arguments written under it); throws if
 * a worker's job failed or its worker died.
 */
function alongside(posted: readonly [Worker, Job][], here: () => void): void {
  try {
    here();
  } catch (error) {
    waitFor(posted);
    throw error;
  }
  const failure = waitFor(posted);
  if (failure !== null) throw new Error(failure);
}

/**
 * Hands a worker a job: one call with `args`, or (chunkArgs given) a queue that runQueue laid out, `args`
 * its description and chunkArgs the argument count of each chunk.
 */
function post(worker: Worker, kernel: KernelName, args: readonly number[], chunkArgs?: number): void {
  const { words } = worker;
  words[KERNEL] = kernelNames.indexOf(kernel);
  words[ARGC] = chunkArgs ?? args.length;
  words.set(args, ARGS);
  words[QUEUE] = chunkArgs === undefined ? 0 : 1;
  worker.posted++;
  Atomics.store(words, POSTED, worker.posted);
  Atomics.notify(words, POSTED);
}

/** Int32 words for a queue of `chunks` calls of `argc` arguments (runQueue's table and counter). */
export const queueWords = (chunks: number, argc: number): number => chunks * argc + 1;

/** Calls of one kernel for runQueue. */
export interface Queue {
  kernel: KernelName;
  /** Argument lists, independent of each other (runQueue writes the packing space into each). */
  chunks: readonly number[][];
  /** Byte address of queueWords(chunks, argc) free Int32 words in the memory: the table and its counter. */
  at: number;
  /** The argument that each thread replaces by apack(thread), its own packing space. */
  apackIndex: number;
  apack: (thread: number) => number;
  /** Threads that may take chunks, this one included: those the packing spaces were laid out for. */
  threads: number;
}

/**
 * Runs a queue's chunks over this thread and up to threads - 1 ready workers, each taking the next
 * chunk until none is left; returns when all are done. `memory` is the memory's current view.
 */
export function runQueue(kernels: Kernels, memory: Float32Array, queue: Queue): void {
  const { kernel, chunks, at, apackIndex, apack } = queue;
  // Chunk i on this thread, in its packing space (the chunk's own list takes it: the caller made the
  // lists for this call, and the workers read the table below, copied before any chunk runs).
  const here = apack(0);
  const runHere = (i: number) => {
    const args = chunks[i]!;
    args[apackIndex] = here;
    (kernels[kernel] as Export)(...args);
  };
  if (chunks.length === 1 || queue.threads === 1) {
    // One thread: the calls themselves (small calls are most calls).
    for (let i = 0; i < chunks.length; i++) runHere(i);
    return;
  }
  // Workers that became ready since the caller counted them stay out: they have no packing space.
  const workersReady = readyWorkers();
  const taking = Math.min(workersReady.length, queue.threads - 1);
  const argc = chunks[0]?.length ?? 0;
  const heap = int32View(memory);
  const table = at >>> 2;
  const counter = table + chunks.length * argc;
  for (let i = 0; i < chunks.length; i++) heap.set(chunks[i]!, table + i * argc);
  heap[counter] = 0;
  const posted: [Worker, Job][] = [];
  for (let thread = 1; thread <= taking; thread++) {
    const worker = workersReady[thread - 1]!;
    const description = [chunks.length, at, counter * 4, apackIndex, apack(thread)];
    post(worker, kernel, description, argc);
    posted.push([worker, { kernel, args: description }]);
  }
  // This thread takes chunks too, from the same counter, until none is left.
  alongside(posted, () => {
    let i = Atomics.add(heap, counter, 1);
    for (; i < chunks.length; i = Atomics.add(heap, counter, 1)) runHere(i);
  });
}

let int32: Int32Array | null = null;

/** An Int32 view of the memory, made again only after the memory grew. */
function int32View(memory: Float32Array): Int32Array {
  if (int32 === null || int32.buffer !== memory.buffer) int32 = new Int32Array(memory.buffer);
  return int32;
}

/**
 * Waits until every posted job is done or its worker has died; returns the error of the first that
 * failed, if any.
 */
function waitFor(posted: readonly [Worker, Job][]): string | null {
  let failure: string | null = null;
  for (const [worker, job] of posted) {
    const { words } = worker;
    let death: string | null = null;
    // Spin: this thread has nothing else to do, and a sleep would add a wake-up to every split call.
    for (let spins = 0; Atomics.load(words, DONE) !== worker.posted; spins++) {
      if (spins > SPINS) {
        death = waitLong(worker);
        break;
      }
    }
    if (death !== null) {
      failure ??=
        `kernels: worker ${worker.index} (${worker.thread}) ${death} while running ${job.kernel}, ` +
        'so this call is incomplete; the worker has left the pool, and the next call starts another';
      continue;
    }
    jobsOnWorkers++;
    if (words[STATUS] !== 0) failure ??= `kernels: ${job.kernel} failed on a worker thread`;
  }
  return failure;
}

/**
 * The wait for a job that outlasted the spinning: sleeps in slices of a millisecond, and between them
 * asks whether the worker still lives. No event can say so: Node delivers a worker's 'exit' (a browser
 * a Web Worker's 'error') on this thread's event loop, which waits for this wait. An exit the worker
 * runs itself sets EXITED in its control words (and wakes this thread); a stop it runs nothing of
 * (terminate, out of memory) closes the port a Node worker holds, which a post on this end tells at
 * once (see Worker.probe). Returns null once the job is
 * done, else how the worker went; it then leaves the pool.
 */
function waitLong(worker: Worker): string | null {
  const { words } = worker;
  if (worker.terminateWhenWaited) {
    worker.terminateWhenWaited = false;
    worker.terminate();
  }
  for (let slice = 1; Atomics.load(words, DONE) !== worker.posted; slice++) {
    Atomics.wait(words, DONE, Atomics.load(words, DONE), 1);
    if (slice % PROBE_SLICES !== 0 && Atomics.load(words, READY) !== EXITED) continue;
    const death = isGone(worker);
    if (death === null) continue;
    drop(worker);
    // A job its worker finished before going is done.
    return Atomics.load(words, DONE) === worker.posted ? null : death;
  }
  return null;
}

/** How the worker went ('exited (code 3)'), or null while it lives. */
function isGone(worker: Worker): string | null {
  const { words } = worker;
  if (Atomics.load(words, READY) === EXITED) return `exited (code ${words[EXIT_CODE]})`;
  return worker.probe();
}

/**
 * [lo, hi) bands of `total` rows for a queue over `threads` threads, each a multiple of `align` rows
 * but the last: first one band per thread of 3/4 of its even share, then the rest in bands that shrink
 * as they go (guided self-scheduling, about the rows left over 2·threads). Threads of equal speed take
 * two or three bands each; one on a core running at 60% of the other's speed takes fewer and finishes
 * with it, where even halves would leave the other waiting for a third of the time.
 */
export function queueBands(total: number, threads: number, align: number): readonly Band[] {
  return memo(queueBandCache, total, threads, align, computeQueueBands);
}

/** A band of rows [lo, hi), never changed once made (the bands of a size are made once and shared). */
export type Band = readonly [number, number];

const queueBandCache = new Map<number, readonly Band[]>();
const bandCache = new Map<number, readonly Band[]>();

/** f(total, parts, align), made once per arguments (align and parts below 64, as every caller's are). */
function memo(
  cache: Map<number, readonly Band[]>,
  total: number,
  parts: number,
  align: number,
  f: (total: number, parts: number, align: number) => Band[],
): readonly Band[] {
  const key = (total * 64 + parts) * 64 + align;
  let out = cache.get(key);
  if (out === undefined) {
    out = Object.freeze(f(total, parts, align));
    if (parts < 64 && align < 64) cache.set(key, out);
  }
  return out;
}

function computeQueueBands(total: number, threads: number, align: number): Band[] {
  const out: [number, number][] = [];
  const first = Math.floor((0.75 * total) / threads / align) * align;
  let lo = 0;
  if (first > 0) for (; out.length < threads; lo += first) out.push([lo, lo + first]);
  while (lo < total) {
    const size = Math.max(align, Math.ceil((total - lo) / (2 * threads) / align) * align);
    out.push([lo, Math.min(total, lo + size)]);
    lo += size;
  }
  return out.length > 0 ? out : [[0, total]];
}

/**
 * [lo, hi) bands that split `total` rows over at most `parts` threads, each a multiple of `align`
 * rows but the last (so the micro-kernel's tiles stay whole); fewer bands when there are few rows.
 */
export function bands(total: number, parts: number, align: number): readonly Band[] {
  return memo(bandCache, total, parts, align, computeBands);
}

function computeBands(total: number, parts: number, align: number): Band[] {
  const size = Math.max(align, Math.ceil(total / parts / align) * align);
  const out: [number, number][] = [];
  for (let lo = 0; lo < total; lo += size) out.push([lo, Math.min(total, lo + size)]);
  return out.length > 0 ? out : [[0, total]];
}
