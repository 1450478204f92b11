// The wasm kernels' memory and main-thread instance: sgemm.wat and recurrent.wat share one growable
// memory owned here (recurrent calls sgemm's exports directly, never through JS), and callers lay their
// operands out in it. The memory is shared where the runtime allows, so worker threads (threads.ts) can
// run the same kernels on it.
import { recurrentBase64 } from './recurrentWasm.js';
import { sgemmBase64 } from './sgemmWasm.js';
import { withSharedMemory } from './sharedMemory.js';

// The WebAssembly globals in use, typed here: the project's lib (ES2022, no DOM) does not declare them.
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
/** Every export takes byte addresses and sizes (i32s). */
export type Export = (...args: number[]) => void;

// Must match sgemm.wat: the k-block depth and the rows of A packed at a time.
export const KC = 256;
export const MC = 64;
const PAGE_BYTES = 65536;
/** A shared memory must declare its maximum: wasm32's 4 GiB (only address space is reserved). */
const MAX_PAGES = 65536;

/** Threads a call can be split over, the main one included: each has a scratch tile and packing space. */
export const MAX_THREADS = 8;
/** Bytes [0, 1024): every thread's 128-byte scratch tile; [1024, 2048): 128 bytes of control per worker. */
export const scratchOf = (thread: number): number => thread * 128;
export const controlOf = (thread: number): number => 1024 + thread * 128;
const RESERVED_FLOATS = 2048 / 4;

export const kernelNames = [
  'sgemm',
  'packB',
  'sgemmPackedB',
  'sumRows',
  'copyLines',
  'softmaxRows',
  'rnnForward',
  'rnnBackward',
  'lstmForward',
  'lstmBackward',
  'gruForward',
  'gruBackward',
] as const;
export type KernelName = (typeof kernelNames)[number];
export type Kernels = Record<KernelName, Export>;

/**
 * The compiled modules, in the form the memory takes (shared or not). recurrent is null where it
 * could not be compiled synchronously (a browser page's main thread allows 4 KB; it is ~9 KB): gemm
 * still runs in wasm there, the recurrent loops and softmax rows in JS.
 */
interface Modules {
  sgemm: object;
  recurrent: object | null;
}

interface Instance {
  memory: WasmMemory;
  heap: Float32Array;
  kernels: Kernels;
  /** Handed to workers as they are: they share the compiled (and tiered-up) code, not recompile it. */
  modules: Modules;
  /** Whether the memory is shared (see survivesGrowth). */
  shared: boolean;
}

// undefined: not loaded yet; null: this runtime has no WebAssembly or no SIMD.
let instance: Instance | null | undefined;

const bytesOf = (base64: string) => Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));

/** Instantiates both modules on `memory` for the thread whose scratch tile is at `scratch`. */
function instantiate(wasm: WasmApi, memory: WasmMemory, modules: Modules, scratch: number): Kernels {
  const make = (module: object, env: object) =>
    new wasm.Instance(module, { env: { memory, scratch, ...env } }).exports;
  const gemm = make(modules.sgemm, {});
  const recurrent = modules.recurrent ? make(modules.recurrent, { sgemmPacked: gemm.sgemmPacked }) : {};
  return { ...gemm, ...recurrent } as unknown as Kernels;
}

let sharedAllowed = true;
let recurrentAllowed = true;

/**
 * For tests: load the modules as a browser page might: on an ordinary (unshared) memory, as one that
 * is not cross-origin isolated does, or without the recurrent module, as a main thread that refuses
 * to compile it synchronously does. Only before the first kernel call of the process.
 */
export function loadLikeABrowser({
  shared = true,
  recurrent = true,
}: {
  shared?: boolean;
  recurrent?: boolean;
}): void {
  if (instance !== undefined) throw new Error('loadLikeABrowser: the wasm kernels are already loaded');
  sharedAllowed = shared;
  recurrentAllowed = recurrent;
}

