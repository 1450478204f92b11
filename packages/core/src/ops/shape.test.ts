// Shape ops against numpy (test/fixtures/shape_ops.json, from scripts/fixtures/shape_ops.py), their
// vjps against central differences, and their error messages.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { numericGrad } from '../../test/fd.js';
import { type DType, DTypeError } from '../dtype.js';
import { vjp } from '../grad.js';
import { type Tensor, tensor } from '../tensor.js';
import { mul } from './elementwise.js';
import { sum } from './reduce.js';
import {
  broadcastTo,
  concat,
  gather,
  indexSelect,
  permute,
  reshape,
  slice,
  split,
  squeeze,
  stack,
  transpose,
  unsqueeze,
} from './shape.js';

interface Encoded {
  shape: number[];
  values: number[];
}
interface Case {
  name: string;
  op: string;
  // biome-ignore lint/suspicious/noExplicitAny: each op reads its own arguments from the fixture
  args: Record<string, any>;
  inputs: Encoded[];
  outputs: Encoded[];
  seed?: Encoded[];
  grads?: Encoded[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../../test/fixtures/shape_ops.json', import.meta.url), 'utf8'),
) as { cases: Case[] };

const decode = (e: Encoded, dtype: DType = 'float64'): Tensor =>
  tensor(Float64Array.from(e.values), { dtype, shape: e.shape });

/** Calls the case's op with its fixture arguments; every op's outputs as a list. */
function run(c: Case, xs: Tensor[]): Tensor[] {
  const x = xs[0]!;
  const a = c.args;
  switch (c.op) {
    case 'reshape':
      return [reshape(x, a.shape)];
    case 'permute':
      return [permute(x, a.axes)];
    case 'transpose':
      return [transpose(x, a.axes ?? undefined)];
    case 'concat':
      return [concat(xs, a.axis)];
    case 'stack':
      return [stack(xs, a.axis)];
    case 'slice':
      return [slice(x, a.starts, a.stops)];
    case 'split':
      return split(x, a.sizes ?? a.sections, a.axis);
    case 'squeeze':
      return [squeeze(x, a.axis ?? undefined)];
    case 'unsqueeze':
      return [unsqueeze(x, a.axis)];
    case 'broadcastTo':
      return [broadcastTo(x, a.shape)];
    case 'indexSelect':
      return [indexSelect(x, a.axis, a.indices)];
    case 'gather':
      return [gather(x, a.axis, decode(a.indices))];
    default:
      throw new Error(`unknown fixture op ${c.op}`);
  }
}

/** The case as one tensor-valued function (split's pieces flattened and joined). */
const single =
  (c: Case) =>
  (...xs: Tensor[]): Tensor => {
    const outs = run(c, xs);
    return outs.length === 1 ? outs[0]! : concat(outs.map((o) => reshape(o, [-1])));
  };

/** A seed with distinct, non-round values, so that a misplaced grad element shows. */
const seedLike = (t: Tensor): Tensor =>
  tensor(
    Float64Array.from({ length: t.size }, (_, i) => Math.sin(i + 1)),
    { dtype: 'float64', shape: t.shape },
  );

const maxAbsDiff = (a: Tensor, b: Tensor): number =>
  Array.from(a.data).reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i]!)), 0);

describe('shape ops: forward against numpy', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    it.each(fixture.cases.map((c) => [c.name, c] as const))(`${dtype}: %s`, (_, c) => {
      const outs = run(
        c,
        c.inputs.map((e) => decode(e, dtype)),
      );
      expect(outs.length).toBe(c.outputs.length);
      outs.forEach((out, i) => {
        const expected = c.outputs[i]!;
        expect(out.dtype).toBe(dtype);
        expect(out.shape).toEqual(expected.shape);
        // Pure data movement: exact, after rounding the reference to the dtype.
        const values = dtype === 'float32' ? expected.values.map(Math.fround) : expected.values;
        expect(Array.from(out.data)).toEqual(values);
      });
    });
  }
});

