// `pnpm --filter @tapegrad/bench jvp`: what forward mode costs on the bench's LSTM loss (nn's whole-sequence
// LSTM, then linearCrossEntropy summed over steps and batch; the six parameters; float32), as multiples of
// a plain forward of the same loss, and what jvp of grad (forward over reverse, a Hessian-vector product)
// costs against one gradient and against hvp (reverse over reverse). nn's fused ops have no jvp rule, so
// under a jvp they run their references (the LSTM unrolled into core ops): the forward through the
// reference is timed too. Samples alternate within a round (order rotating), each about `--sample-ms`;
// a multiple is the median over rounds of the per-iteration times' ratio in the same round.
import { grad, hvp, jvp, tidy, valueAndGrad } from '@tapegrad/core';
import { lstmLoss, sizes } from './src/lstm-loss.js';
import { median, roundsArgs, sample } from './src/sampling.js';

const { rounds, sampleMs } = roundsArgs();

for (const size of sizes) {
  const { name, input: I, hidden: H, output: O, batch: B, steps: T } = size;
  const { params, tangents, loss, unrolled, argnums } = lstmLoss(size);
  const gradient = valueAndGrad(loss, { argnums });
  const gradF = grad(loss, { argnums });
  const steps = {
    forward: () => tidy(() => void loss(...params).data[0]),
    forwardReference: () => tidy(() => void unrolled(...params).data[0]),
    jvp: () => tidy(() => void jvp(loss, params, tangents)[1].data[0]),
    gradient: () => tidy(() => void gradient(...params)[1][0]!.data[0]),
    jvpOfGrad: () => tidy(() => void jvp(gradF, params, tangents)[1][0]!.data[0]),
    hvp: () => tidy(() => void hvp(loss, params, tangents)[0]!.data[0]),
  };
  const names = Object.keys(steps) as (keyof typeof steps)[];
  for (let i = 0; i < 10; i++) for (const k of names) steps[k](); // warm-up
  const times = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<
    keyof typeof steps,
    number[]
  >;
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const which = names[(r + k) % names.length]!;
      // Wall time, this script's measure (hvp.ts and ab.ts take CPU time).
      times[which].push(sample(steps[which], sampleMs, { clock: 'wall' }));
    }
  }
  const ms = (k: keyof typeof steps) => `${median(times[k]).toFixed(3)} ms`;
  const over = (k: keyof typeof steps, base: keyof typeof steps) =>
    `${median(times[k].map((t, r) => t / times[base][r]!)).toFixed(2)}×`;
  console.log(
    `${name} (I ${I}, H ${H}, O ${O}, B ${B}, T ${T}), medians of ${rounds} rounds: forward ${ms('forward')} ` +
      `(fused), ${ms('forwardReference')} (reference); jvp ${ms('jvp')} = ${over('jvp', 'forward')} the fused ` +
      `forward, ${over('jvp', 'forwardReference')} the reference's; gradient ${ms('gradient')}; jvp of grad ` +
      `${ms('jvpOfGrad')} = ${over('jvpOfGrad', 'gradient')} the gradient; hvp (reverse over reverse) ` +
      `${ms('hvp')} = ${over('hvp', 'gradient')} the gradient; jvp of grad / hvp ${over('jvpOfGrad', 'hvp')}`,
  );
}
