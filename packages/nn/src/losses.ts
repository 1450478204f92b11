// Losses: cross-entropy over integer class targets (stable for large logits) and mean squared error.
import {
  type CustomOp,
  customOp,
  DTypeError,
  formatShape as fmt,
  gather,
  logSoftmax,
  mean,
  mul,
  neg,
  ShapeError,
  sub,
  sum,
  Tensor,
  type TypedArray,
  tensor,
} from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { allocate } from '@tapegrad/core/kernels';
import { type Dims, linearGrads, linearInto, linearOp } from './linear.js';
import { acquire, lend, type Workspace } from './workspaces.js';

export type Reduction = 'mean' | 'sum';

export interface LossOptions {
  /** Average over the elements (default) or add them up. */
  reduction?: Reduction;
}

function reduce(op: string, losses: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (reduction === 'mean') return mean(losses);
  if (reduction === 'sum') return sum(losses);
  throw new RangeError(`${op}: reduction must be 'mean' or 'sum', got ${String(reduction)}`);
}

interface CrossEntropyResiduals {
  /**
   * softmax(logits) - onehot(targets) [N, C], row by row: the first backward's d logits before its scale,
   * taken by that backward as its grad (a grad tensor is never written again), so it neither copies nor
   * allocates. Null once taken, and when nothing is recorded; later backwards (retainGraph) make it
   * afresh from the logits.
   */
  unscaled: TypedArray | null;
  targets: Int32Array;
}

/** The shape of a scalar, shared (frozen, as every tensor's shape is). */
const SCALAR: readonly number[] = Object.freeze([]);

/** A targets tensor's data never changes, so its class indices are converted once and then reused. */
const classIndexCache = new WeakMap<Tensor, Int32Array>();

function classIndicesOf(targets: Tensor): Int32Array {
  let indices = classIndexCache.get(targets);
  if (!indices) {
    indices = Int32Array.from(targets.data);
    classIndexCache.set(targets, indices);
  }
  return indices;
}

/**
 * The loss summed over the rows, Σ lse(row) - row[target] (float64 whatever the dtype), and, into `out`
 * when given, softmax(row) - onehot(target) row by row.
 */
function softmaxMinusOneHot(logits: Tensor, targets: Int32Array, out: TypedArray | null): number {
  const [rows, classes] = logits.shape as [number, number];
  const total = kernels.softmaxCrossEntropy(logits.data, rows, classes, targets, out);
  if (out) kernels.softmaxCrossEntropyBackward(out, classes, targets);
  return total;
}

/** Softmax cross-entropy over rows as one op, 'mean' or 'sum'; (logits [N, C], targets [N]) → []. */
function crossEntropyOpOf(reduction: Reduction): CustomOp<CrossEntropyResiduals> {
  return customOp<CrossEntropyResiduals>({
    name: 'crossEntropy',
    forward([logits, targets], { needsGrad }) {
      const classIndices = classIndicesOf(targets!);
      const rows = logits!.shape[0]!;
      const unscaled = needsGrad ? allocate(logits!.dtype, logits!.size) : null;
      // Σ_rows lse(row) - row[target], in float64 whatever the logits' dtype
      const total = softmaxMinusOneHot(logits!, classIndices, unscaled);
      const loss = allocate(logits!.dtype, 1);
      loss[0] = reduction === 'mean' ? total / rows : total;
      return { outputs: new Tensor(loss, SCALAR), residuals: { unscaled, targets: classIndices } };
    },
    // d logits = (softmax(logits) - onehot(target))·g, over N for 'mean'; targets get no grad
    backward([g], residuals, [logits]) {
      const { targets } = residuals;
      let dLogits = residuals.unscaled;
      residuals.unscaled = null;
      if (!dLogits) {
        dLogits = allocate(logits!.dtype, logits!.size);
        softmaxMinusOneHot(logits!, targets, dLogits);
      }
      const scale = g!.data[0]! / (reduction === 'mean' ? targets.length : 1);
      // 'sum' under a loss that is the result (g = 1, the usual case) needs no pass over the values
      if (scale !== 1) kernels.map(dLogits, dLogits, (v) => v * scale);
      return [new Tensor(dLogits, logits!.shape), null];
    },
    reference: (logits, targets) => crossEntropyReference(logits!, targets!, { reduction }),
  });
}