function load(): Instance | null {
  if (instance !== undefined) return instance;
  instance = null;
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!wasm) return null;
  // One set of bytes per module is shipped (the ordinary memory's); the shared form is made from it.
  const compile = (base64: string, shared: boolean) =>
    new wasm.Module(shared ? withSharedMemory(bytesOf(base64), MAX_PAGES) : bytesOf(base64));
  const optional = (base64: string, shared: boolean) => {
    try {
      return recurrentAllowed ? compile(base64, shared) : null;
    } catch {
      return null;
    }
  };
  // Shared where the runtime allows it (Node; browsers even without cross-origin isolation, though
  // only an isolated page may post the memory to a worker), else ordinary.
  const attempts = [
    () => ({
      memory: new wasm.Memory({ initial: 1, maximum: MAX_PAGES, shared: true }),
      modules: { sgemm: compile(sgemmBase64, true), recurrent: optional(recurrentBase64, true) },
    }),
    () => ({
      memory: new wasm.Memory({ initial: 1 }),
      modules: { sgemm: compile(sgemmBase64, false), recurrent: optional(recurrentBase64, false) },
    }),
  ];
  for (const attempt of sharedAllowed ? attempts : attempts.slice(1)) {
    try {
      const { memory, modules } = attempt();
      // Synchronous compilation and instantiation (sgemm's 2 KB pass every runtime's limit).
      const kernels = instantiate(wasm, memory, modules, scratchOf(0));
      const shared = survivesGrowth(memory);
      instance = { memory, heap: new Float32Array(memory.buffer), kernels, modules, shared };
      buffers.add(memory.buffer);
      return instance;
    } catch {
      // No shared memory here: try the ordinary one. A runtime without wasm SIMD rejects both, and
      // every kernel then stays on its JS loop.
    }
  }
  return null;
}

export function wasmAvailable(): boolean {
  return load() !== null;
}

/** Whether the recurrent loops and softmax rows (recurrent.wat) run in wasm here. */
export function recurrentWasmAvailable(): boolean {
  return load()?.modules.recurrent != null;
}

/**
 * Whether views of the memory survive its growth, as a shared memory's do (growing an ordinary one
 * detaches its buffer, even by 0 pages). Asked of the memory itself, not of the global
 * SharedArrayBuffer: a browser page that is not cross-origin isolated has no such global, yet its
 * wasm memory may be shared, and resident buffers then need no copies.
 */
function survivesGrowth(memory: WasmMemory): boolean {
  const before = memory.buffer;
  memory.grow(0);
  return before.byteLength > 0;
}

/**
 * The memory and the compiled modules, for resident buffers and worker threads; null unless the memory
 * is shared (whether a worker may be handed it is threads.ts's question).
 */
export function sharedModule(): { memory: WasmMemory; modules: Modules } | null {
  const wasm = load();
  return wasm?.shared ? wasm : null;
}

/** Grows the memory to hold `floats` floats; returns the current view. */
function reserve(wasm: Instance, floats: number): Float32Array {
  // The view's length, not memory.buffer's: the getter costs more than the rest of a small call.
  const needed = floats * 4 - wasm.heap.byteLength;
  if (needed > 0) {
    // Grown memory stays: later calls of this size or smaller allocate nothing.
    try {
      wasm.memory.grow(Math.ceil(needed / PAGE_BYTES));
    } catch (error) {
      // Each operand is within MAX_BUFFER_BYTES (2 GiB), but a call's operands together may not fit.
      throw new RangeError(
        `kernels: the wasm memory cannot grow to ${floats * 4} bytes for this call's operands and the ` +
          `resident buffers (wasm32 memory holds at most ${MAX_PAGES * PAGE_BYTES} bytes, 4 GiB): ${String(error)}`,
      );
    }
    wasm.heap = new Float32Array(wasm.memory.buffer);
    buffers.add(wasm.memory.buffer);
  }
  return wasm.heap;
}

