// The wasm SIMD backend of gemm for float32: operands are copied into one growable memory owned
// here, the kernel of sgemm.wat multiplies them there, and C is copied back.
import type { Gemm } from '../matmul.js';
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
type Sgemm = (...args: number[]) => void;

// Must match sgemm.wat: the k-block depth, the rows of A packed at a time, the scratch tile at address 0.
const KC = 256;
const MC = 64;
const SCRATCH_FLOATS = 32;
const PAGE_BYTES = 65536;

interface Instance {
  memory: WasmMemory;
  heap: Float32Array;
  sgemm: Sgemm;
}

// undefined: not loaded yet; null: this runtime has no WebAssembly or no SIMD.
let instance: Instance | null | undefined;

function load(): Instance | null {
  if (instance !== undefined) return instance;
  instance = null;
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!wasm) return null;
  try {
    const bytes = Uint8Array.from(atob(sgemmBase64), (ch) => ch.charCodeAt(0));
    const memory = new wasm.Memory({ initial: 1 });
    // Synchronous instantiation: the module is small enough for every runtime to allow it.
    const exports = new wasm.Instance(new wasm.Module(bytes), { env: { memory } }).exports;
    instance = { memory, heap: new Float32Array(memory.buffer), sgemm: exports.sgemm as Sgemm };
  } catch {
    // A runtime without wasm SIMD rejects the module; gemm then stays on the JS backend.
  }
  return instance;
}

export function wasmAvailable(): boolean {
  return load() !== null;
}

/** Offsets in floats, rounded up to 64 bytes. */
const align = (floats: number) => Math.ceil(floats / 16) * 16;

/** C[m, n] (+)= op(A)[m, k] · op(B)[k, n] in float32 on the wasm kernel. */
export function gemmWasm(a: Float32Array, b: Float32Array, c: Float32Array, spec: Gemm): void {
  const wasm = load();
  if (!wasm) throw new Error('gemm: the wasm backend is unavailable in this runtime');
  const { m, n, k, transA = false, transB = false, accumulate = false } = spec;
  const ao = spec.aOffset ?? 0;
  const bo = spec.bOffset ?? 0;
  const co = spec.cOffset ?? 0;
  const depth = Math.min(k, KC);
  const aAt = SCRATCH_FLOATS;
  const bAt = align(aAt + m * k);
  const cAt = align(bAt + k * n);
  const aPackAt = align(cAt + m * n);
  const bPackAt = align(aPackAt + MC * depth);
  const end = bPackAt + Math.ceil(n / 8) * 8 * depth;
  if (end * 4 > wasm.memory.buffer.byteLength) {
    // Grown memory stays: later calls of this size or smaller allocate nothing.
    wasm.memory.grow(Math.ceil((end * 4 - wasm.memory.buffer.byteLength) / PAGE_BYTES));
    wasm.heap = new Float32Array(wasm.memory.buffer);
  }
  const heap = wasm.heap;
  heap.set(a.subarray(ao, ao + m * k), aAt);
  heap.set(b.subarray(bo, bo + k * n), bAt);
  if (accumulate) heap.set(c.subarray(co, co + m * n), cAt);
  else heap.fill(0, cAt, cAt + m * n);
  wasm.sgemm(aAt * 4, bAt * 4, cAt * 4, m, n, k, transA ? 1 : 0, transB ? 1 : 0, aPackAt * 4, bPackAt * 4);
  c.set(heap.subarray(cAt, cAt + m * n), co);
}