/** The fused ops, one per reduction (checkOverride holds each against crossEntropyReference). */
export const crossEntropyOps: Readonly<Record<Reduction, CustomOp<CrossEntropyResiduals>>> = {
  mean: crossEntropyOpOf('mean'),
  sum: crossEntropyOpOf('sum'),
};

/** Checks logits [N, C] and N class indices in [0, C); the targets as a Tensor [N]. */
function checkCrossEntropy(logits: Tensor, targets: Tensor | readonly number[]): Tensor {
  if (!(logits instanceof Tensor)) throw new TypeError('crossEntropy: logits must be a Tensor');
  if (logits.rank !== 2)
    throw new ShapeError(`crossEntropy: logits must be [N, C], got ${fmt(logits.shape)}`);
  const [rows, classes] = logits.shape as [number, number];
  return checkTargets('crossEntropy', targets, rows, classes, () => `logits ${fmt(logits.shape)}`);
}

/** Checks that targets are `rows` class indices in [0, classes) (`against` names the rows' tensor); as a Tensor [N]. */
function checkTargets(
  op: string,
  targets: Tensor | readonly number[],
  rows: number,
  classes: number,
  against: () => string,
): Tensor {
  if (!Array.isArray(targets) && !(targets instanceof Tensor)) {
    throw new TypeError(`${op}: targets must be a Tensor or an array of class indices`);
  }
  const values = Array.isArray(targets) ? targets : (targets as Tensor).data;
  const shape = Array.isArray(targets) ? [targets.length] : (targets as Tensor).shape;
  if (shape.length !== 1 || shape[0] !== rows) {
    throw new ShapeError(`${op}: targets ${fmt(shape)} do not match ${against()} (want [${rows}])`);
  }
  for (let i = 0; i < rows; i++) {
    const t = values[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= classes) {
      throw new RangeError(`${op}: target ${t} at row ${i} is not a class index in [0, ${classes})`);
    }
  }
  return targets instanceof Tensor ? targets : tensor(Array.from(values), { dtype: 'float64' });
}

/**
 * -log softmax(logits)[target], averaged (or summed) over the rows: logits [N, C], targets N class
 * indices in [0, C) (an integer-valued Tensor [N] or numbers). One fused op: the log-sum-exp of each
 * row shifted by its max, so logits near 1e4 stay finite; its backward is softmax - onehot.
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor | readonly number[],
  options: LossOptions = {},
): Tensor {
  const classIndices = checkCrossEntropy(logits, targets);
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum') {
    throw new RangeError(`crossEntropy: reduction must be 'mean' or 'sum', got ${String(reduction)}`);
  }
  return crossEntropyOps[reduction](logits, classIndices) as Tensor;
}

interface LinearCrossEntropyResiduals {
  dims: Dims;
  /**
   * [logits, softmax(logits) - onehot(targets)], each [N, C], lent to the graph (null when nothing is
   * recorded). The backward scales its results, never these values, so a second backward reads them again.
   */
  workspace: Workspace | null;
}

function linearCrossEntropyOpOf(reduction: Reduction): CustomOp<LinearCrossEntropyResiduals> {
  return customOp<LinearCrossEntropyResiduals>({
    name: 'linearCrossEntropy',
    // (x, weight, targets, bias?): the bias last and optional, as linear's
    forward([x, weight, targets, bias], { needsGrad }) {
      const [rows, inFeatures] = x!.shape as [number, number];
      const dims = { rows, inFeatures, outFeatures: weight!.shape[0]! };
      const indices = classIndicesOf(targets!);
      const size = rows * dims.outFeatures;
      // The logits and softmax - onehot are never tensors: they stay in a workspace that the next
      // iteration reuses, in the wasm kernels' memory for float32 (no copies in or out of it).
      const workspace = acquire(x!.dtype, needsGrad ? [size, size] : [size]);
      const [logits, dLogits] = workspace.buffers as [TypedArray, TypedArray | undefined];
      linearInto(logits, dims, x!, weight!, bias);
      const total = kernels.softmaxCrossEntropy(logits, rows, dims.outFeatures, indices, dLogits ?? null);
      if (dLogits) kernels.softmaxCrossEntropyBackward(dLogits, dims.outFeatures, indices);
      const loss = allocate(x!.dtype, 1);
      loss[0] = reduction === 'mean' ? total / rows : total;
      const output = new Tensor(loss, SCALAR);
      lend(workspace, [output], needsGrad);
      return { outputs: output, residuals: { dims, workspace: needsGrad ? workspace : null } };
    },
    // d logits = (softmax - onehot)·g, over N for 'mean', and linear's grads from it, the scale applied
    // to those (smaller) results so that the saved values stay as they are
    backward([g], { dims, workspace }, [x, weight, , bias]) {
      const scale = g!.data[0]! / (reduction === 'mean' ? dims.rows : 1);
      const [dx, dWeight, dBias] = linearGrads(workspace!.buffers[1]!, dims, x!, weight!, bias, scale);
      return bias ? [dx ?? null, dWeight ?? null, null, dBias ?? null] : [dx ?? null, dWeight ?? null, null];
    },
    reference: (x, weight, targets, bias) =>
      crossEntropyReference(linearOp.reference!(x!, weight!, bias) as Tensor, targets!, { reduction }),
  });
}

