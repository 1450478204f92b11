// Gradient clipping with PyTorch's semantics: by the global norm of all grads, or by value.

import { clip, mul, noGrad, type Tensor } from '@tapegrad/core';
import { markLibraryCode } from '@tapegrad/core/kernels';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

export interface ClipNormOptions {
  /** The p of the p-norm (default 2); Infinity takes the largest |g|. */
  normType?: number;
}

function withGrad(op: string, params: Iterable<Tensor>): Tensor[] {
  if (typeof (params as Partial<Iterable<Tensor>> | null)?.[Symbol.iterator] !== 'function') {
    throw new TypeError(`${op}: expected an iterable of parameters, got ${String(params)}`);
  }
  return [...params].filter((p) => p.grad !== null);
}

/**
 * Scales every grad by min(1, maxNorm / (total + 1e-6)), where total is the norm of all grads taken
 * together, and returns total (measured before clipping), as torch.nn.utils.clip_grad_norm_.
 */
export function clipGradNorm(
  params: Iterable<Tensor>,
  maxNorm: number,
  options: ClipNormOptions = {},
): number {
  const normType = options.normType ?? 2;
  if (!(maxNorm >= 0)) throw new RangeError(`clipGradNorm: maxNorm must be ≥ 0, got ${maxNorm}`);
  if (!(normType > 0)) throw new RangeError(`clipGradNorm: normType must be > 0, got ${normType}`);
  const grads = withGrad('clipGradNorm', params);
  let total = 0;
  for (const p of grads) {
    for (const v of p.grad!.data) {
      total = normType === Infinity ? Math.max(total, Math.abs(v)) : total + Math.abs(v) ** normType;
    }
  }
  if (normType !== Infinity) total **= 1 / normType;
  const scale = Math.min(1, maxNorm / (total + 1e-6));
  if (scale < 1) {
    noGrad(() => {
      // in the grad's dtype, as PyTorch multiplies by its clip coefficient tensor
      for (const p of grads) p.grad = mul(p.grad!, scale);
    });
  }
  return total;
}

/** Clamps every grad into [-clipValue, clipValue], as torch.nn.utils.clip_grad_value_. */
export function clipGradValue(params: Iterable<Tensor>, clipValue: number): void {
  if (!(clipValue >= 0)) throw new RangeError(`clipGradValue: clipValue must be ≥ 0, got ${clipValue}`);
  noGrad(() => {
    for (const p of withGrad('clipGradValue', params)) p.grad = clip(p.grad!, -clipValue, clipValue);
  });
}

markLibraryCode(codeStart, new Error()); // and where it ends
