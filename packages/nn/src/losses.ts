// Losses: cross-entropy over integer class targets (stable for large logits) and mean squared error.
import {
  DTypeError,
  gather,
  logSoftmax,
  mean,
  mul,
  neg,
  ShapeError,
  sub,
  sum,
  Tensor,
  tensor,
} from '@tapegrad/core';

export type Reduction = 'mean' | 'sum';

export interface LossOptions {
  /** Average over the elements (default) or add them up. */
  reduction?: Reduction;
}

const fmt = (shape: readonly number[]): string => `[${shape.join(',')}]`;

function reduce(op: string, losses: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (reduction === 'mean') return mean(losses);
  if (reduction === 'sum') return sum(losses);
  throw new RangeError(`${op}: reduction must be 'mean' or 'sum', got ${String(reduction)}`);
}

/**
 * -log softmax(logits)[target], averaged (or summed) over the rows: logits [N, C], targets N class
 * indices in [0, C) (an integer-valued Tensor [N] or numbers). logSoftmax shifts by the row max, so
 * logits near 1e4 stay finite. d logits = softmax(logits) - onehot(target), over N for 'mean'
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor | readonly number[],
  options: LossOptions = {},
): Tensor {
  if (!(logits instanceof Tensor)) throw new TypeError('crossEntropy: logits must be a Tensor');
  if (!Array.isArray(targets) && !(targets instanceof Tensor)) {
    throw new TypeError('crossEntropy: targets must be a Tensor or an array of class indices');
  }
  if (logits.rank !== 2)
    throw new ShapeError(`crossEntropy: logits must be [N, C], got ${fmt(logits.shape)}`);
  const [rows, classes] = logits.shape as [number, number];
  const values = Array.isArray(targets) ? targets : (targets as Tensor).data;
  const shape = Array.isArray(targets) ? [targets.length] : (targets as Tensor).shape;
  if (shape.length !== 1 || shape[0] !== rows) {
    throw new ShapeError(
      `crossEntropy: targets ${fmt(shape)} do not match logits ${fmt(logits.shape)} (want [${rows}])`,
    );
  }
  for (let i = 0; i < rows; i++) {
    const t = values[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= classes) {
      throw new RangeError(`crossEntropy: target ${t} at row ${i} is not a class index in [0, ${classes})`);
    }
  }
  const index = tensor(Array.from(values), { dtype: 'float64', shape: [rows, 1] });
  return reduce('crossEntropy', neg(gather(logSoftmax(logits, 1), 1, index)), options.reduction);
}

/** (prediction - target)², averaged (or summed); the shapes must be equal (no silent broadcasting). */
export function mse(prediction: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  if (!(prediction instanceof Tensor) || !(target instanceof Tensor)) {
    throw new TypeError('mse: prediction and target must be Tensors');
  }
  if (prediction.dtype !== target.dtype) {
    throw new DTypeError(
      `mse: prediction is ${prediction.dtype}, target is ${target.dtype} (cast one with astype)`,
    );
  }
  if (
    prediction.shape.length !== target.shape.length ||
    prediction.shape.some((d, i) => d !== target.shape[i])
  ) {
    throw new ShapeError(`mse: prediction ${fmt(prediction.shape)} and target ${fmt(target.shape)} differ`);
  }
  const diff = sub(prediction, target);
  return reduce('mse', mul(diff, diff), options.reduction);
}
