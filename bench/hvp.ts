// `pnpm --filter @tapegrad/bench hvp`: what a Hessian-vector product of an LSTM loss costs, as a multiple
// of one gradient of the same loss. The loss is the bench's (nn's whole-sequence LSTM, what the LSTM layer
// runs, then linearCrossEntropy summed over steps and batch), over the six parameters, in float32. The
// gradient is valueAndGrad (the fused backwards); hvp is reverse over reverse: a forward, a backward that
// builds a graph (through the fused ops' references: the LSTM unrolled into core ops), and a backward of
// that. So the gradient through the LSTM's reference, the graph hvp differentiates, is timed as well.
// Samples alternate within a round (order rotating), each about `--sample-ms` long; a multiple is the
// median over rounds of the per-iteration times' ratio in the same round. Prints one line per size.
import { parseArgs } from 'node:util';
import { hvp, RandomState, reshape, type Tensor, tensor, tidy, valueAndGrad } from '@tapegrad/core';
import { linearCrossEntropy, lstmSequence, lstmSequenceOp } from '@tapegrad/nn';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    'sample-ms': { type: 'string', default: '300' },
  },
});
const rounds = Number(values.rounds);
const sampleMs = Number(values['sample-ms']);

interface Size {
  name: string;
  input: number;
  hidden: number;
  output: number;
  batch: number;
  steps: number;
}
const sizes: Size[] = [
  { name: 'lstm-small', input: 3, hidden: 5, output: 2, batch: 10, steps: 4 },
  { name: 'lstm-mid', input: 16, hidden: 32, output: 16, batch: 16, steps: 20 },
];

/** Iterations per millisecond of fn over about sampleMs (at least three iterations). */
function sample(fn: () => void): number {
  const start = performance.now();
  let n = 0;
  while (n < 3 || performance.now() - start < sampleMs) {
    fn();
    n++;
  }
  return (performance.now() - start) / n;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

for (const { name, input: I, hidden: H, output: O, batch: B, steps: T } of sizes) {
  const rng = new RandomState(0);
  const draw = (...shape: number[]) => rng.uniform(-0.3, 0.3, shape, { dtype: 'float32' });
  const params = [draw(4 * H, I), draw(4 * H, H), draw(4 * H), draw(4 * H), draw(O, H), draw(O)];
  const tangents = params.map((p) => draw(...p.shape));
  const x = draw(T, B, I);
  const h0 = tensor(new Float32Array(B * H), { shape: [B, H] });
  const targets = tensor(
    Array.from({ length: T * B }, (_, i) => i % O),
    { dtype: 'float64' },
  );
  const lossWith =
    (sequence: typeof lstmSequence) =>
    (...p: Tensor[]): Tensor => {
      const [out] = sequence(x, h0, h0, p[0]!, p[1]!, p[2]!, p[3]!);
      return linearCrossEntropy(reshape(out!, [T * B, H]), p[4]!, p[5]!, targets, { reduction: 'sum' });
    };
  const loss = lossWith(lstmSequence);
  const unrolled = lossWith((...inputs) => lstmSequenceOp.reference!(...inputs) as [Tensor, Tensor, Tensor]);
  const argnums = [0, 1, 2, 3, 4, 5];
  const fused = valueAndGrad(loss, { argnums });
  const reference = valueAndGrad(unrolled, { argnums });
  const steps = [
    () => tidy(() => void fused(...params)[1][0]!.data[0]),
    () => tidy(() => void reference(...params)[1][0]!.data[0]),
    () => tidy(() => void hvp(loss, params, tangents)[0]!.data[0]),
  ];
  for (let i = 0; i < 20; i++) for (const step of steps) step(); // warm-up
  const times: number[][] = [[], [], []];
  for (let r = 0; r < rounds; r++) {
    // The order rotates, so that none always runs on a machine another has just warmed.
    for (let k = 0; k < 3; k++) {
      const which = (r + k) % 3;
      times[which]!.push(sample(steps[which]!));
    }
  }
  const [fusedMs, referenceMs, hvpMs] = times as [number[], number[], number[]];
  const ratio = (over: number[]) => median(hvpMs.map((h, r) => h / over[r]!)).toFixed(2);
  console.log(
    `${name} (I ${I}, H ${H}, O ${O}, B ${B}, T ${T}), medians of ${rounds} rounds: gradient ` +
      `${median(fusedMs).toFixed(3)} ms (fused), ${median(referenceMs).toFixed(3)} ms (through the reference); ` +
      `hvp ${median(hvpMs).toFixed(3)} ms = ${ratio(fusedMs)}× the fused gradient, ${ratio(referenceMs)}× the reference's`,
  );
}