describe('shape ops: vjp', () => {
  const withGrads = fixture.cases.filter((c) => c.seed);
  it.each(withGrads.map((c) => [c.name, c] as const))('numpy grad of sum(out·seed): %s', (_, c) => {
    const [, pullback] = vjp(single(c), ...c.inputs.map((e) => decode(e)));
    const grads = pullback(decode(c.seed![0]!));
    grads.forEach((g, i) => {
      const expected = c.grads![i]!;
      expect(g.shape).toEqual(expected.shape);
      Array.from(g.data).forEach((v, j) => {
        expect(v).toBeCloseTo(expected.values[j]!, 12);
      });
    });
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))('central differences: %s', (_, c) => {
    const f = single(c);
    const inputs = c.inputs.map((e) => decode(e));
    const [out, pullback] = vjp(f, ...inputs);
    const seed = seedLike(out);
    const analytic = pullback(seed);
    const numeric = numericGrad(f, inputs, seed);
    analytic.forEach((g, i) => {
      expect(g.shape).toEqual(inputs[i]!.shape);
      expect(maxAbsDiff(g, numeric[i]!)).toBeLessThan(1e-8);
    });
  });

  it('broadcastTo: the engine sums the larger grad back to the input shape', () => {
    const x = tensor([[1], [2]], { dtype: 'float64', requiresGrad: true });
    sum(mul(broadcastTo(x, [3, 2, 4]), 2)).backward();
    expect(x.grad!.shape).toEqual([2, 1]);
    expect(x.grad!.toArray()).toEqual([[24], [24]]); // 2 · (3·4 copies)
  });

  it('indexSelect and gather: repeated indices accumulate; the indices get no grad', () => {
    const x = tensor([10, 20, 30], { dtype: 'float64', requiresGrad: true });
    const index = tensor([1, 1, 2, 1], { dtype: 'float64', requiresGrad: true });
    sum(indexSelect(x, 0, index)).backward();
    expect(x.grad!.toArray()).toEqual([0, 3, 1]);
    expect(index.grad).toBeNull();

    const m = tensor([[1, 2]], { dtype: 'float64', requiresGrad: true });
    sum(gather(m, 1, tensor([[0, 0, 0, 1]]))).backward();
    expect(m.grad!.toArray()).toEqual([[3, 1]]);
  });

  it('indices may be any float dtype, whatever the dtype of x', () => {
    const x = tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { dtype: 'float64' },
    );
    expect(indexSelect(x, 0, tensor([1], { dtype: 'float32' })).toArray()).toEqual([[3, 4]]);
    expect(gather(x, 1, tensor([[1], [0]], { dtype: 'float32' })).toArray()).toEqual([[2], [3]]);
  });

  it('split: outputs left unused get zero grad', () => {
    const x = tensor([1, 2, 3, 4], { dtype: 'float64', requiresGrad: true });
    const [, middle] = split(x, [1, 2, 1]);
    sum(mul(middle!, tensor([5, 7], { dtype: 'float64' }))).backward();
    expect(x.grad!.toArray()).toEqual([0, 5, 7, 0]);
  });

  it('reshape, squeeze and unsqueeze share the buffer instead of copying', () => {
    const x = tensor([[1, 2, 3]]);
    expect(reshape(x, [3, 1]).data).toBe(x.data);
    expect(squeeze(x).data).toBe(x.data);
    expect(unsqueeze(x, 0).data).toBe(x.data);
  });

  it('reshape infers -1 into its own copy of the shape, leaving the caller’s array as it was', () => {
    const shape = [-1, 3];
    expect(reshape(tensor([1, 2, 3, 4, 5, 6]), shape).shape).toEqual([2, 3]);
    expect(shape).toEqual([-1, 3]);
  });
});

