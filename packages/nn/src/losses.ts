// Losses: cross-entropy over integer class targets (stable for large logits) and mean squared error.
import {
  add,
  broadcastShapes,
  type CustomOp,
  customOp,
  DTypeError,
  div,
  formatShape as fmt,
  gather,
  logSoftmax,
  mean,
  mul,
  neg,
  reshape,
  type Shape,
  ShapeError,
  sub,
  sum,
  Tensor,
  type TypedArray,
  tensor,
  where,
} from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { allocate, markLibraryCode } from '@tapegrad/core/kernels';
import { type Dims, linear, linearGrads, linearInto, linearOp } from './linear.js';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

export type Reduction = 'mean' | 'sum';

export interface LossOptions {
  /** Average over the elements (default), add them up, or keep them ('none'). */
  reduction?: Reduction | 'none';
}

/** crossEntropy's options: PyTorch's `F.cross_entropy` keywords, under their camel-case names. */
export interface CrossEntropyOptions extends LossOptions {
  /**
   * 'mean' (default): Σ_rows loss / Σ_rows weight[target] over the rows not ignored (their count without
   * `weight`); 'sum'; 'none': the per-row losses [N], 0 on ignored rows.
   */
  reduction?: Reduction | 'none';
  /**
   * Rows whose target equals this give 0 and leave the mean's denominator (default -100, as torch). When
   * every row is ignored, 'mean' is 0/0 = NaN, as torch's (its grad is zeros).
   */
  ignoreIndex?: number;
  /** Per-class weights [C] (the logits' dtype): a row's loss is scaled by its target's weight. No grad. */
  weight?: Tensor;
  /**
   * ε in [0, 1]: the target is (1 - ε)·onehot + ε/C. As torch 1.13 (aten cross_entropy_loss_label_smoothing),
   * loss = (1 - ε)·weight[t]·(-logp[t]) + (ε/C)·Σ_c weight[c]·(-logp[c]) per row, the mean over the same
   * denominator as without smoothing.
   */
  labelSmoothing?: number;
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
  const total = kernels.softmaxCrossEntropy({ x: logits.data, rows, classes, targets, probabilities: out });
  if (out) kernels.softmaxCrossEntropyBackward({ dLogits: out, classes, targets });
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

/** The checked targets as a Tensor [N], and how many of them equal ignoreIndex. */
interface CheckedTargets {
  targets: Tensor;
  ignored: number;
}

/** Checks that logits are a Tensor [N, C]. */
function checkLogits(logits: Tensor): void {
  if (!(logits instanceof Tensor)) throw new TypeError('crossEntropy: logits must be a Tensor');
  if (logits.rank !== 2)
    throw new ShapeError(`crossEntropy: logits must be [N, C], got ${fmt(logits.shape)}`);
}

/** Checks N class indices in [0, C) (or ignoreIndex) for logits [N, C] (checked already). */
function checkCrossEntropy(
  logits: Tensor,
  targets: Tensor | readonly number[],
  ignoreIndex: number,
): CheckedTargets {
  const [rows, classes] = logits.shape as [number, number];
  const against = () => `logits ${fmt(logits.shape)}`;
  return checkTargets('crossEntropy', targets, rows, classes, against, ignoreIndex);
}

/** torch's default ignore_index: no class index, so by default no row is ignored. */
const DEFAULT_IGNORE_INDEX = -100;

/**
 * Checks that targets are `rows` class indices in [0, classes) or `ignoreIndex` (`against` names the
 * rows' tensor).
 */
function checkTargets(
  op: string,
  targets: Tensor | readonly number[],
  rows: number,
  classes: number,
  against: () => string,
  ignoreIndex: number,
): CheckedTargets {
  if (!Array.isArray(targets) && !(targets instanceof Tensor)) {
    throw new TypeError(`${op}: targets must be a Tensor or an array of class indices`);
  }
  const values = Array.isArray(targets) ? targets : (targets as Tensor).data;
  const shape = Array.isArray(targets) ? [targets.length] : (targets as Tensor).shape;
  if (shape.length !== 1 || shape[0] !== rows) {
    throw new ShapeError(`${op}: targets ${fmt(shape)} do not match ${against()} (want [${rows}])`);
  }
  let ignored = 0;
  for (let i = 0; i < rows; i++) {
    const t = values[i]!;
    if (t === ignoreIndex) ignored++;
    else if (!Number.isInteger(t) || t < 0 || t >= classes) {
      throw new RangeError(
        `${op}: target ${t} at row ${i} is not a class index in [0, ${classes}) nor ignoreIndex ${ignoreIndex}`,
      );
    }
  }
  const tensorOf = targets instanceof Tensor ? targets : tensor(Array.from(values), { dtype: 'float64' });
  return { targets: tensorOf, ignored };
}

/** crossEntropy's options checked, defaults filled in (weight null when absent). */
interface CrossEntropyConfig {
  reduction: Reduction | 'none';
  ignoreIndex: number;
  weight: Tensor | null;
  labelSmoothing: number;
}

/** `logits` gives the shape [N, C] and the dtype that weight must have. */
function checkOptions(
  op: string,
  logits: Pick<Tensor, 'shape' | 'dtype'>,
  options: CrossEntropyOptions,
): CrossEntropyConfig {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${op}: options must be an object, got ${String(options)}`);
  }
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new RangeError(`${op}: reduction must be 'mean', 'sum' or 'none', got ${String(reduction)}`);
  }
  const ignoreIndex = options.ignoreIndex ?? DEFAULT_IGNORE_INDEX;
  if (!Number.isInteger(ignoreIndex)) {
    throw new RangeError(`${op}: ignoreIndex must be an integer, got ${String(ignoreIndex)}`);
  }
  const labelSmoothing = options.labelSmoothing ?? 0;
  if (typeof labelSmoothing !== 'number' || !(labelSmoothing >= 0 && labelSmoothing <= 1)) {
    throw new RangeError(`${op}: labelSmoothing must be in [0, 1], got ${String(labelSmoothing)}`);
  }
  const weight = options.weight ?? null;
  if (weight !== null) {
    if (!(weight instanceof Tensor)) throw new TypeError(`${op}: weight must be a Tensor [C] or absent`);
    const classes = logits.shape[1]!;
    if (weight.rank !== 1 || weight.shape[0] !== classes) {
      throw new ShapeError(
        `${op}: weight ${fmt(weight.shape)} does not fit logits ${fmt(logits.shape)} (want [${classes}], one per class)`,
      );
    }
    if (weight.dtype !== logits.dtype) {
      throw new DTypeError(`${op}: weight is ${weight.dtype}, logits ${logits.dtype} (cast one with astype)`);
    }
  }
  return { reduction, ignoreIndex, weight, labelSmoothing };
}

interface WeightedResiduals {
  targets: Int32Array;
  /** Σ_rows weight[target] over the rows not ignored: the mean's denominator. */
  denominator: number;
}

/**
 * One row's loss, (1 - ε)·w[t]·(lse - x[t]) + (ε/C)·Σ_c w[c]·(lse - x[c]) with lse the row's log-sum-exp
 * shifted by its max (aten's cross_entropy_loss_label_smoothing, row by row), in float64. w is all ones
 * when null.
 */
function smoothedRowLoss(
  x: TypedArray,
  offset: number,
  classes: number,
  target: number,
  weight: TypedArray | null,
  epsilon: number,
): number {
  let max = -Infinity;
  for (let c = 0; c < classes; c++) if (x[offset + c]! > max) max = x[offset + c]!;
  let total = 0;
  for (let c = 0; c < classes; c++) total += Math.exp(x[offset + c]! - max);
  const lse = max + Math.log(total);
  const wt = weight ? weight[target]! : 1;
  let loss = (1 - epsilon) * wt * (lse - x[offset + target]!);
  if (epsilon > 0) {
    let smooth = 0;
    for (let c = 0; c < classes; c++) smooth += (weight ? weight[c]! : 1) * (lse - x[offset + c]!);
    loss += (epsilon / classes) * smooth;
  }
  return loss;
}

/**
 * crossEntropy with class weights, ignored rows, label smoothing or reduction 'none' as one op:
 * (logits [N, C], targets [N], weight [C]?) → [] or [N]. The plain case keeps crossEntropyOps.
 */
export function crossEntropyOpWith(config: Omit<CrossEntropyConfig, 'weight'>): CustomOp<WeightedResiduals> {
  const { reduction, ignoreIndex, labelSmoothing: epsilon } = config;
  return customOp<WeightedResiduals>({
    name: 'crossEntropy',
    forward([logits, targetsTensor, weightTensor]) {
      const [rows, classes] = logits!.shape as [number, number];
      const targets = classIndicesOf(targetsTensor!);
      const weight = weightTensor ? weightTensor.data : null;
      const losses = allocate(logits!.dtype, reduction === 'none' ? rows : 1);
      let total = 0;
      let denominator = 0;
      for (let i = 0; i < rows; i++) {
        const t = targets[i]!;
        let loss = 0;
        if (t !== ignoreIndex) {
          loss = smoothedRowLoss(logits!.data, i * classes, classes, t, weight, epsilon);
          denominator += weight ? weight[t]! : 1;
        }
        if (reduction === 'none') losses[i] = loss;
        else total += loss;
      }
      // 'mean' with every row ignored is 0/0 = NaN, as torch's
      if (reduction !== 'none') losses[0] = reduction === 'mean' ? total / denominator : total;
      const shape = reduction === 'none' ? [rows] : SCALAR;
      return { outputs: new Tensor(losses, shape), residuals: { targets, denominator } };
    },
    // d logits[i, j] = s_i·(((1 - ε)·w[t] + (ε/C)·Σw)·softmax[i, j] - (1 - ε)·w[t]·[j = t] - (ε/C)·w[j]),
    // s_i = g[i] ('none'), g ('sum'), g / Σ w[t] ('mean'); 0 on ignored rows; targets and weight get no grad
    backward([g], { targets, denominator }, [logits, , weightTensor]) {
      const [rows, classes] = logits!.shape as [number, number];
      const x = logits!.data;
      const weight = weightTensor ? weightTensor.data : null;
      let weightSum = classes;
      if (weight) {
        weightSum = 0;
        for (let c = 0; c < classes; c++) weightSum += weight[c]!;
      }
      // softmax of every row, by the kernel the plain loss uses (one exp a value), then each row's
      // formula in place; an ignored row is read as class 0 there and zeroed here.
      const dLogits = allocate(logits!.dtype, logits!.size, { zero: false });
      const read = targets.includes(ignoreIndex) ? targets.map((t) => (t === ignoreIndex ? 0 : t)) : targets;
      kernels.softmaxCrossEntropy({ x, rows, classes, targets: read, probabilities: dLogits });
      for (let i = 0; i < rows; i++) {
        const t = targets[i]!;
        const at = i * classes;
        if (t === ignoreIndex) {
          dLogits.fill(0, at, at + classes);
          continue;
        }
        const scale =
          reduction === 'none' ? g!.data[i]! : g!.data[0]! / (reduction === 'mean' ? denominator : 1);
        const wt = weight ? weight[t]! : 1;
        const a = (1 - epsilon) * wt + (epsilon / classes) * weightSum;
        for (let c = 0; c < classes; c++) {
          const wc = weight ? weight[c]! : 1;
          const p = dLogits[at + c]!;
          dLogits[at + c] = scale * (a * p - (epsilon / classes) * wc - (c === t ? (1 - epsilon) * wt : 0));
        }
      }
      return weightTensor
        ? [new Tensor(dLogits, logits!.shape), null, null]
        : [new Tensor(dLogits, logits!.shape), null];
    },
    reference: (logits, targets, weight) =>
      crossEntropyReference(logits!, targets!, {
        reduction,
        ignoreIndex,
        labelSmoothing: epsilon,
        ...(weight ? { weight } : {}),
      }),
  });
}

/**
 * -log softmax(logits)[target], averaged (or summed) over the rows: logits [N, C], targets N class
 * indices in [0, C) (an integer-valued Tensor [N] or numbers). One fused op: the log-sum-exp of each
 * row shifted by its max, so logits near 1e4 stay finite; its backward is softmax - onehot.
 *
 * PyTorch's options (CrossEntropyOptions): `reduction: 'none'`, `ignoreIndex` (default -100), class
 * `weight`, `labelSmoothing`, with torch 1.13's values; an all-ignored batch under 'mean' is NaN, as
 * torch's. Those go through a second fused op (crossEntropyOpWith); the plain case keeps its own.
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor | readonly number[],
  options: CrossEntropyOptions = {},
): Tensor {
  checkLogits(logits);
  const config = checkOptions('crossEntropy', logits, options);
  const checked = checkCrossEntropy(logits, targets, config.ignoreIndex);
  const { reduction, weight } = config;
  if (reduction !== 'none' && weight === null && config.labelSmoothing === 0 && checked.ignored === 0) {
    return crossEntropyOps[reduction](logits, checked.targets) as Tensor;
  }
  const op = crossEntropyOpWith(config);
  return (weight ? op(logits, checked.targets, weight) : op(logits, checked.targets)) as Tensor;
}

interface LinearCrossEntropyResiduals {
  dims: Dims;
  /**
   * [logits, softmax(logits) - onehot(targets)], each [N, C], lent to the graph (null when nothing is
   * recorded). The backward scales its results, never these values, so a second backward reads them again.
   */
  saved: kernels.GraphArena | null;
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
      // The logits and softmax - onehot are never tensors: they stay in a graph arena whose buffers the
      // next iteration reuses, in the wasm kernels' memory for float32 (no copies in or out of it).
      const saved = kernels.graphArena('linearCrossEntropy');
      const logits = saved.take(x!.dtype, size, { zeroed: false });
      const dLogits = needsGrad ? saved.take(x!.dtype, size, { zeroed: false }) : undefined;
      linearInto(logits, dims, x!, weight!, bias);
      const classes = dims.outFeatures;
      const probabilities = dLogits ?? null;
      const total = kernels.softmaxCrossEntropy({
        x: logits,
        rows,
        classes,
        targets: indices,
        probabilities,
      });
      if (dLogits) kernels.softmaxCrossEntropyBackward({ dLogits, classes, targets: indices });
      const loss = allocate(x!.dtype, 1);
      loss[0] = reduction === 'mean' ? total / rows : total;
      const output = new Tensor(loss, SCALAR);
      saved.lendTo([output], needsGrad);
      return { outputs: output, residuals: { dims, saved: needsGrad ? saved : null } };
    },
    // d logits = (softmax - onehot)·g, over N for 'mean', and linear's grads from it, the scale applied
    // to those (smaller) results so that the saved values stay as they are
    backward([g], { dims, saved }, [x, weight, , bias]) {
      const scale = g!.data[0]! / (reduction === 'mean' ? dims.rows : 1);
      const [dx, dWeight, dBias] = linearGrads(saved!.buffers[1]!, dims, x!, weight!, bias, scale);
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
 * they and softmax - onehot stay in a graph arena whose buffers are reused across iterations (in the wasm kernels' memory for
 * float32), so a training step neither allocates them nor copies them in and out of the kernels. The value
 * and grads are the composition's (its reference); use the composition when the logits themselves are wanted.
 */
export function linearCrossEntropy(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null | undefined,
  targets: Tensor | readonly number[],
  options: CrossEntropyOptions = {},
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
  const config = checkOptions(op, { shape: [rows, classes], dtype: x.dtype }, options);
  const { targets: classIndices, ignored } = checkTargets(
    op,
    targets,
    rows,
    classes,
    () => `x ${fmt(x.shape)}`,
    config.ignoreIndex,
  );
  const { reduction } = config;
  if (reduction === 'none' || config.weight !== null || config.labelSmoothing !== 0 || ignored > 0) {
    // PyTorch's options: linear, then crossEntropy's fused op for them (everything is checked above)
    const logits = linear(x, weight, bias ?? undefined);
    const withOptions = crossEntropyOpWith(config);
    return (
      config.weight ? withOptions(logits, classIndices, config.weight) : withOptions(logits, classIndices)
    ) as Tensor;
  }
  const fused = linearCrossEntropyOps[reduction];
  return (bias ? fused(x, weight, classIndices, bias) : fused(x, weight, classIndices)) as Tensor;
}

/**
 * crossEntropy composed from core ops (logSoftmax, gather, where): the reference the fused ops are checked
 * against, options included. Per row (1 - ε)·w[t]·(-logp[t]) + (ε/C)·Σ_c w[c]·(-logp[c]), 0 where the
 * target is ignoreIndex; 'mean' divides the sum by Σ w[t] over the rows kept.
 */
export function crossEntropyReference(
  logits: Tensor,
  targets: Tensor | readonly number[],
  options: CrossEntropyOptions = {},
): Tensor {
  checkLogits(logits);
  const {
    reduction,
    ignoreIndex,
    weight,
    labelSmoothing: epsilon,
  } = checkOptions('crossEntropy', logits, options);
  const { targets: checked } = checkCrossEntropy(logits, targets, ignoreIndex);
  const [rows, classes] = logits.shape as [number, number];
  const kept = Array.from(checked.data, (t) => (t === ignoreIndex ? 0 : 1));
  // An ignored row gathers class 0, then where drops it (where's grad there is 0, not 0·∞)
  const index = tensor(
    Array.from(checked.data, (t) => (t === ignoreIndex ? 0 : t)),
    { dtype: 'float64', shape: [rows, 1] },
  );
  const logp = logSoftmax(logits, 1);
  const targetWeight = Array.from(index.data, (t) => (weight ? weight.data[t]! : 1));
  const rowWeight = tensor(targetWeight, { dtype: logits.dtype, shape: [rows, 1] });
  let losses = neg(mul(gather(logp, 1, index), rowWeight));
  if (epsilon > 0) {
    const smooth = neg(sum(weight ? mul(logp, weight) : logp, { axis: 1, keepDims: true }));
    losses = add(mul(losses, 1 - epsilon), mul(smooth, epsilon / classes));
  }
  const keep = tensor(kept, { dtype: logits.dtype, shape: [rows, 1] });
  losses = reshape(where(keep, losses, 0), [rows]);
  if (reduction === 'none') return losses;
  if (reduction === 'sum') return sum(losses);
  const denominator = targetWeight.reduce((total, w, i) => total + w * kept[i]!, 0);
  // Every row ignored: torch's NaN, with torch's zero grads (1/0 through where's vjp would give 0·∞ = NaN)
  if (denominator === 0) return add(mul(sum(losses), 0), Number.NaN);
  return div(sum(losses), denominator);
}

/**
 * (prediction - target)², averaged (or summed, or per element with 'none') over their broadcast shape:
 * as torch's mse_loss, the two broadcast either way (torch warns then, and so does this, once).
 */
export function mse(prediction: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  if (!(prediction instanceof Tensor) || !(target instanceof Tensor)) {
    throw new TypeError('mse: prediction and target must be Tensors');
  }
  if (prediction.dtype !== target.dtype) {
    throw new DTypeError(
      `mse: prediction is ${prediction.dtype}, target is ${target.dtype} (cast one with astype)`,
    );
  }
  const reduction = options.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new RangeError(`mse: reduction must be 'mean', 'sum' or 'none', got ${String(reduction)}`);
  }
  if (
    prediction.shape.length !== target.shape.length ||
    prediction.shape.some((d, i) => d !== target.shape[i])
  ) {
    let shape: Shape;
    try {
      shape = broadcastShapes('mse', prediction.shape, target.shape);
    } catch {
      throw new ShapeError(
        `mse: prediction ${fmt(prediction.shape)} and target ${fmt(target.shape)} differ and do not broadcast`,
      );
    }
    warnBroadcastOnce(prediction.shape, target.shape, shape);
  }
  const diff = sub(prediction, target);
  const squared = mul(diff, diff);
  if (reduction === 'none') return squared;
  return reduction === 'sum' ? sum(squared) : mean(squared);
}

let broadcastWarned = false;

/** torch's UserWarning for mse_loss with differing shapes, which Python shows once per call site: here once. */
function warnBroadcastOnce(prediction: Shape, target: Shape, shape: Shape): void {
  if (broadcastWarned) return;
  broadcastWarned = true;
  console.warn(
    `mse: prediction ${fmt(prediction)} and target ${fmt(target)} differ and are broadcast to ${fmt(shape)} ` +
      '(as torch.nn.functional.mse_loss, which warns likewise); the mean is over that shape. ' +
      'This warning is shown once.',
  );
}

markLibraryCode(codeStart, new Error()); // and where it ends
