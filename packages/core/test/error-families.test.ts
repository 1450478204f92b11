// Every public function of core, called wrongly, one family of mistakes per test: the error is
// typed and its message names the function and what was wrong (never a TypeError from deep inside,
// never a silent result). Where numpy gives an answer (empty tensors), so do we.
import { describe, expect, it } from 'vitest';
import {
  abs,
  add,
  arange,
  astype,
  broadcastTo,
  clip,
  concat,
  customOp,
  DTypeError,
  div,
  exp,
  eye,
  full,
  gather,
  grad,
  indexSelect,
  log,
  logSoftmax,
  logSumExp,
  matmul,
  max,
  maximum,
  mean,
  min,
  minimum,
  mul,
  neg,
  noGrad,
  ones,
  onesLike,
  permute,
  pow,
  RandomState,
  relu,
  reshape,
  ShapeError,
  sigmoid,
  slice,
  softmax,
  split,
  sqrt,
  squeeze,
  stack,
  sub,
  sum,
  Tensor,
  tanh,
  tensor,
  transpose,
  unsqueeze,
  valueAndGrad,
  vjp,
  where,
  zeroGrad,
  zeros,
  zerosLike,
} from '../src/index.js';

type ErrorClass = new (...args: never[]) => Error;
type Case = [call: string, fn: () => unknown, type: ErrorClass, message: RegExp];

/** Runs each case: it must throw an error of its class whose message matches (the op's name first). */
function expectAll(cases: readonly Case[]): void {
  for (const [call, fn, type, message] of cases) {
    let thrown: unknown;
    try {
      fn();
    } catch (error) {
      thrown = error;
    }
    expect(thrown, `${call} did not throw`).toBeInstanceOf(Error);
    expect(thrown, `${call} threw ${String(thrown)}`).toBeInstanceOf(type);
    const text = (thrown as Error).message;
    expect(text, call).toMatch(message);
    expect(text, `${call}: ${text}`).not.toMatch(
      /Cannot read propert|is not a function|is not iterable|Invalid typed array/,
    );
  }
}

const x23 = tensor([
  [1, 2, 3],
  [4, 5, 6],
]);
const x4 = tensor([1, 2, 3, 4]);
const x23f64 = tensor(
  [
    [1, 2, 3],
    [4, 5, 6],
  ],
  { dtype: 'float64' },
);
const empty = zeros([0, 3]);

