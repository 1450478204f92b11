// The loops of a training step outside the cells: softmax cross-entropy over rows, and the SGD and
// Adam parameter updates (PyTorch's rules), each one pass over typed arrays.
// These are the JS backend's (backend/js.ts); softmax rows have a wasm twin in wasm/softmax.ts.
import type {
  AdamStepArgs,
  SgdStepArgs,
  SoftmaxCrossEntropyArgs,
  SoftmaxCrossEntropyBackwardArgs,
} from '../backend/backend.js';
import { expFloat32 } from './elementwise.js';

/** e^v for v ≤ 0 as softmax needs it: float32's own, exact to float32 (0 below -100), at half Math.exp's cost. */
const expShiftedFloat32 = (v: number): number => (v < -100 ? 0 : expFloat32(v));

/**
 * Σ_rows lse(row) - row[target] over x [rows, classes], summed in float64 whatever x's dtype; writes
 * softmax(x) row by row into probabilities when given (backward needs it).
 */
export function softmaxCrossEntropy({
  x,
  rows,
  classes,
  targets,
  probabilities,
}: SoftmaxCrossEntropyArgs): number {
  let total = 0;
  const exp = x instanceof Float32Array ? expShiftedFloat32 : Math.exp;
  for (let i = 0, row = 0; i < rows; i++, row += classes) {
    // Shifting by the row max keeps exp finite for logits near ±1e4.
    let max = Number.NEGATIVE_INFINITY;
    for (let j = row; j < row + classes; j++) if (x[j]! > max) max = x[j]!;
    let sumExp = 0;
    if (probabilities) {
      for (let j = row; j < row + classes; j++) {
        const e = exp(x[j]! - max);
        probabilities[j] = e;
        sumExp += e;
      }
      const inverse = 1 / sumExp;
      for (let j = row; j < row + classes; j++) probabilities[j]! *= inverse;
    } else {
      for (let j = row; j < row + classes; j++) sumExp += exp(x[j]! - max);
    }
    total += max + Math.log(sumExp) - x[row + targets[i]!]!;
  }
  return total;
}

/**
 * In place on a copy of softmax: softmax - onehot(target), the d logits of a summed loss under g = 1
 * (crossEntropy's backward scales it for 'mean' and for other g).
 */
export function softmaxCrossEntropyBackward({
  dLogits,
  classes,
  targets,
}: SoftmaxCrossEntropyBackwardArgs): void {
  for (let i = 0; i < targets.length; i++) dLogits[i * classes + targets[i]!]! -= 1;
}

/**
 * g += λp; m = lerp(m, g, 1-β₁); v = β₂v + (1-β₂)g²; p -= lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε).
 * m and v absent mean zeros (the first step); writes value, newM, newV.
 */
export function adamStep({ param: p, grad: g, m, v, value, newM, newV, hyper }: AdamStepArgs): void {
  const { lr, beta1, beta2, eps, weightDecay, step } = hyper;
  const stepSize = lr / (1 - beta1 ** step);
  const correction2 = Math.sqrt(1 - beta2 ** step);
  for (let i = 0; i < p.length; i++) {
    const gi = weightDecay !== 0 ? g[i]! + weightDecay * p[i]! : g[i]!;
    const mPrev = m ? m[i]! : 0;
    // Stored first, then read back: a float32 moment is rounded before it is used, as in PyTorch.
    newM[i] = mPrev + (1 - beta1) * (gi - mPrev);
    newV[i] = beta2 * (v ? v[i]! : 0) + (1 - beta2) * gi * gi;
    value[i] = p[i]! - stepSize * (newM[i]! / (Math.sqrt(newV[i]!) / correction2 + eps));
  }
}

/**
 * g += λp; b = g on the first step (b absent), else μb + (1-τ)g; g = nesterov ? g + μb : b;
 * p -= lr·g. newB (newMomentumBuffer) is null without momentum.
 */
export function sgdStep({
  param: p,
  grad: g,
  momentumBuffer: b,
  value,
  newMomentumBuffer: newB,
  hyper,
}: SgdStepArgs): void {
  const { lr, momentum, dampening, nesterov, weightDecay } = hyper;
  for (let i = 0; i < p.length; i++) {
    let step = weightDecay !== 0 ? g[i]! + weightDecay * p[i]! : g[i]!;
    if (newB) {
      // Stored first, then read back: a float32 buffer is rounded before it is used, as in PyTorch.
      newB[i] = b ? momentum * b[i]! + (1 - dampening) * step : step;
      step = nesterov ? step + momentum * newB[i]! : newB[i]!;
    }
    value[i] = p[i]! - lr * step;
  }
}
