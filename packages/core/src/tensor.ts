// Tensor: an immutable, contiguous, row-major typed array with a shape, plus the factories.
import { markLibraryCode } from './callSite.js';
import { type DType, DTypeError, dtypeOf, isDType, type TypedArray } from './dtype.js';
import { allocate } from './memory/arena.js';
import { disposedError, keep, track } from './memory/tidy.js';
import { checkBytes, checkShape, fmt, type Shape, ShapeError, sameShape, sizeOf } from './shape.js';
import type { Node } from './tape.js';
import { type BackwardOptions, backward as runBackward } from './tape.js';

// Where this module's code starts, so that its frames are known for core's in any bundle (callSite.ts).
const codeStart = new Error();

export type NestedArray = number | readonly NestedArray[];

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

export class Tensor {
  readonly dtype: DType;
  readonly shape: Shape;
  readonly size: number;
  /** Leaves with requiresGrad accumulate into `.grad` on backward, as in PyTorch. */
  requiresGrad: boolean;
  /** @internal the values; null once a tidy scope has disposed this tensor. */
  _data: TypedArray | null;
  /** @internal set by keep(): no tidy scope disposes this tensor. */
  _kept = false;
  #grad: Tensor | null = null;
  /** @internal the tape node that made this tensor, and which of its outputs this is. */
  node: Node | null = null;
  /** @internal */
  outputIndex = 0;

  /**
   * The no-copy constructor, for op and customOp authors: the buffer is taken as it is and must never
   * be written again. Everyone else: `tensor()`, which copies.
   */
  constructor(data: TypedArray, shape: Shape, requiresGrad = false) {
    const size = sizeOf(shape);
    if (data.length !== size) {
      throw new ShapeError(`tensor: ${data.length} values do not fill shape [${shape.join(',')}] (${size})`);
    }
    this._data = data;
    // A frozen shape (every tensor's own) is shared as it is; any other is copied so that it cannot change.
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze([...shape]);
    this.dtype = dtypeOf(data);
    this.size = size;
    this.requiresGrad = requiresGrad;
    track(this);
  }

  /** The values, row-major; never written after the tensor is made. */
  get data(): TypedArray {
    if (this._data === null) throw disposedError('', this);
    return this._data;
  }

  /** True once a tidy scope has disposed this tensor (reading it then throws). */
  get isDisposed(): boolean {
    return this._data === null;
  }

  /** The grad that backward accumulated, or null. A tensor assigned here is never disposed by tidy. */
  get grad(): Tensor | null {
    return this.#grad;
  }

  set grad(g: Tensor | null) {
    // (Anything else is stored as given: the optimizer's step names a grad that is not a Tensor.)
    if (g instanceof Tensor) keep(g);
    this.#grad = g;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** True for results of recorded ops; false for leaves. */
  get isLeaf(): boolean {
    return this.node === null;
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1)
      throw new ShapeError(`item: needs a one-element tensor, got shape [${this.shape.join(',')}]`);
    return this.data[0]!;
  }

