// The pool: allocate, the one way ops get tensor buffers, lends free buffers of the requested length
// that tidy scopes handed back (see tidy.ts) before it makes new ones.
import type { DType, TypedArray } from '../dtype.js';
import { fmtBytes, MAX_BUFFER_BYTES } from '../shape.js';

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

/** What owns the buffers allocate makes: the innermost tidy scope, which may hand them back. */
export interface AllocationOwner {
  allocated: Set<ArrayBufferLike> | null;
}

let owner: AllocationOwner | null = null;

/** @internal Sets the owner of the buffers allocate makes from now on (tidy, as scopes open and close). */
export function setAllocationOwner(next: AllocationOwner | null): void {
  owner = next;
}

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
  if (owner !== null) {
    owner.allocated ??= new Set();
    owner.allocated.add(data.buffer);
  }
  return data;
}

/** Hands a whole free buffer to the pool, stamped with `time`, unless it is small or the pool full. */
export function release(data: TypedArray, time: number): void {
  const bytes = data.byteLength;
  if (bytes < POOL_MIN_BYTES || pooledBytes + bytes > POOL_MAX_BYTES) return;
  const pool = pools[data instanceof Float64Array ? 'float64' : 'float32'];
  const free = pool.get(data.length);
  const entry = { data, time };
  if (free === undefined) pool.set(data.length, [entry]);
  else free.push(entry);
  pooledBytes += bytes;
}

/** Drops the free buffers freed at or before `time`. */
export function dropOlderThan(time: number): void {
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

/** The buffers waiting in the pool, their bytes, and the allocations it has served. */
export function poolState(): { pooledBuffers: number; pooledBytes: number; recycled: number } {
  let pooledBuffers = 0;
  for (const pool of Object.values(pools)) for (const free of pool.values()) pooledBuffers += free.length;
  return { pooledBuffers, pooledBytes, recycled };
}

/** Empties the pool, handing its buffers to the garbage collector. */
export function emptyPool(): void {
  for (const pool of Object.values(pools)) pool.clear();
  pooledBytes = 0;
}
