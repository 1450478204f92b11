// The seed notebook's RNN test blocks rebuilt from core ops alone, drawn from RandomState(1) in the
// notebook's order, against fixtures/seed_notebook_outputs.json (a copy of /work/shared/fixtures).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { add, matmul, mul, RandomState, softmax, sum, type Tensor, tanh, tensor } from '../src/index.js';

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/seed_notebook_outputs.json', import.meta.url), 'utf8'),
) as { outputs: Record<string, Record<string, number | number[]>> };

interface RnnParameters {
  Waa: Tensor;
  Wax: Tensor;
  Wya: Tensor;
  ba: Tensor;
  by: Tensor;
}

// a_next = tanh(Wax·xt + Waa·a_prev + ba); yt = softmax(Wya·a_next + by) over axis 0 (columns are examples)
function rnnCellForward(xt: Tensor, aPrev: Tensor, p: RnnParameters): [Tensor, Tensor] {
  const aNext = tanh(add(add(matmul(p.Wax, xt), matmul(p.Waa, aPrev)), p.ba));
  const yt = softmax(add(matmul(p.Wya, aNext), p.by), 0);
  return [aNext, yt];
}

/** x[:, :, t] of an (n_x, m, T) input, read from its data (input, not differentiated). */
function timeStep(x: Tensor, t: number): Tensor {
  const [nx, m, steps] = x.shape as [number, number, number];
  const out = new Float64Array(nx * m);
  for (let i = 0; i < nx * m; i++) out[i] = x.data[i * steps + t]!;
  return tensor(out, { shape: [nx, m] });
}

function rnnForward(x: Tensor, a0: Tensor, p: RnnParameters): { a: Tensor[]; y: Tensor[] } {
  const a: Tensor[] = [];
  const y: Tensor[] = [];
  let aNext = a0;
  for (let t = 0; t < x.shape[2]!; t++) {
    const [aT, yT] = rnnCellForward(timeStep(x, t), aNext, p);
    aNext = aT;
    a.push(aT);
    y.push(yT);
  }
  return { a, y };
}

/** One element of each per-step tensor: v[row][col] over t, as numpy prints a[row][col] of (n, m, T). */
const overTime = (steps: Tensor[], row: number, col: number) =>
  steps.map((s) => s.data[row * s.shape[1]! + col]!);

const row = (t: Tensor, r: number) => Array.from(t.data.subarray(r * t.shape[1]!, (r + 1) * t.shape[1]!));

function expectWithin(got: number[], want: number[], tol = 1e-8): void {
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => {
    expect(Math.abs(g - want[i]!), `element ${i}: ${g} vs ${want[i]}`).toBeLessThanOrEqual(tol);
  });
}

describe('the seed notebook, from core ops and RandomState(1)', () => {
  it('rnn_cell_forward: a_next[4] and yt_pred[1]', () => {
    const rs = new RandomState(1);
    const xt = rs.randn(3, 10);
    const aPrev = rs.randn(5, 10);
    const Waa = rs.randn(5, 5);
    const Wax = rs.randn(5, 3);
    const Wya = rs.randn(2, 5);
    const ba = rs.randn(5, 1);
    const by = rs.randn(2, 1);
    const [aNext, yt] = rnnCellForward(xt, aPrev, { Waa, Wax, Wya, ba, by });
    const want = fixture.outputs.rnn_cell_forward!;
    expect(aNext.shape).toEqual([5, 10]);
    expect(yt.shape).toEqual([2, 10]);
    expectWithin(row(aNext, 4), want['a_next[4]'] as number[]);
    expectWithin(row(yt, 1), want['yt_pred[1]'] as number[]);
  });

  it('rnn_forward: a[4][1] and y_pred[1][3]', () => {
    const rs = new RandomState(1);
    const x = rs.randn(3, 10, 4);
    const a0 = rs.randn(5, 10);
    const Waa = rs.randn(5, 5);
    const Wax = rs.randn(5, 3);
    const Wya = rs.randn(2, 5);
    const ba = rs.randn(5, 1);
    const by = rs.randn(2, 1);
    const { a, y } = rnnForward(x, a0, { Waa, Wax, Wya, ba, by });
    const want = fixture.outputs.rnn_forward!;
    expect(a).toHaveLength(4);
    expectWithin(overTime(a, 4, 1), want['a[4][1]'] as number[]);
    expectWithin(overTime(y, 1, 3), want['y_pred[1][3]'] as number[]);
  });

  it('rnn_backward: the tape through the unrolled forward gives the notebook’s grads', () => {
    // The backward block draws Wax before Waa, then da after the forward.
    const rs = new RandomState(1);
    const x = rs.randn(3, 10, 4);
    const leaf = (t: Tensor) => tensor(t.data, { shape: [...t.shape], requiresGrad: true });
    const a0 = leaf(rs.randn(5, 10));
    const Wax = leaf(rs.randn(5, 3));
    const Waa = leaf(rs.randn(5, 5));
    const Wya = rs.randn(2, 5);
    const ba = leaf(rs.randn(5, 1));
    const by = rs.randn(2, 1);
    const xs = Array.from({ length: 4 }, (_, t) => leaf(timeStep(x, t)));
    let aNext: Tensor = a0;
    const a = xs.map((xt) => {
      [aNext] = rnnCellForward(xt, aNext, { Waa, Wax, Wya, ba, by });
      return aNext;
    });
    const da = rs.randn(5, 10, 4);
    // da[:, :, t] is the grad arriving at a_t, so the loss is Σ_t <da_t, a_t>.
    a.map((aT, t) => sum(mul(aT, timeStep(da, t))))
      .reduce((total, term) => add(total, term))
      .backward();

    const want = fixture.outputs.rnn_backward!;
    expectWithin(
      overTime(
        xs.map((xt) => xt.grad!),
        1,
        2,
      ),
      want['dx[1][2]'] as number[],
    );
    expectWithin([a0.grad!.data[2 * 10 + 3]!], [want['da0[2][3]'] as number]);
    expectWithin([Wax.grad!.data[3 * 3 + 1]!], [want['dWax[3][1]'] as number]);
    expectWithin([Waa.grad!.data[1 * 5 + 2]!], [want['dWaa[1][2]'] as number]);
    expectWithin([ba.grad!.data[4]!], want['dba[4]'] as number[]);
  });
});