describe('error families of core', () => {
  it('wrong shapes: the op and both shapes are named', () => {
    const binaries = { add, sub, mul, div, maximum, minimum } as const;
    expectAll([
      ...Object.entries(binaries).map(
        ([name, op]): Case => [
          `${name}([2,3], [4])`,
          () => op(x23, x4),
          ShapeError,
          new RegExp(`^${name}: shapes \\[2,3\\] and \\[4\\] cannot be broadcast`),
        ],
      ),
      ['where', () => where(x4, x23, x23), ShapeError, /^where: shapes \[4\] and \[2,3\] and \[2,3\]/],
      ['matmul', () => matmul(x23, x23), ShapeError, /^matmul: inner dimensions differ: \[2,3\] @ \[2,3\]/],
      [
        'matmul batch',
        () => matmul(zeros([2, 2, 3]), zeros([3, 3, 2])),
        ShapeError,
        /^matmul: batch dimensions/,
      ],
      ['matmul scalar', () => matmul(tensor(1), x23), ShapeError, /^matmul: operands must have at least one/],
      [
        'reshape',
        () => reshape(x23, [4]),
        ShapeError,
        /^reshape: cannot reshape \[2,3\] \(6 elements\) into \[4\]/,
      ],
      ['permute', () => permute(x23, [0]), ShapeError, /^permute: axes \[0\] do not match rank 2/],
      [
        'permute twice',
        () => permute(x23, [0, 0]),
        ShapeError,
        /^permute: axes \[0,0\] are not a permutation/,
      ],
      [
        'concat',
        () => concat([x23, x4]),
        ShapeError,
        /^concat: tensor 1 has shape \[4\], tensor 0 has \[2,3\]/,
      ],
      ['stack', () => stack([x23, x4]), ShapeError, /^stack: tensor 1 has shape \[4\]/],
      ['split', () => split(x23, 4, 1), ShapeError, /^split: axis 1 of \[2,3\] has length 3/],
      ['squeeze', () => squeeze(x23, 0), ShapeError, /^squeeze: axis 0 has size 2, not 1/],
      [
        'broadcastTo',
        () => broadcastTo(x23, [3, 3]),
        ShapeError,
        /^broadcastTo: cannot broadcast \[2,3\] to \[3,3\]/,
      ],
      [
        'slice',
        () => slice(x23, [0, 0, 0], [1, 1, 1]),
        ShapeError,
        /^slice: starts \[0,0,0\] has more entries/,
      ],
      [
        'gather',
        () => gather(x23, 1, tensor([0])),
        ShapeError,
        /^gather: indices of shape \[1\] must have the rank/,
      ],
      [
        'tensor',
        () => tensor([1, 2], { shape: [3] }),
        ShapeError,
        /^tensor: 2 values do not fill shape \[3\]/,
      ],
      ['tensor ragged', () => tensor([[1], [2, 3]]), ShapeError, /^tensor: ragged nested array/],
      ['item', () => x23.item(), ShapeError, /^item: needs a one-element tensor, got shape \[2,3\]/],
      [
        'backward seed',
        () => mul(tensor([1, 2], { requiresGrad: true }), 2).backward(tensor([1, 2, 3])),
        ShapeError,
        /^backward: seed shape \[3\] differs from output shape \[2\]/,
      ],
      [
        'backward non-scalar',
        () => mul(tensor([1, 2], { requiresGrad: true }), 2).backward(),
        ShapeError,
        /^backward: output has shape \[2\]; a non-scalar output needs a seed/,
      ],
      [
        'grad non-scalar',
        () => grad((t: Tensor) => mul(t, 2))(x4),
        ShapeError,
        /^grad: output has shape \[4\]/,
      ],
      [
        'vjp cotangent',
        () => vjp((t) => mul(t, 2), x4)[1](x23),
        ShapeError,
        /^vjp: seed shape \[2,3\] differs from output shape \[4\]/,
      ],
    ]);
  });

  it('wrong axes: the op, the axis and the rank are named', () => {
    const reductions = { sum, mean, max, min, logSumExp } as const;
    expectAll([
      ...Object.entries(reductions).flatMap(([name, op]): Case[] => [
        [
          `${name} axis 2`,
          () => op(x23, { axis: 2 }),
          ShapeError,
          new RegExp(`^${name}: axis 2 is out of range for rank 2`),
        ],
        [
          `${name} axis NaN`,
          () => op(x23, { axis: Number.NaN }),
          ShapeError,
          new RegExp(`^${name}: axis NaN is out of range`),
        ],
        [
          `${name} axis 0.5`,
          () => op(x23, { axis: 0.5 }),
          ShapeError,
          new RegExp(`^${name}: axis 0.5 is out of range`),
        ],
        [
          `${name} axis twice`,
          () => op(x23, { axis: [0, 0] }),
          ShapeError,
          new RegExp(`^${name}: axis 0 repeated`),
        ],
      ]),
      ['softmax', () => softmax(x23, 2), ShapeError, /^softmax: axis 2 is out of range for rank 2/],
      [
        'logSoftmax of a scalar',
        () => logSoftmax(tensor(1)),
        ShapeError,
        /^logSoftmax: axis -1 is out of range for rank 0/,
      ],
      ['transpose', () => transpose(x23, [1, 2]), ShapeError, /^transpose: axis 2 is out of range/],
      ['unsqueeze', () => unsqueeze(x23, 5), ShapeError, /^unsqueeze: axis 5 is out of range \[-3, 2\]/],
      ['concat', () => concat([x23, x23], 5), ShapeError, /^concat: axis 5 is out of range/],
      ['stack', () => stack([x23, x23], Number.NaN), ShapeError, /^stack: axis NaN is out of range/],
      [
        'indexSelect',
        () => indexSelect(x23, 3, [0]),
        ShapeError,
        /^indexSelect: axis 3 is out of range for rank 2/,
      ],
      [
        'grad argnums',
        () => grad((t: Tensor) => sum(t), { argnums: 3 })(x4),
        RangeError,
        /^grad: argnums 3 is out of range for 1 arguments/,
      ],
    ]);
  });

  it('wrong dtypes: the op and both dtypes are named, nothing is cast silently', () => {
    const binaries = { add, sub, mul, div, maximum, minimum, matmul } as const;
    expectAll([
      ...Object.entries(binaries).map(
        ([name, op]): Case => [
          `${name}(float32, float64)`,
          () => op(x23, name === 'matmul' ? reshape(x23f64, [3, 2]) : x23f64),
          DTypeError,
          new RegExp(`^${name}: dtypes differ: float32 and float64`),
        ],
      ),
      ['where', () => where(x23, x23, x23f64), DTypeError, /^where: dtypes differ/],
      [
        'concat',
        () => concat([x23, x23f64]),
        DTypeError,
        /^concat: tensor 1 is float64, tensor 0 is float32/,
      ],
      ['astype', () => astype(x23, 'int8' as never), DTypeError, /^astype: unknown dtype int8/],
      ['tensor', () => tensor([1], { dtype: 'int32' as never }), DTypeError, /^tensor: unknown dtype int32/],
      ['onesLike', () => onesLike(x23, { dtype: 'half' as never }), DTypeError, /unknown dtype half/],
      [
        'backward seed',
        () => mul(tensor([1, 2], { requiresGrad: true }), 2).backward(tensor([1, 2], { dtype: 'float64' })),
        DTypeError,
        /^backward: seed dtype float64 differs from output dtype float32/,
      ],
      [
        'vjp cotangent',
        () => vjp((t) => mul(t, 2), x4)[1](tensor([1, 2, 3, 4], { dtype: 'float64' })),
        DTypeError,
        /^vjp: cotangent dtype float64 differs from output dtype float32/,
      ],
      ['RandomState.randn', () => new RandomState(0).randn(2, { dtype: 'int' as never }), Error, /randn/],
    ]);
  });

  it('NaN in a shape: refused by every function that takes a shape, naming it', () => {
    expectAll([
      [
        'tensor',
        () => tensor([1, 2], { shape: [Number.NaN] }),
        ShapeError,
        /^tensor: invalid size NaN in shape \[NaN\]/,
      ],
      ['zeros', () => zeros([Number.NaN]), ShapeError, /^zeros: invalid size NaN/],
      ['ones', () => ones([2, Number.NaN]), ShapeError, /^ones: invalid size NaN in shape \[2,NaN\]/],
      ['full', () => full([Number.NaN], 1), ShapeError, /^full: invalid size NaN/],
      ['eye', () => eye(Number.NaN), ShapeError, /^eye: invalid size NaN/],
      [
        'arange',
        () => arange(Number.NaN),
        RangeError,
        /^arange: start 0, stop NaN and step 1 must be finite/,
      ],
      ['reshape', () => reshape(x23, [Number.NaN]), ShapeError, /^reshape: invalid size NaN in \[NaN\]/],
      ['broadcastTo', () => broadcastTo(x23, [Number.NaN, 3]), ShapeError, /^broadcastTo: invalid size NaN/],
      [
        'split',
        () => split(x23, Number.NaN, 1),
        ShapeError,
        /^split: sections must be a positive integer, got NaN/,
      ],
      [
        'slice',
        () => slice(x23, [Number.NaN], [1]),
        ShapeError,
        /^slice: starts NaN on axis 0 is not an integer/,
      ],
      [
        'indexSelect',
        () => indexSelect(x23, 0, [Number.NaN]),
        RangeError,
        /^indexSelect: index NaN at position \[0\] is not an integer/,
      ],
      [
        'gather',
        () => gather(x23, 1, tensor([[Number.NaN]])),
        RangeError,
        /^gather: index NaN at position \[0,0\]/,
      ],
      [
        'RandomState.normal',
        () => new RandomState(0).normal(0, 1, [Number.NaN]),
        Error,
        /^RandomState\.normal: size\[0\] \(NaN\)/,
      ],
      // numpy's randn(2, 3) takes numbers; an array used to be read as the options and give one draw.
      [
        'RandomState.randn([2, 3])',
        () => new RandomState(0).randn([2, 3] as never),
        TypeError,
        /^RandomState\.randn: takes dims as separate numbers/,
      ],
      [
        'RandomState.rand([NaN])',
        () => new RandomState(0).rand([Number.NaN] as never),
        TypeError,
        /^RandomState\.rand: takes dims as separate numbers/,
      ],
    ]);
  });

  it('negative, fractional and impossible sizes: refused, naming the size', () => {
    expectAll([
      ['zeros([-1])', () => zeros([-1]), ShapeError, /^zeros: invalid size -1 in shape \[-1\]/],
      ['zeros([1.5])', () => zeros([1.5]), ShapeError, /^zeros: invalid size 1.5/],
      ['zeros(3)', () => zeros(3 as never), ShapeError, /^zeros: shape must be an array of sizes, got 3/],
      [
        'tensor',
        () => tensor(new Float32Array(2), { shape: [-2, -1] }),
        ShapeError,
        /^tensor: invalid size -2/,
      ],
      ['eye(2.5)', () => eye(2.5), ShapeError, /^eye: invalid size 2.5/],
      ['reshape [-2,-3]', () => reshape(x23, [-2, -3]), ShapeError, /^reshape: invalid size -2/],
      ['reshape [-1,-1]', () => reshape(x23, [-1, -1]), ShapeError, /^reshape: only one -1 allowed/],
      ['reshape [2.5,2]', () => reshape(x23, [2.5, 2]), ShapeError, /^reshape: invalid size 2.5/],
      ['broadcastTo', () => broadcastTo(x23, [-1, 2, 3]), ShapeError, /^broadcastTo: invalid size -1/],
      ['split sizes', () => split(x23, [-1, 4], 1), ShapeError, /^split: invalid size -1/],
      [
        'split 1.5',
        () => split(x23, 1.5, 1),
        ShapeError,
        /^split: sections must be a positive integer, got 1.5/,
      ],
      [
        'slice 0.5',
        () => slice(x23, [0.5], [1]),
        ShapeError,
        /^slice: starts 0.5 on axis 0 is not an integer/,
      ],
      [
        'indexSelect -1',
        () => indexSelect(x23, 0, [-1]),
        RangeError,
        /^indexSelect: index -1 at position \[0\] is out of range for axis 0 of size 2/,
      ],
      [
        'indexSelect 0.5',
        () => indexSelect(x23, 0, [0.5]),
        RangeError,
        /^indexSelect: index 0.5 at position \[0\] is not an integer/,
      ],
      [
        // An index list is held in float64, so an index past 2^24 is named as given, not rounded.
        'indexSelect 2^24 + 1',
        () => indexSelect(x23, 0, [2 ** 24 + 1]),
        RangeError,
        /^indexSelect: index 16777217 at position \[0\] is out of range/,
      ],
      [
        'gather 3',
        () => gather(x23, 1, tensor([[3]])),
        RangeError,
        /^gather: index 3 at position \[0,0\] is out of range/,
      ],
      [
        'RandomState.randn(-1)',
        () => new RandomState(0).randn(-1),
        Error,
        /^RandomState\.randn: size\[0\] \(-1\) must be a non-negative integer/,
      ],
      [
        'RandomState(1.5)',
        () => new RandomState(1.5),
        Error,
        /^RandomState\.seed: seed \(1\.5\) must be an integer/,
      ],
      // Buffers past MAX_BUFFER_BYTES (2 GiB) are a ShapeError naming the op, the shape, the dtype and
      // the bytes, not V8's "Invalid typed array length" (nor a lazily granted 16 GiB and an OOM kill).
      [
        'zeros([1e10, 1e10])',
        () => zeros([1e10, 1e10]),
        ShapeError,
        /^zeros: shape \[10000000000,10000000000\] of float32 needs 400000000000000000000 bytes \([^)]*\), more than the 2147483648 bytes \(2 GiB\) one tensor buffer may take/,
      ],
      [
        'arange(0, 1e12)',
        () => arange(0, 1e12),
        ShapeError,
        /^arange: shape \[1000000000000\] of float32 needs 4000000000000 bytes/,
      ],
      ['clip(x, 2, 1)', () => clip(x23, 2, 1), RangeError, /^clip: needs min ≤ max, got min 2, max 1/],
      ['clip(x, NaN, 1)', () => clip(x23, Number.NaN, 1), RangeError, /^clip: needs min ≤ max, got min NaN/],
      // A non-number max slips past Number.isNaN and past min > max (0 > 'a' is false): typeof refuses it.
      [
        'clip(x, 0, "a")',
        () => clip(x23, 0, 'a' as never),
        RangeError,
        /^clip: needs min ≤ max, got min 0, max a/,
      ],
      [
        'reshape(x, 6)',
        () => reshape(x23, 6 as never),
        ShapeError,
        /^reshape: shape must be an array, got 6$/,
      ],
      [
        'slice(x, 0, [1])',
        () => slice(x23, 0 as never, [1]),
        TypeError,
        /^slice: starts must be an array of integers$/,
      ],
      [
        'slice(x, [0], 1)',
        () => slice(x23, [0], 1 as never),
        TypeError,
        /^slice: stops must be an array of integers$/,
      ],
      ['pow(x, NaN tensor)', () => pow(x23, x23 as never), TypeError, /^pow: the exponent must be a number/],
    ]);
  });

  it('not a tensor, or not a number: each op names itself and what it got', () => {
    const unaries = { neg, exp, log, sqrt, tanh, sigmoid, relu, abs } as const;
    expectAll([
      ...Object.entries(unaries).flatMap(([name, op]): Case[] => [
        [
          `${name}(null)`,
          () => op(null as never),
          TypeError,
          new RegExp(`^${name}: expected a Tensor or a number, got null`),
        ],
        [
          `${name}([1, 2])`,
          () => op([1, 2] as never),
          TypeError,
          new RegExp(`^${name}: expected a Tensor or a number, got object`),
        ],
      ]),
      [
        'add(x, null)',
        () => add(x23, null as never),
        TypeError,
        /^add: expected a Tensor or a number, got null/,
      ],
      [
        'matmul(x, "a")',
        () => matmul(x23, 'a' as never),
        TypeError,
        /^matmul: expected a Tensor or a number, got string/,
      ],
      ['sum(undefined)', () => sum(undefined as never), TypeError, /^sum: expected a Tensor or a number/],
      [
        'reshape(null)',
        () => reshape(null as never, [1]),
        TypeError,
        /^reshape: expected a Tensor, got null/,
      ],
      ['concat(x)', () => concat(x23 as never), TypeError, /^concat: expected a non-empty array of tensors/],
      [
        'concat([x, null])',
        () => concat([x23, null as never]),
        TypeError,
        /^concat: tensor 1: expected a Tensor, got null/,
      ],
      ['stack([])', () => stack([]), TypeError, /^stack: expected a non-empty array/],
      ['astype(null)', () => astype(null as never, 'float32'), TypeError, /^astype: expected a Tensor/],
      [
        'tensor(null)',
        () => tensor(null as never),
        TypeError,
        /^tensor: expected numbers or nested arrays, got object/,
      ],
      [
        'tensor("a")',
        () => tensor('a' as never),
        TypeError,
        /^tensor: expected numbers or nested arrays, got string/,
      ],
      ['tensor([1, "a"])', () => tensor([1, 'a'] as never), ShapeError, /^tensor: ragged nested array/],
      // These four used to fail from inside (or, for clip and full, fill with NaN or 1 silently).
      ['clip(x, "a", 1)', () => clip(x23, 'a' as never, 1), RangeError, /^clip: needs min ≤ max, got min a/],
      [
        'full([2], "a")',
        () => full([2], 'a' as never),
        TypeError,
        /^full: the fill value must be a number, got string/,
      ],
      [
        'indexSelect(x, 0, null)',
        () => indexSelect(x23, 0, null as never),
        TypeError,
        /^indexSelect: indices must be a Tensor or an array of integers, got null/,
      ],
      [
        'zerosLike(null)',
        () => zerosLike(null as never),
        TypeError,
        /^zerosLike: expected a Tensor, got null/,
      ],
      [
        'grad of a non-function result',
        () => grad((_t: Tensor) => 3 as never)(x4),
        TypeError,
        /^grad: the function must return a Tensor/,
      ],
      [
        'grad of a non-tensor argument',
        () => grad((t: Tensor) => sum(t))([1, 2] as never),
        TypeError,
        /^grad: argument 0 is not a Tensor/,
      ],
      [
        'valueAndGrad argnums 0.5',
        () => valueAndGrad((t: Tensor) => sum(t), { argnums: 0.5 })(x4),
        RangeError,
        /^grad: argnums 0.5/,
      ],
      ['vjp(f, null)', () => vjp((t) => t, null as never), TypeError, /^grad: argument 0 is not a Tensor/],
      [
        'vjp cotangent null',
        () => vjp((t) => mul(t, 2), x4)[1](null as never),
        TypeError,
        /^vjp: the cotangent must be a Tensor/,
      ],
      [
        'backward(null seed)',
        () => mul(tensor([1, 2], { requiresGrad: true }), 2).backward(null as never),
        TypeError,
        /^backward: the seed must be a Tensor, got null/,
      ],
      ['noGrad(null)', () => noGrad(null as never), TypeError, /^noGrad: expected a function/],
      [
        'zeroGrad(null)',
        () => zeroGrad(null as never),
        TypeError,
        /^zeroGrad: expected an iterable of tensors/,
      ],
    ]);
  });

  it('custom ops written wrongly are named: spec, forward output, backward result', () => {
    const identity = (backward: () => unknown) =>
      customOp({
        name: 'mine',
        forward: ([t]) => ({ outputs: mul(t!, 1), residuals: null }),
        backward: backward as never,
      });
    const run = (op: ReturnType<typeof identity>) => () =>
      sum(op(tensor([1, 2], { requiresGrad: true })) as Tensor).backward();
    expectAll([
      ['customOp({})', () => customOp({} as never), TypeError, /^customOp: the spec needs a name/],
      [
        'customOp without backward',
        () => customOp({ name: 'half', forward: () => ({ outputs: x4, residuals: null }) } as never),
        TypeError,
        /^customOp 'half': backward must be a function/,
      ],
      [
        'forward returns a number',
        () =>
          customOp({
            name: 'num',
            forward: () => ({ outputs: 3 as never, residuals: null }),
            backward: () => [],
          })(x4),
        TypeError,
        /^num: forward output 0 is not a Tensor/,
      ],
      [
        'input not a tensor',
        () => identity(() => [null])(3 as never),
        TypeError,
        /^mine: input 0 is not a Tensor/,
      ],
      [
        'backward returns nothing',
        run(identity(() => undefined)),
        TypeError,
        /^backward: 'mine' returned undefined, not an array of grads/,
      ],
      [
        'backward returns a number',
        run(identity(() => [3])),
        TypeError,
        /^backward: 'mine' returned 3 for input 0 \(a Tensor or null expected\)/,
      ],
      [
        'backward returns too few',
        run(identity(() => [])),
        Error,
        /^backward: 'mine' returned 0 grads for 1 inputs/,
      ],
      [
        'backward returns the wrong shape',
        run(identity(() => [tensor([1, 2, 3])])),
        ShapeError,
        /^backward: 'mine' returned a grad of shape \[3\] for input 0 of shape \[2\]/,
      ],
      [
        'backward returns the wrong dtype',
        run(identity(() => [tensor([1, 2], { dtype: 'float64' })])),
        DTypeError,
        /^backward: 'mine' returned a float64 grad for float32 input 0/,
      ],
    ]);
  });

  it('detached and freed graphs: backward says why there is nothing to walk', () => {
    const leaf = () => tensor([1, 2], { requiresGrad: true });
    const twice = () => {
      const y = sum(mul(leaf(), 3));
      y.backward();
      y.backward();
    };
    expectAll([
      [
        'backward of a detached result',
        () => sum(mul(leaf(), 2)).detach().backward(),
        Error,
        /^backward: the output does not require grad/,
      ],
      [
        'backward of a tensor with no grad',
        () => x23.backward(),
        Error,
        /^backward: the output does not require grad \(no input had requiresGrad, or noGrad was on\)/,
      ],
      [
        'backward of a noGrad result',
        () => noGrad(() => sum(mul(leaf(), 2))).backward(),
        Error,
        /^backward: the output does not require grad/,
      ],
      [
        'backward twice',
        twice,
        Error,
        /^backward: the graph through 'sum' was freed by an earlier backward; pass \{ retainGraph: true \}/,
      ],
    ]);
    // And the ways that are allowed: retainGraph walks again; a detached input gets no grad.
    const x = leaf();
    const y = sum(mul(x, 3));
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(x.grad!.toArray()).toEqual([6, 6]);
    const z = leaf();
    sum(add(mul(z.detach(), 5), z)).backward();
    expect(z.grad!.toArray()).toEqual([1, 1]);
  });

  it('empty tensors: numpy’s answers where there is one, a named error where there is none', () => {
    expect(sum(empty).item()).toBe(0);
    expect(sum(empty, { axis: 0 }).toArray()).toEqual([0, 0, 0]);
    expect(Number.isNaN(mean(empty).item())).toBe(true); // numpy: nan (with a warning)
    expect(logSumExp(empty).item()).toBe(-Infinity); // scipy: -inf
    expect(exp(empty).shape).toEqual([0, 3]);
    expect(add(empty, tensor([1, 2, 3])).shape).toEqual([0, 3]);
    expect(matmul(empty, zeros([3, 4])).shape).toEqual([0, 4]);
    expect(matmul(zeros([2, 0]), zeros([0, 4])).toArray()).toEqual([
      [0, 0, 0, 0],
      [0, 0, 0, 0],
    ]);
    expect(softmax(empty, 0).shape).toEqual([0, 3]);
    expect(max(zeros([0, 3]), { axis: 1 }).shape).toEqual([0]); // numpy: max of [0,3] over axis 1 is []
    const g = grad((t: Tensor) => sum(mul(t, 2)))(zeros([0, 2], { dtype: 'float64' })) as Tensor;
    expect(g.shape).toEqual([0, 2]);
    expectAll([
      [
        'max over an empty axis',
        () => max(empty),
        ShapeError,
        /^max: cannot reduce over an empty axis of shape \[0,3\]/,
      ],
      [
        'min over an empty axis',
        () => min(empty, { axis: 0 }),
        ShapeError,
        /^min: cannot reduce over an empty axis/,
      ],
      [
        'item of an empty tensor',
        () => empty.item(),
        ShapeError,
        /^item: needs a one-element tensor, got shape \[0,3\]/,
      ],
      [
        'reshape [-1, 0]',
        () => reshape(empty, [-1, 0]),
        ShapeError,
        /^reshape: cannot reshape \[0,3\] \(0 elements\) into \[-1,0\]/,
      ],
      [
        'add [0,3] + [2,3]',
        () => add(empty, x23),
        ShapeError,
        /^add: shapes \[0,3\] and \[2,3\] cannot be broadcast/,
      ],
      ['concat([])', () => concat([]), TypeError, /^concat: expected a non-empty array/],
    ]);
  });

  it('a refused call changes nothing: no grad is half-accumulated, no leaf is touched', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = mul(x, 2);
    expect(() => y.backward(tensor([1, 2, 3]))).toThrow(ShapeError);
    expect(x.grad).toBeNull();
    y.backward(tensor([1, 1]));
    expect(x.grad!.toArray()).toEqual([2, 2]); // the graph was not freed by the refused call
    expect(x instanceof Tensor && x.data).toEqual(new Float32Array([1, 2]));
  });
});
