// tapegrad: nn's whole-sequence recurrent op (what the RNN/LSTM/GRU layers run: every step's input
// projection in one gemm, BPTT by hand), then nn's linearCrossEntropy over all steps at once (the output
// layer and the loss as one op, the logits kept in a reused workspace); valueAndGrad over the six
// parameters. One contestant per gemm backend, and the default backend on one thread as well as on the
// default threads (both cores here).
import { reshape, type Tensor, tensor, tidy, valueAndGrad } from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { gruSequence, linearCrossEntropy, lstmSequence, rnnSequence } from '@tapegrad/nn';
import { type Contestant, type Runner, summarize } from '../contestant.js';
import { type CellKind, type ParamName, type Problem, paramNames } from '../workloads.js';

type Backend = kernels.BackendChoice;

// p is [weightIh, weightHh, biasIh, biasHh, ...]; the LSTM's c0 is the same zeros as h0.
type Seq = (x: Tensor, h0: Tensor, p: Tensor[]) => Tensor;
const cells: Record<CellKind, Seq> = {
  rnn: (x, h0, [a, b, c, d]) => rnnSequence(x, h0, a!, b!, c!, d!)[0],
  lstm: (x, h0, [a, b, c, d]) => lstmSequence(x, h0, h0, a!, b!, c!, d!)[0],
  gru: (x, h0, [a, b, c, d]) => gruSequence(x, h0, a!, b!, c!, d!)[0],
};

const label: Record<Backend, string> = {
  auto: 'gemm on wasm SIMD when it pays, else plain JS (the default)',
  js: 'plain-JS gemm only',
  wasm: 'wasm SIMD gemm for every float32 matmul',
};

interface Variant {
  name: string;
  backend: Backend;
  /** The wasm kernels' threads; undefined keeps the default (the machine's cores, at most 2). */
  threads?: number;
}

// Which build of core this process loaded: `pnpm bench` builds the packages and runs without the
// `source` condition, so it measures dist/ (what users install), as the peers run from their npm
// builds; tsx's transform of the sources wraps every closure it creates in a naming call (lstm-small
// took 17% longer from source).
// In a browser bundle (bench/browser.mjs) the bare name does not resolve, and esbuild has inlined the
// built package.
const loaded = (() => {
  try {
    return import.meta.resolve('@tapegrad/core').endsWith('.ts') ? 'from source' : 'the built package';
  } catch {
    return 'the built package, bundled';
  }
})();

function tapegrad({ name, backend, threads }: Variant): Contestant {
  const threadNote = () => {
    const count = threads ?? kernels.getThreads();
    return count === 1 ? 'one thread' : `${count} threads`;
  };
  return {
    name,
    describe: () =>
      `tapegrad (${loaded}), fused whole-sequence nn ops and linearCrossEntropy, ${label[backend]}, ${threadNote()}`,
    async create(problem: Problem): Promise<Runner> {
      const { steps: T, batch: B, input: I, hidden: H, cell } = problem.workload;
      const params = paramNames.map((name) =>
        tensor(problem.params[name].data, { shape: problem.params[name].shape }),
      );
      const x = tensor(problem.inputs.subarray(0, T * B * I), { shape: [T, B, I] });
      const targets = tensor(Float64Array.from(problem.targets), { shape: [T * B] });
      const step = cells[cell];
      const h0 = tensor(new Float32Array(B * H), { shape: [B, H] });
      const loss = (...p: Tensor[]): Tensor => {
        const out = step(x, h0, p);
        return linearCrossEntropy(reshape(out, [T * B, H]), p[4]!, p[5]!, targets, { reduction: 'sum' });
      };
      const lossAndGrads = valueAndGrad(loss, { argnums: [0, 1, 2, 3, 4, 5] });
      const defaultThreads = kernels.getThreads();
      if (threads !== undefined) kernels.setThreads(threads);
      // Workers start in the background; time them only once they serve.
      await kernels.threadsReady();
      const iterate = () => {
        kernels.setBackend(backend);
        const [value, grads] = lossAndGrads(...params);
        return { value, grads: grads as Tensor[] };
      };

      return {
        // Each iteration in tidy, as the tfjs contestants do: its buffers go to the next one.
        step: () => tidy(() => iterate().value.item()),
        check: () =>
          tidy(() => {
            const { value, grads } = iterate();
            const byName = Object.fromEntries(paramNames.map((name, i) => [name, grads[i]!.data]));
            return summarize(value.item(), byName as Record<ParamName, Float32Array>);
          }),
        dispose() {
          kernels.setBackend('auto');
          kernels.setThreads(defaultThreads);
        },
      };
    },
  };
}

export const tapegradDefault = tapegrad({ name: 'tapegrad', backend: 'auto' });
export const tapegradOneThread = tapegrad({ name: 'tapegrad-1t', backend: 'auto', threads: 1 });
export const tapegradJs = tapegrad({ name: 'tapegrad-js', backend: 'js', threads: 1 });
export const tapegradWasm = tapegrad({ name: 'tapegrad-wasm', backend: 'wasm' });