describe('shape ops: errors name the op and the shapes', () => {
  const m23 = tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const cases: [string, () => unknown, RegExp][] = [
    [
      'reshape count',
      () => reshape(m23, [4, -1]),
      /^reshape: cannot reshape \[2,3\] \(6 elements\) into \[4,-1\]$/,
    ],
    [
      'reshape size',
      () => reshape(m23, [4, 2]),
      /^reshape: cannot reshape \[2,3\] \(6 elements\) into \[4,2\]$/,
    ],
    ['reshape two -1', () => reshape(m23, [-1, -1]), /^reshape: only one -1 allowed in \[-1,-1\]$/],
    [
      'reshape ambiguous -1',
      () => reshape(tensor([], { shape: [0, 3] }), [0, -1]),
      /reshape: cannot reshape \[0,3\]/,
    ],
    ['reshape bad size', () => reshape(m23, [2, -3]), /^reshape: invalid size -3 in \[2,-3\]$/],
    ['permute rank', () => permute(m23, [0]), /^permute: axes \[0\] do not match rank 2 of \[2,3\]$/],
    [
      'permute repeat',
      () => permute(m23, [1, -1]),
      /^permute: axes \[1,-1\] are not a permutation of 0\.\.1$/,
    ],
    ['permute range', () => permute(m23, [0, 2]), /^permute: axis 2 is out of range for rank 2$/],
    ['transpose rank', () => transpose(m23, [0, 1, 2]), /^transpose: axes \[0,1,2\] do not match rank 2/],
    [
      'concat shapes',
      () => concat([m23, tensor([[1, 2, 3, 4]])]),
      /^concat: tensor 1 has shape \[1,4\], tensor 0 has \[2,3\]; shapes must match except on axis 0$/,
    ],
    [
      'concat rank',
      () => concat([m23, tensor([1, 2, 3])], 1),
      /^concat: tensor 1 has shape \[3\], tensor 0 has \[2,3\]/,
    ],
    ['concat axis', () => concat([m23], 2), /^concat: axis 2 is out of range for rank 2$/],
    ['concat empty', () => concat([]), /^concat: expected a non-empty array of tensors$/],
    [
      'stack shapes',
      () => stack([m23, m23, tensor([[1, 2]])]),
      /^stack: tensor 2 has shape \[1,2\], tensor 0 has \[2,3\]; all must be equal$/,
    ],
    ['stack axis', () => stack([m23], 3), /^stack: axis 3 is out of range \[-3, 2\] for shape \[2,3\]$/],
    [
      'slice length',
      () => slice(m23, [0, 0, 0], []),
      /^slice: starts \[0,0,0\] has more entries than the rank of \[2,3\]$/,
    ],
    ['slice integer', () => slice(m23, [0], [0, 1.5]), /^slice: stops 1\.5 on axis 1 is not an integer$/],
    [
      'split sections',
      () => split(m23, 2, 1),
      /^split: axis 1 of \[2,3\] has length 3, which does not divide into 2 equal sections$/,
    ],
    ['split zero sections', () => split(m23, 0), /^split: sections must be a positive integer, got 0$/],
    [
      'split sizes',
      () => split(m23, [1, 1], -1),
      /^split: sizes \[1,1\] sum to 2, but axis 1 of \[2,3\] has length 3$/,
    ],
    ['split negative size', () => split(m23, [3, -1], 1), /^split: invalid size -1/],
    ['squeeze size', () => squeeze(m23, 1), /^squeeze: axis 1 has size 3, not 1, in shape \[2,3\]$/],
    ['squeeze range', () => squeeze(m23, -3), /^squeeze: axis -3 is out of range for rank 2$/],
    [
      'unsqueeze range',
      () => unsqueeze(m23, -4),
      /^unsqueeze: axis -4 is out of range \[-3, 2\] for shape \[2,3\]$/,
    ],
    [
      'broadcastTo sizes',
      () => broadcastTo(tensor([1, 2, 3]), [2, 4]),
      /^broadcastTo: cannot broadcast \[3\] to \[2,4\]$/,
    ],
    ['broadcastTo rank', () => broadcastTo(m23, [3]), /^broadcastTo: cannot broadcast \[2,3\] to \[3\]$/],
    [
      'broadcastTo size 1',
      () => broadcastTo(m23, [2, 1]),
      /^broadcastTo: cannot broadcast \[2,3\] to \[2,1\]$/,
    ],
    [
      'indexSelect range',
      () => indexSelect(m23, 1, [0, 3]),
      /^indexSelect: index 3 at position \[1\] is out of range for axis 1 of size 3$/,
    ],
    [
      'indexSelect negative',
      () => indexSelect(m23, 0, [-1]),
      /^indexSelect: index -1 at position \[0\] is out of range for axis 0 of size 2$/,
    ],
    [
      'indexSelect integer',
      () => indexSelect(m23, 0, tensor([0, 1, 0.5])),
      /^indexSelect: index 0\.5 at position \[2\] is not an integer$/,
    ],
    [
      'indexSelect NaN',
      () => indexSelect(m23, 0, [Number.NaN]),
      /^indexSelect: index NaN at position \[0\] is not an integer$/,
    ],
    [
      'indexSelect rank',
      () => indexSelect(m23, 0, tensor([[0]])),
      /^indexSelect: indices must be 1-D, got shape \[1,1\]$/,
    ],
    [
      'gather range',
      () => gather(m23, 1, tensor([[0], [3]])),
      /^gather: index 3 at position \[1,0\] is out of range for axis 1 of size 3$/,
    ],
    [
      'gather integer',
      () => gather(m23, 0, tensor([[0, 1.25]])),
      /^gather: index 1\.25 at position \[0,1\] is not an integer$/,
    ],
    [
      'gather rank',
      () => gather(m23, 1, tensor([0])),
      /^gather: indices of shape \[1\] must have the rank of x \[2,3\]$/,
    ],
    [
      'gather size',
      () => gather(m23, 1, tensor([[0], [0], [0]])),
      /^gather: indices of shape \[3,1\] exceed x of shape \[2,3\] on axis 0 \(only axis 1 may be larger\)$/,
    ],
  ];
  it.each(cases)('%s', (_, thunk, message) => {
    expect(thunk).toThrow(message);
  });

  it('concat and stack refuse mixed dtypes', () => {
    const a = tensor([1], { dtype: 'float64' });
    const b = tensor([1], { dtype: 'float32' });
    expect(() => concat([a, b])).toThrow(DTypeError);
    expect(() => stack([a, b])).toThrow(/^stack: tensor 1 is float32, tensor 0 is float64/);
  });
});
