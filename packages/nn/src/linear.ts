// Linear (y = x·Wᵀ + b) as a customOp over gemm's transpose flag, so W is never copied to be
// transposed, and the Linear module around it, initialised as PyTorch's nn.Linear (or Glorot's way).
import {
  add,
  customOp,
  DTypeError,
  formatShape as fmt,
  matmul,
  ShapeError,
  Tensor,
  type TypedArray,
  transpose,
  zeros,
} from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { allocate, markLibraryCode } from '@tapegrad/core/kernels';
import { freshGrad, gradCarving, passedGrad } from './cells/common.js';
import { type InitOptions, uniform, xavierUniform } from './init.js';
import { Module, Parameter } from './module.js';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

export interface Dims {
  rows: number;
  inFeatures: number;
  outFeatures: number;
}

function checkLinear(inputs: readonly Tensor[]): Dims {
  const [x, weight, bias] = inputs as [Tensor, Tensor, Tensor | undefined];
  if (inputs.length < 2 || inputs.length > 3) {
    throw new TypeError(`linear: expected (x, weight, bias?), got ${inputs.length} tensors`);
  }
  for (const t of inputs) {
    if (t.dtype !== x.dtype) throw new DTypeError(`linear: dtypes differ: x ${x.dtype}, ${t.dtype}`);
  }
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  if (weight.rank !== 2 || x.rank === 0 || x.shape[x.rank - 1] !== inFeatures) {
    throw new ShapeError(`linear: x ${fmt(x.shape)} does not fit weight ${fmt(weight.shape)} = [out, in]`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== outFeatures)) {
    throw new ShapeError(`linear: bias ${fmt(bias.shape)} does not fit weight ${fmt(weight.shape)}`);
  }
  // The leading axes' product (x.size / inFeatures would be 0/0 for inFeatures 0)
  let rows = 1;
  for (let i = 0; i < x.rank - 1; i++) rows *= x.shape[i]!;
  return { rows, inFeatures, outFeatures };
}

/** out [rows, out] = x·weightᵀ (+ bias on every row); out's values need not be zeros. Returns out. */
export function linearInto(
  out: TypedArray,
  { rows, inFeatures, outFeatures }: Dims,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
): TypedArray {
  if (bias) kernels.broadcastInto(bias.data, bias.shape, out, [rows, outFeatures]);
  kernels.gemm({
    a: x.data,
    b: weight.data,
    c: out,
    m: rows,
    n: outFeatures,
    k: inFeatures,
    transB: true,
    accumulate: bias !== undefined,
  });
  return out;
}

/**
 * The grads of linear's inputs from gy [rows, out] (nulls for inputs that do not require grad; none for
 * an absent bias), times `scale`: dx = g·W, dW = gᵀ·x, db = Σ_rows g. The scale goes on these results,
 * not on gy, which stays as it is; over no rows they are empty sums, 0 whatever the scale.
 */
export function linearGrads(
  gy: TypedArray,
  { rows, inFeatures, outFeatures }: Dims,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  scale = 1,
): (Tensor | null)[] {
  const from = gradCarving([x, weight, bias]);
  const scaled = (out: TypedArray) => {
    if (scale !== 1 && rows > 0) kernels.map(out, out, (v) => v * scale);
  };
  const grads = [
    passedGrad(x, from, (out) => {
      kernels.gemm({ a: gy, b: weight.data, c: out, m: rows, n: inFeatures, k: outFeatures });
      scaled(out);
    }),
    freshGrad(weight, from, (out) => {
      kernels.gemm({ a: gy, b: x.data, c: out, m: outFeatures, n: inFeatures, k: rows, transA: true });
      scaled(out);
    }),
  ];
  if (bias) {
    grads.push(
      freshGrad(bias, from, (out) => {
        kernels.sumToShape(gy, [rows, outFeatures], [outFeatures], out);
        scaled(out);
      }),
    );
  }
  return grads;
}

/** y [..., out] = x [..., in] · weightᵀ (+ bias [out]); the leading axes of x are rows. */
export const linearOp = customOp<Dims>({
  name: 'linear',
  forward(inputs) {
    const dims = checkLinear(inputs);
    const { rows, outFeatures } = dims;
    const [x, weight, bias] = inputs as [Tensor, Tensor, Tensor | undefined];
    const out = linearInto(allocate(x.dtype, rows * outFeatures), dims, x, weight, bias);
    const shape = x.shape.slice();
    shape[shape.length - 1] = outFeatures;
    return { outputs: new Tensor(out, shape), residuals: dims };
  },
  backward([g], dims, inputs) {
    const [x, weight, bias] = inputs as [Tensor, Tensor, Tensor | undefined];
    return linearGrads(g!.data, dims, x, weight, bias);
  },
  reference: (x, weight, bias) => {
    const y = matmul(x!, transpose(weight!));
    return bias ? add(y, bias) : y;
  },
});

/** y = x·weightᵀ + bias (bias optional). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return (bias ? linearOp(x, weight, bias) : linearOp(x, weight)) as Tensor;
}

export interface LinearOptions extends InitOptions {
  /** Learn an additive bias (default true). */
  bias?: boolean;
  /**
   * 'pytorch' (default): torch.nn.Linear's reset_parameters, weight and bias uniform(±1/√in) (its
   * kaiming_uniform with a = √5 has that bound), drawn weight first, then bias; both 0 when in is 0.
   * 'glorot': weight uniform(±√(6 / (in + out))) and bias zeros (Glorot's own recipe; one draw).
   */
  init?: 'pytorch' | 'glorot';
}

/** y = x·Wᵀ + b with weight [out, in] and bias [out] (PyTorch's layout and names). */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  /** Weight and bias uniform(±1/√in) as PyTorch's, weight drawn first; `init: 'glorot'` for Glorot's. */
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    for (const [name, n] of [
      ['inFeatures', inFeatures],
      ['outFeatures', outFeatures],
    ] as const) {
      if (!Number.isInteger(n) || n < 0)
        throw new RangeError(`Linear: ${name} must be an integer ≥ 0, got ${n}`);
    }
    const init = options.init ?? 'pytorch';
    if (init !== 'pytorch' && init !== 'glorot') {
      throw new RangeError(`Linear: init must be 'pytorch' or 'glorot', got ${String(init)}`);
    }
    const withBias = options.bias ?? true;
    if (init === 'glorot') {
      this.weight = this.registerParameter(
        'weight',
        new Parameter(xavierUniform([outFeatures, inFeatures], options)),
      );
      this.bias = withBias
        ? this.registerParameter('bias', new Parameter(zeros([outFeatures], { dtype: options.dtype })))
        : null;
    } else {
      // torch: kaiming_uniform_(weight, a=√5), i.e. bound √(6 / (1 + a²)) / √in = 1/√in; then the bias
      // uniform(±1/√in) (0 when in is 0). The order of the draws is torch's and fixed: weight, then bias.
      const bound = inFeatures > 0 ? 1 / Math.sqrt(inFeatures) : 0;
      this.weight = this.registerParameter(
        'weight',
        new Parameter(uniform([outFeatures, inFeatures], bound, options)),
      );
      this.bias = withBias
        ? this.registerParameter('bias', new Parameter(uniform([outFeatures], bound, options)))
        : null;
    }
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

markLibraryCode(codeStart, new Error()); // and where it ends
