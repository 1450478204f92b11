// jax-js 0.1.25 on its wasm backend: the loss written with jax.numpy, compiled once with
// jit(valueAndGrad(loss)). jax-js counts references: every argument is consumed, hence the `.ref`s.
import { defaultDevice, init, jit, nn, numpy as np, valueAndGrad } from '@jax-js/jax';
import { type Contestant, type Runner, summarize } from '../contestant.js';
import { type ParamName, type Problem, paramNames } from '../workloads.js';

type Params = Record<ParamName, np.Array>;

let ready: Promise<void> | null = null;
function start(): Promise<void> {
  ready ??= init('wasm').then((devices) => {
    if (!devices.includes('wasm')) throw new Error('jax-js: the wasm device did not initialise');
    defaultDevice('wasm');
  });
  return ready;
}

// Each cell consumes x and its state and borrows the weights (already transposed) and biases.
type Cell = (
  x: np.Array,
  state: np.Array[],
  w: { ih: np.Array; hh: np.Array; bIh: np.Array; bHh: np.Array },
) => np.Array[];

const cells: Record<Problem['workload']['cell'], (H: number) => Cell> = {
  rnn:
    () =>
    (x, [h], w) => [
      np.tanh(np.matmul(x, w.ih.ref).add(np.matmul(h!, w.hh.ref)).add(w.bIh.ref).add(w.bHh.ref)),
    ],
  lstm:
    (H) =>
    (x, [h, c], w) => {
      const gates = np.matmul(x, w.ih.ref).add(np.matmul(h!, w.hh.ref)).add(w.bIh.ref).add(w.bHh.ref);
      const i = nn.sigmoid(gates.ref.slice([], [0, H]));
      const f = nn.sigmoid(gates.ref.slice([], [H, 2 * H]));
      const g = np.tanh(gates.ref.slice([], [2 * H, 3 * H]));
      const o = nn.sigmoid(gates.slice([], [3 * H, 4 * H]));
      const cNext = f.mul(c!).add(i.mul(g));
      return [o.mul(np.tanh(cNext.ref)), cNext];
    },
  gru:
    (H) =>
    (x, [h], w) => {
      const xg = np.matmul(x, w.ih.ref).add(w.bIh.ref);
      const hg = np.matmul(h!.ref, w.hh.ref).add(w.bHh.ref);
      const r = nn.sigmoid(xg.ref.slice([], [0, H]).add(hg.ref.slice([], [0, H])));
      const z = nn.sigmoid(xg.ref.slice([], [H, 2 * H]).add(hg.ref.slice([], [H, 2 * H])));
      const n = np.tanh(xg.slice([], [2 * H, 3 * H]).add(r.mul(hg.slice([], [2 * H, 3 * H]))));
      // h' = (1 - z)·n + z·h = n + z·(h - n)
      return [n.ref.add(z.mul(h!.sub(n)))];
    },
};

export const jaxJs: Contestant = {
  name: 'jax-js',
  describe: () =>
    'jax-js 0.1.25, wasm backend, jit(valueAndGrad(loss)) (one thread: Node 20 has no global Worker)',
  async create(problem: Problem): Promise<Runner> {
    await start();
    const { steps: T, batch: B, input: I, hidden: H, output: O, cell } = problem.workload;
    const params = Object.fromEntries(
      paramNames.map((name) => [
        name,
        np.array(problem.params[name].data).reshape(problem.params[name].shape),
      ]),
    ) as Params;
    const inputs = np.array(problem.inputs).reshape([T, B, I]);
    const oneHot = new Float32Array(T * B * O);
    problem.targets.forEach((target, row) => {
      oneHot[row * O + target] = 1;
    });
    const labels = np.array(oneHot).reshape([T * B, O]);
    const step = cells[cell](H);

    const loss = (p: Params, x: np.Array, y: np.Array): np.Array => {
      const w = { ih: p.weightIh.transpose(), hh: p.weightHh.transpose(), bIh: p.biasIh, bHh: p.biasHh };
      let state = cell === 'lstm' ? [np.zeros([B, H]), np.zeros([B, H])] : [np.zeros([B, H])];
      const hs: np.Array[] = [];
      for (let t = 0; t < T; t++) {
        state = step(x.ref.slice(t), state, w);
        hs.push(state[0]!.ref);
      }
      for (const s of [...state, x, w.ih, w.hh, w.bIh, w.bHh]) s.dispose();
      const logits = np.matmul(np.concatenate(hs, 0), p.weightOut.transpose()).add(p.biasOut);
      return nn.logSoftmax(logits, -1).mul(y).sum().neg();
    };
    const lossAndGrad = jit(valueAndGrad(loss));
    const borrowed = () => Object.fromEntries(paramNames.map((name) => [name, params[name].ref])) as Params;
    const iterate = () => lossAndGrad(borrowed(), inputs.ref, labels.ref) as [np.Array, Params];

    return {
      step() {
        const [value, grads] = iterate();
        // Reading each grad makes sure the whole backward ran (jax-js evaluates lazily).
        for (const name of paramNames) grads[name].dataSync();
        return value.item();
      },
      check() {
        const [value, grads] = iterate();
        const read = Object.fromEntries(paramNames.map((name) => [name, grads[name].dataSync()]));
        return summarize(value.item(), read as Record<ParamName, Float32Array>);
      },
      dispose() {
        for (const name of paramNames) params[name].dispose();
        inputs.dispose();
        labels.dispose();
        lossAndGrad.dispose();
      },
    };
  },
};
