// The wasm kernels' one instance: sgemm.wat and recurrent.wat share one growable memory owned here
// (recurrent calls sgemm's exports directly, never through JS), and callers lay their operands out in it.
import { recurrentBase64 } from './recurrentWasm.js';
import { sgemmBase64 } from './sgemmWasm.js';

// The WebAssembly globals in use, typed here: the project's lib (ES2022, no DOM) does not declare them.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
/** Every export takes byte addresses and sizes (i32s). */
type Export = (...args: number[]) => void;

// Must match sgemm.wat: the k-block depth, the rows of A packed at a time, the scratch tile at address 0.
export const KC = 256;
export const MC = 64;
const SCRATCH_FLOATS = 32;
const PAGE_BYTES = 65536;

export interface Kernels {
  sgemm: Export;
  packB: Export;
  sumRows: Export;
  rnnForward: Export;
  rnnBackward: Export;
  lstmForward: Export;
  lstmBackward: Export;
  gruForward: Export;
  gruBackward: Export;
}

interface Instance {
  memory: WasmMemory;
  heap: Float32Array;
  kernels: Kernels;
}

// undefined: not loaded yet; null: this runtime has no WebAssembly or no SIMD.
let instance: Instance | null | undefined;

const bytesOf = (base64: string) => Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));

function load(): Instance | null {
  if (instance !== undefined) return instance;
  instance = null;
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!wasm) return null;
  try {
    const memory = new wasm.Memory({ initial: 1 });
    // Synchronous instantiation: the modules are small enough for every runtime to allow it.
    const instantiate = (base64: string, env: object) =>
      new wasm.Instance(new wasm.Module(bytesOf(base64)), { env: { memory, ...env } }).exports;
    const gemm = instantiate(sgemmBase64, {});
    const recurrent = instantiate(recurrentBase64, { sgemmPacked: gemm.sgemmPacked });
    const kernels = { ...gemm, ...recurrent } as unknown as Kernels;
    instance = { memory, heap: new Float32Array(memory.buffer), kernels };
  } catch {
    // A runtime without wasm SIMD rejects the modules; every kernel then stays on its JS loop.
  }
  return instance;
}

export function wasmAvailable(): boolean {
  return load() !== null;
}

/**
 * Places a call's operands in wasm memory, each 64-byte aligned above the scratch tile and the packed-A
 * block every product needs: take() them in order, then heap() grows the memory to fit and returns the
 * view to fill. Memory is grown only, and only here, so a view taken after heap() stays valid until the
 * next layout; the kernels' calls never nest.
 */
export class Layout {
  /** Byte address of the MC·KC floats where a product packs A. */
  readonly apack = SCRATCH_FLOATS * 4;
  private end = SCRATCH_FLOATS + MC * KC;

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
