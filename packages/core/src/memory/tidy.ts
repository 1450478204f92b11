// Buffer recycling: tidy(fn) disposes the tensors fn made and did not return (tfjs's tidy), and hands
// their buffers to the allocator (allocator.ts) that later allocations of the same length take from: a
// scope is an arena (arena.ts) whose lifetime is fn's run. Without it,
// a buffer goes back to the system only when V8 collects its last view, in bulk and seconds late, and
// the C allocator then maps fresh pages for the next ones: the page faults cost a training step more
// time and peak memory than the pool's bookkeeping does (see bench/README, "Measurements behind design
// choices").
import { markLibraryCode } from '../callSite.js';
import type { TypedArray } from '../dtype.js';
import type { Node } from '../tape.js';
import { Tensor } from '../tensor.js';
import { forgetFreedBefore, freeState, giveBack, nextEpoch } from './allocator.js';
import { ScopeArena, setScope } from './arena.js';

// Where this module's code starts, so that its frames are known for core's in any bundle (callSite.ts).
const codeStart = new Error();

/** A tidy scope: its arena, and the tensors it may dispose. */
class Scope extends ScopeArena {
  /** Every tensor constructed while the scope was innermost. */
  readonly tensors: Tensor[] = [];
}

let current: Scope | null = null;
/** tidy scopes open now. */
let depth = 0;

/** @internal Called by every Tensor's constructor: the innermost scope owns the tensor. */
export function track(t: Tensor): void {
  current?.tensors.push(t);
}

/**
 * Exempts t from every tidy scope, open now or later (tfjs's keep): for a tensor made inside a scope
 * that must outlive it without being returned, such as a value stored in a cache.
 */
export function keep<T extends Tensor>(t: T): T {
  if (!(t instanceof Tensor)) throw new TypeError(`keep: expected a Tensor, got ${describe(t)}`);
  t._kept = true;
  return t;
}

/**
 * The error for reading a disposed tensor, naming it after `who` (an op and the tensor's role in it,
 * or nothing): '<who>Tensor(dtype, [shape]) was disposed by a tidy scope ...'.
 */
export const disposedError = (who: string, t: Tensor): Error =>
  new Error(
    `${who}Tensor(${t.dtype}, [${t.shape.join(',')}]) was disposed by a tidy scope that made it and ` +
      'neither returned nor kept it (return it from the function given to tidy, or keep() it)',
  );

const describe = (value: unknown): string =>
  value === null ? 'null' : typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;

