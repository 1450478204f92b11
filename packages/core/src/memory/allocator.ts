// Core's one allocator: the free buffers, where a buffer lives, and when a free one is forgotten. Every
// buffer that is reused goes through here, lent by an arena (arena.ts) whose lifetime says when it
// comes back. The mechanisms it replaced, each with its lifetime and who freed its buffers:
// - pool.ts + tidy.ts: tensor buffers that allocate made inside a tidy scope, freed by the scope's end
//   when no surviving tensor viewed them; free ones forgotten at the end of an outermost scope that did
//   not take them (now the `scope` arena).
// - scratch.ts, backwardScratch: grads handed between backwards, held by the running pass (a stack of
//   passes), spare for the next pass when it ended, within 64 MB (now the `pass` arena).
// - module.ts's resident regions (residentFloat32, kernels/workspace.ts's workspaceBuffer): float32
//   arrays in the wasm kernels' shared memory, freed only when the array was collected (now a place
//   the allocator chooses for an arena's float32 buffers; module.ts keeps the raw region bookkeeping).
// - nn's workspaces.ts: a forward's saved activations, lent to its graph until the tape freed the
//   graph's saved values (savedValuesFreed) or at once when nothing was recorded, 8 sets kept (now the
//   `graph` arena).
// - nn's sequence.ts scratch and kernels/recurrent.ts's bias sums: one growing buffer per role, valid
//   within one forward or backward call (now the `call` arena).
import { type DType, dtypeOf, type TypedArray } from '../dtype.js';
import { freeRegion, residentAvailable, takeRegion } from '../kernels/wasm/module.js';
import { fmtBytes, MAX_BUFFER_BYTES } from '../shape.js';

/**
 * Which free buffers a request takes from, and where a new one lives. 'tensor': plain typed arrays for
 * tensors (allocate), which leave as tensor data and come back only through a tidy scope. 'arena' and
 * 'wasm': buffers that arenas lend and always get back, kept apart so that tensors do not drain them;
 * 'wasm' ones are float32 arrays resident in the kernels' shared wasm memory, which the kernels read and
 * write in place instead of copying in and out.
 */
export type Place = 'tensor' | 'arena' | 'wasm';
const places: readonly Place[] = ['tensor', 'arena', 'wasm'];

/** The free buffers of one place hold at most this many bytes; a buffer past it goes to the garbage collector. */
const FREE_MAX_BYTES = 256 * 2 ** 20;

/**
 * The free buffers of one length, in the order they were freed, and the epoch each was freed in (two
 * arrays, not an object a buffer: a buffer goes back and out on every call of an arena).
 */
interface FreeList {
  data: TypedArray[];
  epochs: number[];
}

/** Free buffers by place, dtype and length: a buffer is handed out again only at its exact length. */
const free: Record<Place, Record<DType, Map<number, FreeList>>> = {
  tensor: { float32: new Map(), float64: new Map() },
  arena: { float32: new Map(), float64: new Map() },
  wasm: { float32: new Map(), float64: new Map() },
};
const freeBytes: Record<Place, number> = { tensor: 0, arena: 0, wasm: 0 };
let recycled = 0;

/**
 * Counts tidy scopes begun and ended: a buffer freed before an outermost scope began and not taken by
 * its end is forgotten then (see forgetFreedBefore).
 */
let epoch = 0;

/** @internal Starts a new epoch and returns it: buffers freed from now on are stamped with it or later. */
export const nextEpoch = (): number => ++epoch;

let poison = false;

/**
 * @internal For tests: recycled buffers handed out without zeroing come filled with NaN, so a value
 * that the caller never wrote shows instead of hiding as a stale value or a zero.
 */
export function poisonRecycled(on: boolean): void {
  poison = on;
}

/** The place for an arena's buffer of `dtype`: resident in wasm memory for float32 where it is shared. */
export const arenaPlace = (dtype: DType): Place =>
  dtype === 'float32' && residentRegions !== null && residentAvailable() ? 'wasm' : 'arena';

/**
 * The last line of defence, for buffers no op checked against its shape (a cell's own, say): V8 would
 * grant up to 32 GiB lazily, and the process die when the pages are touched.
 */
function refuseTooLarge(who: string, dtype: DType, size: number): void {
  const bytes = size * (dtype === 'float64' ? 8 : 4);
  if (bytes > MAX_BUFFER_BYTES) {
    throw new RangeError(
      `${who}: ${size} ${dtype} values need ${fmtBytes(bytes)}, more than the ${fmtBytes(MAX_BUFFER_BYTES)} ` +
        'one tensor buffer may take (MAX_BUFFER_BYTES)',
    );
  }
}

