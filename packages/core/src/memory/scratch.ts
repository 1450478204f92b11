// Backward scratch: buffers for grads that pass from one backward to another within a backward pass,
// lent by the running pass and reused by later passes instead of allocated afresh.
import { type DType, DTypeError, dtypeOf, isDType, type TypedArray } from '../dtype.js';
import { workspaceBuffer } from '../kernels/workspace.js';
import { checkBytes } from '../shape.js';

// A pass holds its buffers until it ends (one list per running pass: a backward may run a pass of its
// own), then they are spare for the next, most recent first.
// null: a pass that lends nothing (one that builds a graph, whose grads outlive it).
const passes: (TypedArray[] | null)[] = [];
let spare: TypedArray[] = [];
/** Bytes of spare buffers kept between passes; past it the least recently used are dropped. */
const SPARE_BYTES = 64 << 20;

/**
 * A buffer for a grad that a backward hands on to the backward of an input's producer, valid until the
 * running backward pass ends, after which later passes reuse it; null outside a pass (and for no values).
 * Zero-filled unless `zeroed` is false, for a caller that writes every value (a gemm without
 * accumulate): then it holds what an earlier pass left, as torch.empty's memory does.
 * Meant for an intermediate's grad (an input that is not a leaf), large and consumed within the pass,
 * as the grad nn's layers hand to the layer below: it is not allocated afresh every pass (memory the C
 * allocator may have given back, whose pages then fault in again, a cost paid every pass: bench/README),
 * and float32 ones live in the wasm kernels' memory, where the kernels read and write them without
 * copies. The tape copies such a grad before it becomes a leaf's (passed through by reshape, say), so no
 * caller of backward, grad or vjp ever holds one; in turn a backward copies any output grad it keeps
 * past its return.
 */
export function backwardScratch(dtype: DType, size: number, zeroed = true): TypedArray | null {
  if (!isDType(dtype)) {
    throw new DTypeError(`backwardScratch: unknown dtype ${String(dtype)} (expected 'float32' or 'float64')`);
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`backwardScratch: size must be a whole number of values ≥ 0, got ${size}`);
  }
  checkBytes('backwardScratch', [size], dtype);
  const held = passes[passes.length - 1];
  if (!held || size === 0) return null;
  // The smallest spare buffer that fits, else a new one.
  let best = -1;
  for (let i = 0; i < spare.length; i++) {
    const b = spare[i]!;
    if (b.length >= size && dtypeOf(b) === dtype && (best < 0 || b.length < spare[best]!.length)) best = i;
  }
  const buffer = best >= 0 ? spare.splice(best, 1)[0]! : workspaceBuffer(dtype, size);
  held.push(buffer);
  const out = buffer.length === size ? buffer : buffer.subarray(0, size);
  return zeroed ? out.fill(0) : out;
}

/**
 * @internal Begins a backward pass: the buffers backwardScratch lends from now on are held by it; with
 * lend false it lends none (backwardScratch gives null within it).
 */
export function beginPass(lend = true): void {
  passes.push(lend ? [] : null);
}

/** @internal Ends the innermost pass: its buffers become spare, within SPARE_BYTES. */
export function endPass(): void {
  const held = passes.pop();
  if (!held || held.length === 0) return;
  let bytes = 0;
  spare = [...held, ...spare].filter((b) => {
    bytes += b.byteLength;
    return bytes <= SPARE_BYTES;
  });
}

/** @internal Whether a backward pass is running. */
export const inBackwardPass = (): boolean => passes.length > 0;

/** @internal Whether data is (a view of) a backward scratch buffer of a running pass. */
export function isScratch(data: TypedArray): boolean {
  for (const held of passes) {
    if (!held) continue;
    for (const b of held) {
      if (
        data.buffer === b.buffer &&
        data.byteOffset < b.byteOffset + b.byteLength &&
        b.byteOffset < data.byteOffset + data.byteLength
      ) {
        return true;
      }
    }
  }
  return false;
}
