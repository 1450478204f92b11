// tapegrad: the fused nn cells unrolled over time on the tape, then nn's linear and crossEntropy over
// all steps at once; valueAndGrad over the six parameters. One contestant per gemm backend.
import { concat, kernels, type Tensor, tensor, valueAndGrad } from '@tapegrad/core';
import { crossEntropy, gruCell, linear, lstmCell, rnnCell } from '@tapegrad/nn';
import { type Contestant, type Runner, summarize } from '../contestant.js';
import { type CellKind, type ParamName, type Problem, paramNames } from '../workloads.js';

type Backend = kernels.GemmBackend;

// state is [h] or [h, c]; p is [weightIh, weightHh, biasIh, biasHh].
type Step = (x: Tensor, state: Tensor[], p: Tensor[]) => Tensor[];

const cells: Record<CellKind, Step> = {
  rnn: (x, [h], [wIh, wHh, bIh, bHh]) => [rnnCell(x, h!, wIh!, wHh!, bIh!, bHh!, { nonlinearity: 'tanh' })],
  lstm: (x, [h, c], [wIh, wHh, bIh, bHh]) => lstmCell(x, h!, c!, wIh!, wHh!, bIh!, bHh!),
  gru: (x, [h], [wIh, wHh, bIh, bHh]) => [gruCell(x, h!, wIh!, wHh!, bIh!, bHh!)],
};

const label: Record<Backend, string> = {
  auto: 'gemm on wasm SIMD when it pays, else plain JS (the default)',
  js: 'plain-JS gemm only',
  wasm: 'wasm SIMD gemm for every float32 matmul',
};

function tapegrad(backend: Backend): Contestant {
  return {
    name: backend === 'auto' ? 'tapegrad' : `tapegrad-${backend}`,
    describe: () => `tapegrad, fused nn cells, ${label[backend]}, one thread`,
    async create(problem: Problem): Promise<Runner> {
      const { steps: T, batch: B, input: I, hidden: H, cell } = problem.workload;
      const params = paramNames.map((name) =>
        tensor(problem.params[name].data, { shape: problem.params[name].shape }),
      );
      const xs = Array.from({ length: T }, (_, t) =>
        tensor(problem.inputs.subarray(t * B * I, (t + 1) * B * I), { shape: [B, I] }),
      );
      // Row t·B + b of the stacked logits has target targets[t·B + b].
      const targets = tensor(Float64Array.from(problem.targets), { shape: [T * B] });
      const step = cells[cell];

      const loss = (...p: Tensor[]): Tensor => {
        const zeros = () => tensor(new Float32Array(B * H), { shape: [B, H] });
        let state = cell === 'lstm' ? [zeros(), zeros()] : [zeros()];
        const hs: Tensor[] = [];
        for (const x of xs) {
          state = step(x, state, p);
          hs.push(state[0]!);
        }
        // logits = h·W_outᵀ + b_out for every (t, b) at once; loss = Σ -log softmax(logits)[target]
        const logits = linear(concat(hs, 0), p[4]!, p[5]!);
        return crossEntropy(logits, targets, { reduction: 'sum' });
      };
      const lossAndGrads = valueAndGrad(loss, { argnums: [0, 1, 2, 3, 4, 5] });
      const iterate = () => {
        kernels.setGemmBackend(backend);
        const [value, grads] = lossAndGrads(...params);
        return { value, grads: grads as Tensor[] };
      };

      return {
        step: () => iterate().value.item(),
        check() {
          const { value, grads } = iterate();
          const byName = Object.fromEntries(paramNames.map((name, i) => [name, grads[i]!.data]));
          return summarize(value.item(), byName as Record<ParamName, Float32Array>);
        },
        dispose() {
          kernels.setGemmBackend('auto');
        },
      };
    },
  };
}

export const tapegradDefault = tapegrad('auto');
export const tapegradJs = tapegrad('js');
export const tapegradWasm = tapegrad('wasm');
