// The wasm kernels' memory and main-thread instance: sgemm.wat and recurrent.wat share one growable
// memory owned here (recurrent calls sgemm's exports directly, never through JS), and callers lay their
// operands out in it. The memory is shared where the runtime allows, so worker threads (threads.ts) can
// run the same kernels on it.
import { recurrentBase64, recurrentSharedBase64 } from './recurrentWasm.js';
import { sgemmBase64, sgemmSharedBase64 } from './sgemmWasm.js';

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
  'sumRows',
  'copyLines',
  'rnnForward',
  'rnnBackward',
  'lstmForward',
  'lstmBackward',
  'gruForward',
  'gruBackward',
] as const;
export type KernelName = (typeof kernelNames)[number];
export type Kernels = Record<KernelName, Export>;

interface Instance {
  memory: WasmMemory;
  heap: Float32Array;
  kernels: Kernels;
  /** The modules' bytes in the form the memory takes (base64), for workers to instantiate. */
  sources: { sgemm: string; recurrent: string };
}

// undefined: not loaded yet; null: this runtime has no WebAssembly or no SIMD.
let instance: Instance | null | undefined;

const bytesOf = (base64: string) => Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));

/** Instantiates both modules on `memory` for the thread whose scratch tile is at `scratch`. */
function instantiate(
  wasm: WasmApi,
  memory: WasmMemory,
  sources: Instance['sources'],
  scratch: number,
): Kernels {
  const make = (base64: string, env: object) =>
    new wasm.Instance(new wasm.Module(bytesOf(base64)), { env: { memory, scratch, ...env } }).exports;
  const gemm = make(sources.sgemm, {});
  const recurrent = make(sources.recurrent, { sgemmPacked: gemm.sgemmPacked });
  return { ...gemm, ...recurrent } as unknown as Kernels;
}

function load(): Instance | null {
  if (instance !== undefined) return instance;
  instance = null;
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!wasm) return null;
  // Shared where the runtime has SharedArrayBuffer (Node; browsers only when cross-origin isolated).
  const attempts = [
    () => ({
      memory: new wasm.Memory({ initial: 1, maximum: MAX_PAGES, shared: true }),
      sources: { sgemm: sgemmSharedBase64, recurrent: recurrentSharedBase64 },
    }),
    () => ({
      memory: new wasm.Memory({ initial: 1 }),
      sources: { sgemm: sgemmBase64, recurrent: recurrentBase64 },
    }),
  ];
  for (const attempt of attempts) {
    try {
      const { memory, sources } = attempt();
      // Synchronous instantiation: the modules are small enough for every runtime to allow it.
      const kernels = instantiate(wasm, memory, sources, scratchOf(0));
      instance = { memory, heap: new Float32Array(memory.buffer), kernels, sources };
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

/** The memory and the modules' sources, for worker threads; null unless the memory is shared. */
export function sharedModule(): { memory: WasmMemory; sources: Instance['sources'] } | null {
  const wasm = load();
  return wasm && typeof SharedArrayBuffer !== 'undefined' && wasm.memory.buffer instanceof SharedArrayBuffer
    ? wasm
    : null;
}

/**
 * Places a call's operands in wasm memory, each 64-byte aligned above the reserved scratch and control
 * bytes and one packed-A block per thread: take() them in order, then heap() grows the memory to fit
 * and returns the view to fill. Memory is grown only, and only here; the kernels' calls never nest.
 */
export class Layout {
  private end: number;
  private readonly apackAt: number;

  constructor(readonly threads = 1) {
    this.apackAt = RESERVED_FLOATS;
    this.end = RESERVED_FLOATS + threads * MC * KC;
  }

  /** Byte address of the MC·KC floats where thread `thread`'s products pack A. */
  apack(thread = 0): number {
    return (this.apackAt + thread * MC * KC) * 4;
  }

  /** Float offset of a fresh region of `floats` floats. */
  take(floats: number): number {
    const at = this.end;
    this.end = Math.ceil((at + floats) / 16) * 16;
    return at;
  }

  heap(): { heap: Float32Array; kernels: Kernels } {
    const wasm = load();
    if (!wasm) throw new Error('kernels: the wasm backend is unavailable in this runtime');
    const needed = this.end * 4 - wasm.memory.buffer.byteLength;
    if (needed > 0) {
      // Grown memory stays: later calls of this size or smaller allocate nothing.
      wasm.memory.grow(Math.ceil(needed / PAGE_BYTES));
      wasm.heap = new Float32Array(wasm.memory.buffer);
    }
    return wasm;
  }
}

/** Floats packB writes for op(B)[k, n]: every k-block's panels of 8 columns. */
export const packedSize = (n: number, k: number): number => Math.ceil(n / 8) * 8 * k;
