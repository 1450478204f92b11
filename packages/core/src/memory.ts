// Buffer recycling: tidy(fn) disposes the tensors fn made and did not return (tfjs's tidy), and hands
// their buffers to a pool that later allocations of the same length take from. Without it, a buffer
// goes back to the system only when V8 collects its last view, in bulk and seconds late, and the C
// allocator then maps fresh pages for the next ones. In `pnpm bench --only lstm-big` runs alternating
// with and without tidy around each iteration: 16.7 and 17.4 ms with it, 18.9 and 19.0 without; 22
// page faults an iteration against 34 and 46; peak RSS 110 MB against 141.
import type { DType, TypedArray } from './dtype.js';
import { fmtBytes, MAX_BUFFER_BYTES } from './shape.js';
import type { Node } from './tape.js';
import { Tensor } from './tensor.js';

/** Buffers shorter than this many bytes are left to the allocator (malloc reuses small blocks well). */
const POOL_MIN_BYTES = 16384;
/** The pool holds at most this many bytes; a buffer past it is left to the garbage collector. */
const POOL_MAX_BYTES = 256 * 2 ** 20;

/** A free buffer, and the count of tidy scopes that had ended when it was freed. */
interface Pooled {
  data: TypedArray;
  time: number;
}

/** Free buffers by length, one map per dtype. */
const pools: Record<DType, Map<number, Pooled[]>> = { float32: new Map(), float64: new Map() };
let pooledBytes = 0;
let recycled = 0;
/** tidy scopes ended so far: a buffer freed before a scope began and not taken by its end is dropped. */
let clock = 0;

interface Scope {
  /** The clock when the scope began. */
  began: number;
  /** Every tensor constructed while the scope was innermost. */
  tensors: Tensor[];
  /** The buffers `allocate` made while the scope was innermost (only those ever go to the pool). */
  allocated: Set<ArrayBufferLike> | null;
}

let current: Scope | null = null;
/** tidy scopes open now. */
let depth = 0;

let poison = false;

/**
 * @internal For tests: buffers recycled for `allocate(..., { zero: false })` come filled with NaN, so a
 * value that the caller never wrote shows instead of hiding as a stale value or a zero.
 */
export function poisonRecycled(on: boolean): void {
  poison = on;
}

/**
 * A zero-filled buffer of `size` elements: a recycled one of that length when the pool has one. With
 * `zero: false` a recycled buffer keeps the values it had (torch.empty), for a caller that writes every
 * value before reading any. More than MAX_BUFFER_BYTES is refused (a RangeError), before allocating.
 */
export function allocate(dtype: DType, size: number, { zero = true }: { zero?: boolean } = {}): TypedArray {
  const bytes = size * (dtype === 'float64' ? 8 : 4);
  if (bytes < POOL_MIN_BYTES) return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
  // The last line of defence, for buffers no op checked against its shape (a cell's own, say): V8 would
  // grant up to 32 GiB lazily, and the process die when the pages are touched.
  if (bytes > MAX_BUFFER_BYTES) {
    throw new RangeError(
      `allocate: ${size} ${dtype} values need ${fmtBytes(bytes)}, more than the ${fmtBytes(MAX_BUFFER_BYTES)} ` +
        'one tensor buffer may take (MAX_BUFFER_BYTES)',
    );
  }
  const free = pools[dtype].get(size);
  let data: TypedArray;
  if (free !== undefined && free.length > 0) {
    data = free.pop()!.data;
    if (zero) data.fill(0);
    else if (poison) data.fill(Number.NaN);
    pooledBytes -= bytes;
    recycled++;
  } else {
    data = dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
  }
  if (current !== null) {
    current.allocated ??= new Set();
    current.allocated.add(data.buffer);
  }
  return data;
}

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
 * to a pool, and the next ops take them instead of fresh memory: wrap each training step in tidy.
 *
 * - Parameters, tensors assigned as a `.grad` and keep()'s tensors are never disposed.
 * - While a graph recorded inside fn that no backward has freed leads to a tensor that survives (the
 *   loss returned for a backward after tidy, say), that backward may read anything fn made, so the
 *   scope disposes nothing: its tensors are left to the garbage collector, as without tidy. Run the
 *   backward inside. A graph that leads only to disposed tensors can never run, and holds nothing.
 * - A typed array read from a disposed tensor's `data` before the end of fn is no longer yours: its
 *   buffer may be refilled by the next op.
 * - The scope holds every tensor fn makes until it ends: wrap each step of a loop, not the loop.
 * - Free buffers that a whole outermost scope did not take are dropped at its end, so the pool holds
 *   about one step's buffers, however the shapes vary from step to step.
 * - If fn throws, nothing is disposed. fn must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError(`tidy: expected a function to run, got ${describe(fn)}`);
  const scope: Scope = { began: clock, tensors: [], allocated: null };
  const outer = current;
  depth++;
  current = scope;
  let result: T;
  try {
    result = fn();
  } finally {
    depth--;
    current = outer;
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
        // Once per buffer, whole (a tensor may view part of it): the pool lends whole buffers.
        allocated.delete(buffer);
        free.push(data.byteLength === buffer.byteLength ? data : wholeOf(data));
      }
    }
    t._data = null;
  }
  // What was free when an outermost scope (a training step) began and is still free, the step did not
  // need: the shapes have moved on (a new sequence length, say), so it goes to the garbage collector
  // rather than wait. The pool holds about one step's buffers.
  clock++;
  if (outer === null) dropOlderThan(scope.began);
  for (const data of free) release(data);
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

function release(data: TypedArray): void {
  const bytes = data.byteLength;
  if (bytes < POOL_MIN_BYTES || pooledBytes + bytes > POOL_MAX_BYTES) return;
  const pool = pools[data instanceof Float64Array ? 'float64' : 'float32'];
  const free = pool.get(data.length);
  const entry = { data, time: clock };
  if (free === undefined) pool.set(data.length, [entry]);
  else free.push(entry);
  pooledBytes += bytes;
}

/** Drops the free buffers freed at or before `time`. */
function dropOlderThan(time: number): void {
  if (pooledBytes === 0) return;
  for (const pool of Object.values(pools)) {
    for (const [length, free] of pool) {
      const recent = free.filter((entry) => entry.time > time);
      if (recent.length === free.length) continue;
      for (const entry of free) if (entry.time <= time) pooledBytes -= entry.data.byteLength;
      if (recent.length === 0) pool.delete(length);
      else pool.set(length, recent);
    }
  }
}

export interface MemoryInfo {
  /** Buffers waiting in the pool, and their bytes. */
  pooledBuffers: number;
  pooledBytes: number;
  /** Allocations served from the pool since the process started. */
  recycled: number;
  /** tidy scopes open now. */
  scopes: number;
}

/** The pool's state (tf.memory's counterpart). */
export function memory(): MemoryInfo {
  let pooledBuffers = 0;
  for (const pool of Object.values(pools)) for (const free of pool.values()) pooledBuffers += free.length;
  return { pooledBuffers, pooledBytes, recycled, scopes: depth };
}

/** Empties the pool, handing its buffers to the garbage collector. */
export function emptyPool(): void {
  for (const pool of Object.values(pools)) pool.clear();
  pooledBytes = 0;
}
