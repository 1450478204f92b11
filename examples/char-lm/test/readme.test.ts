// Runs the README's snippets (test/readme/*.ts, and the gradcheck-report files it shows), and checks
// that every TypeScript block in README.md is (part of) one of them, up to layout, so the README cannot drift.
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';

const root = new URL('../../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

/** What a snippet prints with console.log, one entry per call. */
async function printed(snippet: string): Promise<unknown[][]> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  await import(`./readme/${snippet}.ts`);
  return log.mock.calls;
}

/** The code without whitespace and trailing commas: the formatter may lay a snippet out differently. */
const layoutFree = (code: string): string => code.replace(/\s+/g, '').replace(/,([\]})])/g, '$1');

afterEach(() => {
  vi.restoreAllMocks();
});

describe('README snippets', () => {
  it('tensors and grad: x.grad and grad(f) hold numpy’s (1 − tanh²(xw))·wᵀ and xᵀ·(1 − tanh²(xw))', async () => {
    const [dx, dw] = (await printed('tensors'))[0]!;
    const expected = {
      dx: [0.5, -0.25, 0.3932238664829637, -0.19661193324148185],
      dw: [3.359343198897782, 5.14579093186371],
    };
    for (const [i, v] of (dx as number[][]).flat().entries()) expect(v).toBeCloseTo(expected.dx[i]!, 14);
    for (const [i, v] of (dw as number[][]).flat().entries()) expect(v).toBeCloseTo(expected.dw[i]!, 14);
  });

  it('an LSTM in twenty lines learns to repeat its input one step late', async () => {
    const lines = (await printed('lstm')).map(([line]) => String(line));
    expect(lines).toHaveLength(4);
    const losses = lines.map((line) => Number(/loss (\S+)/.exec(line)![1]));
    // Predicting 0 costs E[x²] = 1/3 for uniform(-1, 1); remembering the last input costs far less.
    expect(losses[0]).toBeGreaterThan(0.2);
    expect(losses[3]).toBeLessThan(0.02);
  });

  it('Newton–CG with hvp reaches ∇f = Aᵀsoftmax(Ax) + x = 0, and hessian(f) is Aᵀ(diag p - ppᵀ)A + I there', async () => {
    const calls = await printed('newton');
    const norms = calls.slice(0, -1).map(([line]) => Number(/\|∇f\| (\S+)/.exec(String(line))![1]));
    expect(norms).toHaveLength(5);
    expect(norms[4]).toBeLessThan(1e-10);
    const [x, h] = calls[calls.length - 1] as [number[], number[][]];
    // The optimality condition and the Hessian in closed form, from Math.exp.
    const A = [
      [1, 2],
      [-1, 0.5],
      [0.3, -2],
      [2, 1],
    ];
    const z = A.map(([a, b]) => a! * x[0]! + b! * x[1]!);
    const e = z.map((v) => Math.exp(v - Math.max(...z)));
    const p = e.map((v) => v / e.reduce((s, u) => s + u, 0));
    for (let j = 0; j < 2; j++) {
      expect(A.reduce((s, row, i) => s + row[j]! * p[i]!, 0) + x[j]!).toBeCloseTo(0, 10);
      for (let k = 0; k < 2; k++) {
        const ap =
          A.reduce((s, row, i) => s + row[j]! * p[i]!, 0) * A.reduce((s, row, i) => s + row[k]! * p[i]!, 0);
        const apa = A.reduce((s, row, i) => s + row[j]! * row[k]! * p[i]!, 0);
        expect(h[j]![k]!).toBeCloseTo(apa - ap + (j === k ? 1 : 0), 12);
      }
    }
  });

  it('forward mode: J·v, linearize and jacobian agree with (1 − y²)·W, and jvp of grad with hvp', async () => {
    type Printed = [number[], number[], number[], number[][], number[], number[]];
    const [y, dy, linearized, J, hv, hvByReverse] = (await printed('forward'))[0] as Printed;
    const W = [
      [1, -2],
      [0.5, 0.3],
      [-1, 0.8],
    ];
    const x = [0.1, -0.2];
    W.forEach(([a, b], i) => {
      const yi = Math.tanh(a! * x[0]! + b! * x[1]!);
      expect(y![i]).toBeCloseTo(yi, 15);
      expect(dy![i]).toBeCloseTo((1 - yi * yi) * a!, 15);
      expect(linearized![i]).toBeCloseTo(dy![i]!, 15);
      expect(J![i]).toEqual([expect.closeTo((1 - yi * yi) * a!, 15), expect.closeTo((1 - yi * yi) * b!, 15)]);
    });
    // H = Wᵀ diag(-2y(1 - y²)) W, applied to v = e₀
    const curvature = W.map(([a, b]) => {
      const yi = Math.tanh(a! * x[0]! + b! * x[1]!);
      return -2 * yi * (1 - yi * yi);
    });
    for (let j = 0; j < 2; j++) {
      const want = W.reduce((s, row, i) => s + row[j]! * curvature[i]! * row[0]!, 0);
      expect(hv![j]).toBeCloseTo(want, 14);
      expect(hvByReverse![j]).toBeCloseTo(want, 14);
    }
  });

  it('checkpoints: saved and loaded under torch.nn.LSTM’s parameter names', async () => {
    const [names] = (await printed('checkpoint'))[0]!;
    expect(names).toEqual(
      [0, 1].flatMap((l) => ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'].map((n) => `${n}_l${l}`)),
    );
  });

  it('the notebook API reproduces the notebook’s printed a[4][1] and its backward agrees with the tape', async () => {
    const [[a41], [gap]] = (await printed('notebook')) as [[number[]], [number]];
    // What the seed notebook prints for rnn_forward (numpy, np.random.seed(1)).
    const notebook = [-0.99999375, 0.77911235, -0.99861469, -0.99833267];
    for (const [i, v] of (a41 as number[]).entries()) expect(v).toBeCloseTo(notebook[i]!, 8);
    expect(gap).toBeLessThan(1e-12);
  });
});

describe('README.md', () => {
  it('shows only TypeScript that a snippet file here runs (the whole file or a run of it)', () => {
    const snippets = [
      ...readdirSync(new URL('examples/char-lm/test/readme/', root)).map((f) =>
        read(`examples/char-lm/test/readme/${f}`),
      ),
      read('examples/gradcheck-report/test/fixtures/leakyCell.ts'),
      read('examples/gradcheck-report/test/leakyCell.test.ts'),
    ].map(layoutFree);
    const blocks = [...read('README.md').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      expect(
        snippets.some((snippet) => snippet.includes(layoutFree(block))),
        `README block not in any snippet file:\n${block}`,
      ).toBe(true);
    }
  });
});
