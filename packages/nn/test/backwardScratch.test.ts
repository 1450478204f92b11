// The grad nn hands to the layer below (the dx of linear, linearCrossEntropy and the sequence ops) comes
// from the tape's backward scratch when that input is an intermediate of more than 4096 values: later
// passes reuse its memory, the bits are those of fresh values, and the grads a pass returned stay as they
// were. A small one stays fresh (it shares its op's one allocation).
import {
  customOp,
  type DType,
  grad,
  RandomState,
  reshape,
  sum,
  type Tensor,
  tensor,
  valueAndGrad,
  vjp,
} from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { linear, linearCrossEntropy, lstmSequence } from '../src/index.js';

afterAll(() => kernels.setBackend('auto'));

// peek(x) = x, noting the memory of the grad its backward is given.
const seen: ArrayBufferLike[] = [];
const peekOp = customOp<null>({
  name: 'peek',
  forward: ([x]) => ({ outputs: tensor(x!.data, { shape: [...x!.shape] }), residuals: null }),
  backward([g]) {
    seen.push(g!.data.buffer);
    return [g!];
  },
});
const peek = (x: Tensor) => peekOp(x) as Tensor;

// [T, B, I, H, O] with T·B·H = 4608 values in the grads handed down. The JS loops, and the wasm backend,
// which runs the sequence and the products in wasm memory, where float32 scratch lives (its memory is the
// kernels' shared one).
describe.each([
  ['float64', 'auto', [8, 16, 6, 36, 4]],
  ['float32', 'js', [8, 16, 6, 36, 4]],
  ['float32', 'wasm', [9, 16, 12, 32, 8]],
] as [DType, kernels.BackendChoice, number[]][])(
  'backward scratch in nn (%s, %s gemm)',
  (dtype, backend, sizes) => {
    const [T, B, I, H, O] = sizes as [number, number, number, number, number];
    beforeEach(() => kernels.setBackend(backend));
    const rng = new RandomState(11);
    const draw = (shape: number[], scale = 0.4) => rng.uniform(-scale, scale, shape, { dtype });
    const x = draw([T, B, I], 1);
    const [h0, c0] = [draw([B, H]), draw([B, H])];
    const targets = tensor(
      Array.from({ length: T * B }, (_, i) => (i * 3) % O),
      { dtype: 'float64' },
    );
    const drawParams = () => [
      draw([4 * H, I]),
      draw([4 * H, H]),
      draw([4 * H]),
      draw([4 * H]),
      draw([O, H]),
      draw([O]),
    ];
    const layer = (p: Tensor[]) =>
      reshape(lstmSequence(x, h0, c0, p[0]!, p[1]!, p[2]!, p[3]!)[0], [T * B, H]);
    const head = (h: Tensor, w: Tensor, b: Tensor) =>
      linearCrossEntropy(h, w, b, targets, { reduction: 'sum' });
    const onePass = valueAndGrad((...p: Tensor[]) => head(peek(layer(p)), p[4]!, p[5]!), {
      argnums: [0, 1, 2, 3, 4, 5],
    });

    it('gives the same bits as fresh values, and later passes leave returned grads alone', () => {
      // A pass first, so the scratch holds its values: every one must be written again.
      onePass(...drawParams());
      const params = drawParams();
      const [loss, grads] = onePass(...params) as [Tensor, Tensor[]];
      const kept = grads.map((g) => Array.from(g.data));
      // The same chain rule in two passes, the head's dx a leaf grad (fresh) handed to the layer's vjp.
      const [h, pull] = vjp((...p: Tensor[]) => layer(p), ...params.slice(0, 4));
      const [loss2, [dh, dw, db]] = valueAndGrad(head, { argnums: [0, 1, 2] })(h, params[4]!, params[5]!) as [
        Tensor,
        Tensor[],
      ];
      const layerGrads = pull(dh!);
      expect(loss.item()).toBe(loss2.item());
      const twoPass = [...layerGrads, dw!, db!];
      for (let i = 0; i < 6; i++) expect(Array.from(grads[i]!.data)).toEqual(Array.from(twoPass[i]!.data));
      for (let i = 0; i < 3; i++) onePass(...drawParams());
      for (let i = 0; i < 6; i++) expect(Array.from(grads[i]!.data)).toEqual(kept[i]);
    });

    it('reuses the memory of the grad handed down, pass after pass', () => {
      seen.length = 0;
      const params = drawParams();
      onePass(...params);
      onePass(...params);
      expect(seen).toHaveLength(2);
      expect(seen[1]).toBe(seen[0]);
      if (backend === 'wasm' && kernels.getThreads() > 1) expect(seen[0]).toBeInstanceOf(SharedArrayBuffer);
    });

    it('a sequence op hands its dx down the same way (stacked layers)', () => {
      seen.length = 0;
      // peek sees the upper layer's dx: its output is that layer's x.
      const stacked = valueAndGrad(
        (...p: Tensor[]) => {
          const lower = lstmSequence(x, h0, c0, p[0]!, p[1]!, p[2]!, p[3]!)[0];
          return sum(lstmSequence(peek(lower), h0, c0, p[4]!, p[1]!, p[2]!, p[3]!)[0]);
        },
        { argnums: [0, 1, 2, 3, 4] },
      );
      const params = () => [...drawParams().slice(0, 4), draw([4 * H, H])];
      const [, first] = stacked(...params()) as [Tensor, Tensor[]];
      const kept = first.map((g) => Array.from(g.data));
      stacked(...params());
      expect(seen).toHaveLength(2);
      expect(seen[1]).toBe(seen[0]);
      for (let i = 0; i < 5; i++) expect(Array.from(first[i]!.data)).toEqual(kept[i]);
    });

    it('linear hands its dx down the same way, a large one only', () => {
      const rows = T * B;
      const classes = tensor(
        Array.from({ length: rows }, (_, i) => i % O),
        { dtype: 'float64' },
      );
      // peek sees linear's dx: its output is linear's x, an intermediate (xs is an argument).
      const f = valueAndGrad(
        (xs: Tensor, a: Tensor, b: Tensor) => linearCrossEntropy(linear(peek(xs), a), b, null, classes),
        { argnums: [0, 1, 2] },
      );
      seen.length = 0;
      const [, first] = f(draw([rows, H], 1), draw([H, H]), draw([O, H])) as [Tensor, Tensor[]];
      const kept = first.map((g) => Array.from(g.data));
      f(draw([rows, H], 1), draw([H, H]), draw([O, H]));
      expect(seen).toHaveLength(2);
      expect(seen[1]).toBe(seen[0]);
      for (let i = 0; i < 3; i++) expect(Array.from(first[i]!.data)).toEqual(kept[i]);
      // 16·I values: fresh each pass.
      seen.length = 0;
      const small = tensor(
        Array.from({ length: 16 }, (_, i) => i % O),
        { dtype: 'float64' },
      );
      const g = grad(
        (xs: Tensor, a: Tensor) => linearCrossEntropy(linear(peek(xs), a), draw([O, H]), null, small),
        {
          argnums: [0, 1],
        },
      );
      g(draw([16, I], 1), draw([H, I]));
      g(draw([16, I], 1), draw([H, I]));
      expect(seen[1]).not.toBe(seen[0]);
    });
  },
);
