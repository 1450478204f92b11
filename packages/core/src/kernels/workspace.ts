// Buffers that recurrent ops keep across calls (saved activations, backward scratch): for float32 they
// live in the wasm kernels' memory where it is shared, so the kernels use them in place, not by copy.
import type { DType, TypedArray } from '../dtype.js';
import { residentFloat32 } from './wasm/module.js';

/**
 * A zero-filled buffer of `size` values for a kernel's long-lived operands. Float32 buffers are resident
 * in wasm memory where possible: keep the returned array itself alive while any view of it is used
 * (its memory is freed when it is collected). For pooled, reused buffers, not per-call results.
 */
export function workspaceBuffer(dtype: DType, size: number): TypedArray {
  if (dtype === 'float32') return residentFloat32(size) ?? new Float32Array(size);
  return new Float64Array(size);
}
