// `pnpm --filter @tapegrad/bench hvp`: what a Hessian-vector product of an LSTM loss costs, as a multiple
// of one gradient of the same loss. The loss is the bench's (nn's whole-sequence LSTM, what the LSTM layer
// runs, then linearCrossEntropy summed over steps and batch), over the six parameters, in float32. The
// gradient is valueAndGrad (the fused backwards); hvp is reverse over reverse: a forward, a backward that
// builds a graph (through the fused ops' references: the LSTM unrolled into core ops), and a backward of
// that. So the gradient through the LSTM's reference, the graph hvp differentiates, is timed as well.
// Samples of CPU time on one thread alternate within a round (order rotating), each about `--sample-ms`
// long; a multiple is the median over rounds of the per-iteration times' ratio in the same round. Prints
// one line per size.
import { hvp, tidy, valueAndGrad } from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { lstmLoss, sizes } from './src/lstm-loss.js';
import { median, roundsArgs, sample } from './src/sampling.js';

const { rounds, sampleMs } = roundsArgs();
// One thread, so that CPU time is the work's own (ab.ts does the same).
kernels.setThreads(1);

for (const size of sizes) {
  const { name, input: I, hidden: H, output: O, batch: B, steps: T } = size;
  const { params, tangents, loss, unrolled, argnums } = lstmLoss(size);
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
      times[which]!.push(sample(steps[which]!, sampleMs));
    }
  }
  const [fusedMs, referenceMs, hvpMs] = times as [number[], number[], number[]];
  const ratio = (over: number[]) => median(hvpMs.map((h, r) => h / over[r]!)).toFixed(2);
  console.log(
    `${name} (I ${I}, H ${H}, O ${O}, B ${B}, T ${T}), CPU medians of ${rounds} rounds: gradient ` +
      `${median(fusedMs).toFixed(3)} ms (fused), ${median(referenceMs).toFixed(3)} ms (through the reference); ` +
      `hvp ${median(hvpMs).toFixed(3)} ms = ${ratio(fusedMs)}× the fused gradient, ${ratio(referenceMs)}× the reference's`,
  );
}