/** The fused classifier-head losses, one per reduction (checkOverride holds each against its reference). */
export const linearCrossEntropyOps: Readonly<Record<Reduction, CustomOp<LinearCrossEntropyResiduals>>> = {
  mean: linearCrossEntropyOpOf('mean'),
  sum: linearCrossEntropyOpOf('sum'),
};

/**
 * crossEntropy(linear(x, weight, bias), targets) as one op, for a classifier head: x [N, in], weight
 * [C, in], bias [C] or null, targets N class indices in [0, C). The logits [N, C] never become a tensor:
 * they and softmax - onehot stay in a workspace reused across iterations (in the wasm kernels' memory for
 * float32), so a training step neither allocates them nor copies them in and out of the kernels. The value
 * and grads are the composition's (its reference); use the composition when the logits themselves are wanted.
 */
export function linearCrossEntropy(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null | undefined,
  targets: Tensor | readonly number[],
  options: LossOptions = {},
): Tensor {
  const op = 'linearCrossEntropy';
  if (!(x instanceof Tensor) || !(weight instanceof Tensor)) {
    throw new TypeError(`${op}: x and weight must be Tensors`);
  }
  if (bias != null && !(bias instanceof Tensor)) throw new TypeError(`${op}: bias must be a Tensor or null`);
  if (weight.dtype !== x.dtype || (bias && bias.dtype !== x.dtype)) {
    const dtypes = `x ${x.dtype}, weight ${weight.dtype}${bias ? `, bias ${bias.dtype}` : ''}`;
    throw new DTypeError(`${op}: dtypes differ: ${dtypes}`);
  }
  if (x.rank !== 2) throw new ShapeError(`${op}: x must be [N, in], got ${fmt(x.shape)}`);
  if (weight.rank !== 2 || weight.shape[1] !== x.shape[1]) {
    throw new ShapeError(`${op}: x ${fmt(x.shape)} does not fit weight ${fmt(weight.shape)} = [classes, in]`);
  }
  const [rows, classes] = [x.shape[0]!, weight.shape[0]!];
  if (bias && (bias.rank !== 1 || bias.shape[0] !== classes)) {
    throw new ShapeError(`${op}: bias ${fmt(bias.shape)} does not fit weight ${fmt(weight.shape)}`);
  }
  const classIndices = checkTargets(op, targets, rows, classes, () => `x ${fmt(x.shape)}`);
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum') {
    throw new RangeError(`${op}: reduction must be 'mean' or 'sum', got ${String(reduction)}`);
  }
  const fused = linearCrossEntropyOps[reduction];
  return (bias ? fused(x, weight, classIndices, bias) : fused(x, weight, classIndices)) as Tensor;
}

/** crossEntropy composed from core ops (logSoftmax, gather): the reference the fused op is checked against. */
export function crossEntropyReference(
  logits: Tensor,
  targets: Tensor | readonly number[],
  options: LossOptions = {},
): Tensor {
  const classIndices = checkCrossEntropy(logits, targets);
  const rows = logits.shape[0]!;
  const index = tensor(Array.from(classIndices.data), { dtype: 'float64', shape: [rows, 1] });
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