/**
 * A buffer of `size` values at `place`: a free one of that exact length if there is one, else a new
 * one (zero-filled). A recycled one is zeroed when `zero`, else keeps what it held (NaN when poisoned).
 * `who` names the asker in the refusal of more than MAX_BUFFER_BYTES.
 */
export function takeBuffer(who: string, dtype: DType, size: number, place: Place, zero: boolean): TypedArray {
  refuseTooLarge(who, dtype, size);
  const list = free[place][dtype].get(size);
  if (list === undefined || list.data.length === 0) return fresh(dtype, size, place);
  const data = list.data.pop()!;
  list.epochs.pop();
  freeBytes[place] -= data.byteLength;
  return lentAgain(data, zero);
}

/** A buffer that was lent before, lent again: zeroed when `zero`, else as it is (NaN when poisoned). */
export function lentAgain(data: TypedArray, zero: boolean): TypedArray {
  recycled++;
  if (zero) data.fill(0);
  else if (poison) data.fill(Number.NaN);
  return data;
}

function fresh(dtype: DType, size: number, place: Place): TypedArray {
  if (place === 'wasm') {
    const resident = residentFloat32(size);
    if (resident !== null) return resident;
  }
  return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
}

/**
 * Hands a whole buffer that nothing uses any more back to the free buffers of `place` (the one it was
 * taken for), unless they are full.
 */
export function giveBack(data: TypedArray, place: Place): void {
  const bytes = data.byteLength;
  if (freeBytes[place] + bytes > FREE_MAX_BYTES) return;
  const byLength = free[place][dtypeOf(data)];
  const list = byLength.get(data.length);
  if (list === undefined) byLength.set(data.length, { data: [data], epochs: [epoch] });
  else {
    list.data.push(data);
    list.epochs.push(epoch);
  }
  freeBytes[place] += bytes;
}

/** Forgets the free buffers freed before epoch `since`: the shapes have moved on (see tidy). */
export function forgetFreedBefore(since: number): void {
  for (const place of places) {
    if (freeBytes[place] === 0) continue;
    forgetIn(free[place].float32, place, since);
    forgetIn(free[place].float64, place, since);
  }
}

/**
 * forgetFreedBefore over one dtype's lists. Each list is in the order its buffers were freed (giveBack
 * pushes, takeBuffer pops the last), so its epochs ascend and the old ones are a prefix: a list whose
 * first is recent is left as it is, and nothing is allocated (this runs at the end of every tidy).
 */
function forgetIn(byLength: Map<number, FreeList>, place: Place, since: number): void {
  for (const [length, { data, epochs }] of byLength) {
    if (epochs.length === 0 || epochs[0]! >= since) continue;
    let old = 0;
    while (old < epochs.length && epochs[old]! < since) {
      freeBytes[place] -= data[old]!.byteLength;
      old++;
    }
    if (old === epochs.length) byLength.delete(length);
    else {
      data.splice(0, old);
      epochs.splice(0, old);
    }
  }
}

/** The free buffers, their bytes, and the buffers handed out again since the process started. */
export function freeState(): { pooledBuffers: number; pooledBytes: number; recycled: number } {
  let pooledBuffers = 0;
  for (const place of places) {
    for (const byLength of Object.values(free[place]))
      for (const list of byLength.values()) pooledBuffers += list.data.length;
  }
  return { pooledBuffers, pooledBytes: freeBytes.tensor + freeBytes.arena + freeBytes.wasm, recycled };
}

/** Empties the free buffers, handing them to the garbage collector (resident ones free their regions when collected). */
export function emptyPool(): void {
  for (const place of places) {
    for (const byLength of Object.values(free[place])) byLength.clear();
    freeBytes[place] = 0;
  }
}

// Resident arrays: the region allocator (module.ts) hands out float offsets; the allocator makes the
// array and frees its region once the array is collected (views of it, subarray, must not outlive it).
const residentRegions =
  typeof FinalizationRegistry === 'undefined'
    ? null
    : new FinalizationRegistry<{ at: number; size: number }>(({ at, size }) => freeRegion(at, size));

/**
 * A zero-filled float32 array that lives in the kernels' wasm memory, where kernels use it without
 * copying; null where the memory is not shared (its views would not survive its growth) or nothing
 * can free its region. The region is freed when the array itself is collected.
 */
export function residentFloat32(size: number): Float32Array | null {
  if (residentRegions === null || size === 0 || !residentAvailable()) return null;
  const view = takeRegion(size);
  residentRegions.register(view, { at: view.byteOffset / 4, size }, view);
  return view;
}

/** For tests: frees a resident array's region now, as its collection would. */
export function releaseResident(view: Float32Array): void {
  residentRegions?.unregister(view);
  freeRegion(view.byteOffset / 4, view.length);
}
