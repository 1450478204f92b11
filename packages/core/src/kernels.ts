// @tapegrad/core/kernels: the subpath for cell and op authors (nn's cells, layers and optimizers, bench).
// The kernels (pure loops over typed arrays: gemm, the fused recurrent gates and sequences, optimizer
// steps, ...) and the hooks that let a customOp manage its own buffers. Ordinary users need only the
// root entry, '@tapegrad/core'; what is here trades safety for speed (no shape checks, buffers written
// in place) and may change between minor versions.
import { poisonRecycled as setPoisonRecycled } from './memory/index.js';

export { markLibraryCode } from './callSite.js';
export * from './kernels/index.js';
// Buffers for a customOp's own use, each lent by an arena of the allocator with an explicit lifetime:
// allocate (a tensor's buffer, owned by the innermost tidy scope), backwardScratch (a grad handed on
// within one backward pass), callArena (scratch for one kernel call) and graphArena (saved values kept
// for the backward of the graph that recorded the forward). See each one's documentation.
export {
  type Arena,
  allocate,
  backwardScratch,
  callArena,
  type GraphArena,
  graphArena,
  type Lifetime,
} from './memory/arena.js';
export { savedValuesFreed } from './tape.js';
export { replaceLeafData } from './tensor.js';

/**
 * Test-only, never for production code: while on, buffers recycled for `allocate(..., { zero: false })`
 * come filled with NaN, so a value that the caller never wrote shows instead of hiding as a stale value
 * or a zero. (Defined here, not re-exported: memory/allocator.ts marks its own internal, and stripInternal leaves that out of the .d.ts.)
 */
export function poisonRecycled(on: boolean): void {
  setPoisonRecycled(on);
}
