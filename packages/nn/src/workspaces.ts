// Saved activations that ops keep for their backward (the recurrent sequences' gates, the fused loss's
// softmax), reused across iterations instead of reallocated: float32 ones live in the wasm kernels' memory
// (kernels.workspaceBuffer), where the kernels use them in place.
import type { DType, Tensor, TypedArray } from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { markLibraryCode, savedValuesFreed } from '@tapegrad/core/kernels';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

/**
 * Saved activations, reused across iterations. A workspace is lent to one forward and belongs to its
 * graph until that graph's saved values are dead: the forward recorded nothing (no node), or a
 * backward without retainGraph freed it (core's savedValuesFreed, the tape's own mark). A graph
 * that is dropped without a backward keeps its buffers; the pool forgets them when it needs the slot.
 */
export interface Workspace {
  dtype: DType;
  /** The buffers' lengths. */
  sizes: readonly number[];
  buffers: TypedArray[];
  /** An output of the forward holding these buffers; its node says whether its graph still needs them. */
  owner: Tensor | null;
}

/** Enough for a few layers' graphs alive at once; past it, the pool forgets its oldest workspace. */
const POOL_LIMIT = 8;
const pool: Workspace[] = [];

const isFree = ({ owner }: Workspace): boolean => owner === null || savedValuesFreed(owner);

function fits(w: Workspace, dtype: DType, sizes: readonly number[]): boolean {
  if (w.dtype !== dtype || w.sizes.length !== sizes.length) return false;
  for (let i = 0; i < sizes.length; i++) if (w.sizes[i] !== sizes[i]) return false;
  return true;
}

export function acquire(dtype: DType, sizes: readonly number[]): Workspace {
  // A plain search, called once per forward: the pool holds a few workspaces at most.
  for (const w of pool) if (fits(w, dtype, sizes) && isFree(w)) return w;
  // Kernel workspaces: float32 ones live in the wasm kernels' memory, where they are used in place.
  const buffers = sizes.map((size) => kernels.workspaceBuffer(dtype, size));
  const fresh: Workspace = { dtype, sizes, buffers, owner: null };
  if (pool.length >= POOL_LIMIT) {
    // Drop a free workspace of another shape, else the oldest (its graph keeps its own buffers).
    const victim = pool.findIndex(isFree);
    pool.splice(Math.max(victim, 0), 1);
  }
  pool.push(fresh);
  return fresh;
}

/** Hands the workspace to the graph of `outputs` when recording, else back to the pool at once. */
export function lend(workspace: Workspace, outputs: readonly Tensor[], recording: boolean): void {
  workspace.owner = recording ? outputs[0]! : null;
}

markLibraryCode(codeStart, new Error()); // and where it ends
