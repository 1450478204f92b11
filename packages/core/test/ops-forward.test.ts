// Forward values of every elementwise, reduction and matmul op against numpy, in both dtypes.
// The reference values are test/fixtures/core_ops.json, written by scripts/fixtures/core_ops.py.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type DType,
  logSoftmax,
  logSumExp,
  mean,
  ops,
  sigmoid,
  softmax,
  sum,
  type Tensor,
  tanh,
  tensor,
} from '../src/index.js';
import * as elementwise from '../src/ops/elementwise.js';
import * as matmulOps from '../src/ops/matmul.js';
import * as reduce from '../src/ops/reduce.js';
import { expectClose, F32, F64 } from './close.js';

interface Values {
  shape: number[];
  values: number[];
}
interface Case {
  name: string;
  op: string;
  inputs: Values[];
  out: Values;
  args?: {
    axis?: number | number[];
    keepDims?: boolean;
    p?: number;
    min?: number;
    max?: number;
    dtype?: DType;
  };
  f32atol?: number;
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/core_ops.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};

type Args = NonNullable<Case['args']>;
const reduceOptions = (a: Args) => ({ axis: a.axis, keepDims: a.keepDims });

/** How each op is called from a fixture case (inputs as tensors, the rest from args). */
const call: Record<string, (xs: Tensor[], a: Args) => Tensor> = {
  add: ([x, y]) => ops.add(x!, y!),
  sub: ([x, y]) => ops.sub(x!, y!),
  mul: ([x, y]) => ops.mul(x!, y!),
  div: ([x, y]) => ops.div(x!, y!),
  maximum: ([x, y]) => ops.maximum(x!, y!),
  minimum: ([x, y]) => ops.minimum(x!, y!),
  neg: ([x]) => ops.neg(x!),
  exp: ([x]) => ops.exp(x!),
  log: ([x]) => ops.log(x!),
  sqrt: ([x]) => ops.sqrt(x!),
  tanh: ([x]) => ops.tanh(x!),
  sigmoid: ([x]) => ops.sigmoid(x!),
  relu: ([x]) => ops.relu(x!),
  abs: ([x]) => ops.abs(x!),
  pow: ([x], a) => ops.pow(x!, a.p!),
  clip: ([x], a) => ops.clip(x!, a.min!, a.max!),
  where: ([c, x, y]) => ops.where(c!, x!, y!),
  astype: ([x], a) => ops.astype(x!, a.dtype!),
  matmul: ([x, y]) => ops.matmul(x!, y!),
  sum: ([x], a) => ops.sum(x!, reduceOptions(a)),
  mean: ([x], a) => ops.mean(x!, reduceOptions(a)),
  max: ([x], a) => ops.max(x!, reduceOptions(a)),
  min: ([x], a) => ops.min(x!, reduceOptions(a)),
  logSumExp: ([x], a) => ops.logSumExp(x!, reduceOptions(a)),
  softmax: ([x], a) => ops.softmax(x!, a.axis as number | undefined),
  logSoftmax: ([x], a) => ops.logSoftmax(x!, a.axis as number | undefined),
};

// Shape ops (reshape, concat, ...) are tested beside ops/shape.ts; this file owns the rest.
const owned = new Set<unknown>([
  ...Object.values(elementwise),
  ...Object.values(reduce),
  ...Object.values(matmulOps),
]);
const ownedOps = Object.entries(ops)
  .filter(([, fn]) => owned.has(fn))
  .map(([name]) => name);

describe('op registry coverage', () => {
  it('has numpy cases for every elementwise, reduction and matmul op in the registry', () => {
    expect(ownedOps.length).toBeGreaterThanOrEqual(26);
    const covered = new Set(fixture.cases.map((c) => c.op));
    expect(ownedOps.filter((name) => !covered.has(name) || !(name in call))).toEqual([]);
  });
});

describe.each(['float64', 'float32'] as const)('forward against numpy (%s)', (dtype) => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const xs = c.inputs.map((v) => tensor(Float64Array.from(v.values), { dtype, shape: v.shape }));
    const out = call[c.op]!(xs, c.args ?? {});
    const outDType = c.op === 'astype' ? c.args!.dtype! : dtype;
    expect(out.dtype).toBe(outDType);
    const tol = dtype === 'float64' && outDType === 'float64' ? F64 : { ...F32, atol: c.f32atol ?? F32.atol };
    expectClose(out, c.out, tol, c.name);
  });
});

describe('recording', () => {
  // Errors from the engine name the node's op, so each op must record itself under its registry name.
  it.each(ownedOps)('%s records a node named after it', (name) => {
    const c = fixture.cases.find((k) => k.op === name)!;
    const xs = c.inputs.map((v) =>
      tensor(v.values, { dtype: 'float64', shape: v.shape, requiresGrad: true }),
    );
    const out = call[name]!(xs, c.args ?? {});
    expect(out.node?.op).toBe(name);
    expect(out.requiresGrad).toBe(true);
  });
});

describe('numerical stability', () => {
  it('sigmoid saturates to exactly 0 and 1 at ±1000 with no NaN', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      expect(sigmoid(tensor([-1000, 1000, -Infinity, Infinity], { dtype })).toArray()).toEqual([0, 1, 0, 1]);
      expect(tanh(tensor([-1000, 1000], { dtype })).toArray()).toEqual([-1, 1]);
    }
  });

  it('float32 sums do not stall at 2^24 (numpy sums pairwise; a running float32 sum would)', () => {
    const values = new Float32Array(1001).fill(1);
    values[0] = 2 ** 24;
    const x = tensor(values);
    expect(sum(x).item()).toBe(2 ** 24 + 1000);
    expect(sum(tensor(values, { shape: [1001, 1] }), { axis: 0 }).item()).toBe(2 ** 24 + 1000);
    expect(mean(x).item()).toBe(Math.fround((2 ** 24 + 1000) / 1001));
  });

  it('softmax, logSumExp and logSoftmax of logits near 1e4 (and all -inf) stay finite', () => {
    const logits = tensor([1e4, 1e4 + 1, 1e4 - 2, -1e4], { dtype: 'float32' });
    for (const out of [softmax(logits), logSumExp(logits), logSoftmax(logits)]) {
      expect(Array.from(out.data).every(Number.isFinite)).toBe(true);
    }
    // all -inf: numpy's shifted logsumexp gives -inf, not NaN
    expect(logSumExp(tensor([-Infinity, -Infinity], { dtype: 'float64' })).item()).toBe(-Infinity);
  });
});