  /** Nested plain arrays (a number for shape []). */
  toArray(): NestedArray {
    const build = (axis: number, offset: number): NestedArray => {
      if (axis === this.shape.length) return this.data[offset]!;
      const dim = this.shape[axis]!;
      const stride = sizeOf(this.shape.slice(axis + 1));
      return Array.from({ length: dim }, (_, i) => build(axis + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  /** Reverse mode from this tensor; a non-scalar needs a seed of its own shape. */
  backward(seed?: Tensor, options?: BackwardOptions): void {
    runBackward(this, seed, options);
  }

  /** The same values, cut from the graph (shares the buffer, which is never mutated). */
  detach(): Tensor {
    return new Tensor(this.data, this.shape);
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(',')}])`;
  }
}

function inferShape(values: NestedArray, shape: number[] = []): number[] {
  if (typeof values === 'number') return shape;
  if (!Array.isArray(values))
    throw new TypeError(`tensor: expected numbers or nested arrays, got ${typeof values}`);
  shape.push(values.length);
  return values.length > 0 ? inferShape(values[0] as NestedArray, shape) : shape;
}

function fill(values: NestedArray, shape: Shape, axis: number, out: TypedArray, pos: { i: number }): void {
  if (axis === shape.length) {
    if (typeof values !== 'number')
      throw new ShapeError(`tensor: ragged nested array (expected shape [${shape.join(',')}])`);
    out[pos.i++] = values;
    return;
  }
  if (!Array.isArray(values) || values.length !== shape[axis]) {
    throw new ShapeError(`tensor: ragged nested array (expected shape [${shape.join(',')}])`);
  }
  for (const v of values) fill(v as NestedArray, shape, axis + 1, out, pos);
}

function checkDType(op: string, dtype: unknown): DType {
  if (!isDType(dtype))
    throw new DTypeError(`${op}: unknown dtype ${String(dtype)} (expected 'float32' or 'float64')`);
  return dtype;
}

/**
 * A tensor from a number, nested arrays, or a typed array (with `shape`, default 1-D).
 * Values are copied. dtype defaults to float32, or to the typed array's own dtype.
 */
export function tensor(
  values: NestedArray | TypedArray,
  options: TensorOptions & { shape?: readonly number[] } = {},
): Tensor {
  if (values instanceof Float32Array || values instanceof Float64Array) {
    const dtype = checkDType('tensor', options.dtype ?? dtypeOf(values));
    // A float32 array copied into float64 takes twice its bytes.
    const shape = checkShape('tensor', options.shape ?? [values.length], dtype);
    const data = allocate(dtype, values.length);
    data.set(values);
    return new Tensor(data, shape, options.requiresGrad ?? false);
  }
  const dtype = checkDType('tensor', options.dtype ?? 'float32');
  const inferred = inferShape(values);
  checkBytes('tensor', inferred, dtype);
  const shape = options.shape ? checkShape('tensor', options.shape, dtype) : inferred;
  const data = allocate(dtype, sizeOf(inferred));
  fill(values, inferred, 0, data, { i: 0 });
  if (sizeOf(shape) !== data.length) {
    throw new ShapeError(`tensor: ${data.length} values do not fill shape [${shape.join(',')}]`);
  }
  return new Tensor(data, shape, options.requiresGrad ?? false);
}

/** full under the name of the factory the user called, so that an error names it. */
function filled(op: string, shape: readonly number[], value: number, options: TensorOptions): Tensor {
  checkShape(op, shape);
  if (typeof value !== 'number')
    throw new TypeError(`${op}: the fill value must be a number, got ${typeof value}`);
  const dtype = checkDType(op, options.dtype ?? 'float32');
  checkBytes(op, shape, dtype);
  const data = allocate(dtype, sizeOf(shape));
  if (value !== 0) data.fill(value);
  return new Tensor(data, shape, options.requiresGrad ?? false);
}

export const full = (shape: readonly number[], value: number, options: TensorOptions = {}): Tensor =>
  filled('full', shape, value, options);
export const zeros = (shape: readonly number[], options: TensorOptions = {}): Tensor =>
  filled('zeros', shape, 0, options);
export const ones = (shape: readonly number[], options: TensorOptions = {}): Tensor =>
  filled('ones', shape, 1, options);
export const zerosLike = (t: Tensor, options: TensorOptions = {}): Tensor =>
  filled('zerosLike', like('zerosLike', t).shape, 0, { dtype: t.dtype, ...options });
export const onesLike = (t: Tensor, options: TensorOptions = {}): Tensor =>
  filled('onesLike', like('onesLike', t).shape, 1, { dtype: t.dtype, ...options });

function like(op: string, t: unknown): Tensor {
  if (!(t instanceof Tensor))
    throw new TypeError(`${op}: expected a Tensor, got ${t === null ? 'null' : typeof t}`);
  return t;
}

/** numpy's arange: [start, stop) by step; arange(n) counts 0..n-1. */
export function arange(start: number, stop?: number, step = 1, options: TensorOptions = {}): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  if (!Number.isFinite(start) || !Number.isFinite(stop) || !Number.isFinite(step) || step === 0) {
    throw new RangeError(
      `arange: start ${start}, stop ${stop} and step ${step} must be finite, step non-zero`,
    );
  }
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const dtype = checkDType('arange', options.dtype ?? 'float32');
  checkShape('arange', [n], dtype);
  const data = allocate(dtype, n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return new Tensor(data, [n], options.requiresGrad ?? false);
}

/** The n×m identity (m defaults to n). */
export function eye(n: number, m = n, options: TensorOptions = {}): Tensor {
  const dtype = checkDType('eye', options.dtype ?? 'float32');
  checkShape('eye', [n, m], dtype);
  const data = allocate(dtype, n * m);
  for (let i = 0; i < Math.min(n, m); i++) data[i * m + i] = 1;
  return new Tensor(data, [n, m], options.requiresGrad ?? false);
}

/** @internal a tensor over a buffer the caller just made (no copy). */
export function fromData(data: TypedArray, shape: Shape): Tensor {
  return new Tensor(data, shape);
}

/**
 * For layers and optimizers (nn's Parameter.assign): makes the leaf `target` view `value`'s buffer from
 * now on, shared, never copied. Tensors never write their buffer, so a weight update swaps buffers;
 * `target` keeps its identity, its `.grad` and its place in modules and optimizers. Same dtype and shape
 * (no implicit cast or reshape), and `target` is a leaf: a recorded op's output is what its graph says
 * it is. The buffer now belongs to `target`, so `value` is kept (no tidy scope disposes it and recycles
 * the buffer). A graph recorded earlier with `target` as an input reads the new values in its backward:
 * run backward before the update, as in PyTorch.
 */
export function replaceLeafData(target: Tensor, value: Tensor): void {
  if (!(target instanceof Tensor) || !(value instanceof Tensor)) {
    throw new TypeError('replaceLeafData: expected two Tensors');
  }
  if (target.node !== null)
    throw new Error('replaceLeafData: the target is the output of a recorded op, not a leaf');
  // Called for every parameter on every optimizer step: the message is made only when it is thrown.
  const message = () =>
    `replaceLeafData: expected ${target.dtype} ${fmt(target.shape)}, got ${value.dtype} ${fmt(value.shape)}`;
  if (value.dtype !== target.dtype) throw new DTypeError(message());
  if (!sameShape(target.shape, value.shape)) throw new ShapeError(message());
  if (target._data === null) throw disposedError('replaceLeafData: target ', target);
  const data = value.data; // throws if value was disposed
  keep(value);
  target._data = data;
}

markLibraryCode(codeStart, new Error()); // and where it ends