// Resident regions: parts of the shared memory that outlive a call (arrays the allocator places here,
// memory/allocator.ts), so kernels read and write them in place instead of copying. They sit below
// `top`; a call's own operands are laid out above it. This is the raw bookkeeping only: the allocator
// decides what is resident and when a region is freed. Free regions are kept sorted by address and merged.
let top = RESERVED_FLOATS;
const free: { at: number; size: number }[] = [];
/** Every buffer the memory has had (growing a shared memory gives a new one; old views stay valid). */
const buffers = new WeakSet<object>();

const aligned = (floats: number) => Math.ceil(floats / 16) * 16;

/** Frees the region of `size` floats at float offset `at` that takeRegion gave. */
export function freeRegion(at: number, size: number): void {
  let i = free.findIndex((region) => region.at > at);
  if (i < 0) i = free.length;
  free.splice(i, 0, { at, size: aligned(size) });
  // Merge with the following region, then with the preceding one.
  const region = free[i]!;
  const next = free[i + 1];
  if (next && region.at + region.size === next.at) {
    region.size += next.size;
    free.splice(i + 1, 1);
  }
  const previous = free[i - 1];
  if (previous && previous.at + previous.size === region.at) {
    previous.size += region.size;
    free.splice(i, 1);
  }
  // A free region at the top gives the space back to calls.
  const last = free[free.length - 1];
  if (last && last.at + last.size === top) {
    top = last.at;
    free.pop();
  }
}

/** For tests: the free regions and the top of the resident regions (floats). */
export const residentState = () => ({ top, free: free.map((region) => ({ ...region })) });

/** Whether regions can be resident here: the memory is shared, so views of it survive its growth. */
export const residentAvailable = (): boolean => sharedModule() !== null;

/**
 * A zero-filled view of a fresh region of `size` floats (size ≥ 1; residentAvailable() must hold),
 * the first free one that fits, else above the others. Its owner frees it with freeRegion.
 */
export function takeRegion(size: number): Float32Array {
  const wasm = load()!;
  const floats = aligned(size);
  const fit = free.findIndex((region) => region.size >= floats);
  let at: number;
  if (fit >= 0) {
    const region = free[fit]!;
    at = region.at;
    region.at += floats;
    region.size -= floats;
    if (region.size === 0) free.splice(fit, 1);
  } else {
    at = top;
    top += floats;
  }
  const heap = reserve(wasm, top);
  heap.fill(0, at, at + size);
  return new Float32Array(heap.buffer, at * 4, size);
}

/** The float offset of `data` in wasm memory if it is resident (or a view of a resident array), else -1. */
export function residentOffset(data: { buffer: ArrayBufferLike; byteOffset: number }): number {
  return data instanceof Float32Array && buffers.has(data.buffer) ? data.byteOffset / 4 : -1;
}

/**
 * Places a call's operands in wasm memory, each 64-byte aligned above the resident buffers, one
 * packed-A block per thread first: take() them in order, then heap() grows the memory to fit and
 * returns the view to fill. Memory is grown only, and only here and for resident buffers; the kernels'
 * calls never nest, and no resident buffer is made during one.
 */
export class Layout {
  private end: number;
  private readonly apackAt: number;

  constructor(threads = 1) {
    this.apackAt = top;
    this.end = top + threads * MC * KC;
  }

  /** Byte address of the MC·KC floats where thread `thread`'s products pack A. */
  apack(thread = 0): number {
    return (this.apackAt + thread * MC * KC) * 4;
  }

  /** Float offset of a fresh region of `floats` floats. */
  take(floats: number): number {
    const at = this.end;
    this.end = aligned(at + floats);
    return at;
  }

  heap(): { heap: Float32Array; kernels: Kernels } {
    const wasm = load();
    if (!wasm) throw new Error('kernels: the wasm backend is unavailable in this runtime');
    reserve(wasm, this.end);
    return wasm;
  }
}

/** Floats packB writes for op(B)[k, n]: every k-block's panels of 8 columns. */
export const packedSize = (n: number, k: number): number => Math.ceil(n / 8) * 8 * k;