/** The tensors in a result: itself, or inside arrays and plain objects, at any depth. */
function collectResult(value: unknown, into: Set<Tensor>, seen: Set<object> | null): void {
  if (value instanceof Tensor) {
    into.add(value);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  seen ??= new Set();
  if (seen.has(value)) return;
  seen.add(value);
  if (Array.isArray(value)) {
    for (const item of value) collectResult(item, into, seen);
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    for (const key of Object.keys(value)) collectResult((value as Record<string, unknown>)[key], into, seen);
  }
}

const isThenable = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';

/**
 * Runs fn, then disposes every tensor it made that its result does not hold (in arrays and plain
 * objects, at any depth) and that was not kept, as TensorFlow.js's tidy does: reading a disposed
 * tensor throws. The buffers that `allocate` made inside fn and that only disposed tensors viewed go
 * back to the allocator, and the next ops take them instead of fresh memory: wrap each training step in tidy.
 *
 * - Parameters, tensors assigned as a `.grad` and keep()'s tensors are never disposed.
 * - While a graph recorded inside fn that no backward has freed leads to a tensor that survives (the
 *   loss returned for a backward after tidy, say), that backward may read anything fn made, so the
 *   scope disposes nothing: its tensors are left to the garbage collector, as without tidy. Run the
 *   backward inside. A graph that leads only to disposed tensors can never run, and holds nothing.
 * - A typed array read from a disposed tensor's `data` before the end of fn is no longer yours: its
 *   buffer may be refilled by the next op.
 * - The scope holds every tensor fn makes until it ends: wrap each step of a loop, not the loop.
 * - Free buffers that a whole outermost scope did not take are dropped at its end, so the allocator holds
 *   about one step's buffers, however the shapes vary from step to step.
 * - If fn throws, nothing is disposed. fn must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError(`tidy: expected a function to run, got ${describe(fn)}`);
  const scope = new Scope(nextEpoch());
  const outer = current;
  depth++;
  current = scope;
  setScope(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    depth--;
    current = outer;
    setScope(outer);
  }
  if (isThenable(result)) {
    throw new TypeError(
      'tidy: fn returned a promise; tidy runs synchronous functions only (await outside it)',
    );
  }
  const tensors = scope.tensors;
  const survivors = new Set<Tensor>();
  collectResult(result, survivors, null);
  for (let i = 0; i < tensors.length; i++) if (tensors[i]!._kept) survivors.add(tensors[i]!);
  if (survivors.size > 0 && needsLiveGraph(survivors)) {
    // A backward from what survives would read the graph's saved values: dispose nothing, and let the
    // outer scope decide once it ends.
    for (const t of tensors) survivors.add(t);
  }
  const allocated = scope.allocated;
  const alive = new Set<ArrayBufferLike>();
  if (allocated !== null) for (const t of survivors) if (t._data !== null) alive.add(t._data.buffer);
  const free: TypedArray[] = [];
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i]!;
    const data = t._data;
    if (data === null || survivors.has(t)) continue;
    // Only a buffer that allocate made in this scope can be recycled (an array of 64 bytes or less, which
    // V8 may keep inside the object, is never one, nor needs its buffer made to be asked).
    if (allocated !== null && data.byteLength > 64) {
      const buffer = data.buffer;
      if (allocated.has(buffer) && !alive.has(buffer)) {
        // Once per buffer, whole (a tensor may view part of it): the allocator lends whole buffers.
        allocated.delete(buffer);
        free.push(data.byteLength === buffer.byteLength ? data : wholeOf(data));
      }
    }
    t._data = null;
  }
  // What was free when an outermost scope (a training step) began and is still free, the step did not
  // need: the shapes have moved on (a new sequence length, say), so it goes to the garbage collector
  // rather than wait. The allocator holds about one step's free buffers.
  if (outer === null) forgetFreedBefore(scope.began);
  for (const data of free) giveBack(data, 'tensor');
  if (outer !== null) {
    // What this scope kept belongs to the enclosing one now, as do the buffers it made.
    const members = new Set(tensors);
    for (const t of survivors) if (members.has(t) && !t._kept) outer.tensors.push(t);
    if (allocated !== null) {
      outer.allocated ??= new Set();
      for (const buffer of allocated) outer.allocated.add(buffer);
    }
  }
  return result;
}

/**
 * Whether a graph that no backward has freed yet leads to a survivor: a backward from it (later, or
 * again with retainGraph) may read anything its forward made. A graph whose every output is disposed
 * cannot run again (backward refuses a disposed root), so it does not hold the scope's buffers.
 */
function needsLiveGraph(survivors: Set<Tensor>): boolean {
  const seen = new Set<Node>();
  const stack: Node[] = [];
  for (const t of survivors) if (t.node !== null) stack.push(t.node);
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    if (node.backward !== null) return true;
    for (const input of node.inputs) if (input.node !== null) stack.push(input.node);
  }
  return false;
}

function wholeOf(data: TypedArray): TypedArray {
  const length = data.buffer.byteLength / data.BYTES_PER_ELEMENT;
  return data instanceof Float64Array
    ? new Float64Array(data.buffer, 0, length)
    : new Float32Array(data.buffer, 0, length);
}

export interface MemoryInfo {
  /** Free buffers waiting in the allocator (for tensors, and for arenas' scratch and saved values), and their bytes. */
  pooledBuffers: number;
  pooledBytes: number;
  /** Buffers handed out again by the allocator since the process started. */
  recycled: number;
  /** tidy scopes open now. */
  scopes: number;
}

/** The allocator's state (tf.memory's counterpart). */
export function memory(): MemoryInfo {
  return { ...freeState(), scopes: depth };
}

markLibraryCode(codeStart, new Error()); // and where it ends
