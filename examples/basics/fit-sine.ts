// The smallest end-to-end use of @tapegrad/core: a two-layer tanh network fits sin(x) on [-π, π]
// with plain gradient descent, using valueAndGrad and nothing else of ours.
import {
  add,
  matmul,
  mean,
  mul,
  RandomState,
  sub,
  type Tensor,
  tanh,
  tensor,
  valueAndGrad,
} from '@tapegrad/core';

export interface FitResult {
  initialLoss: number;
  finalLoss: number;
}

export function fitSine(steps = 3000, hidden = 16, lr = 0.05, seed = 0, log = (_: string) => {}): FitResult {
  const rng = new RandomState(seed);
  const n = 64;
  const xs = Float64Array.from({ length: n }, (_, i) => -Math.PI + (2 * Math.PI * i) / (n - 1));
  const x = tensor(xs, { shape: [n, 1], dtype: 'float64' });
  const y = tensor(xs.map(Math.sin), { shape: [n, 1], dtype: 'float64' });

  let params: Tensor[] = [
    rng.randn(1, hidden), // w1 [1, H]
    tensor(new Float64Array(hidden), { shape: [hidden] }), // b1 [H]
    mul(rng.randn(hidden, 1), 1 / Math.sqrt(hidden)), // w2 [H, 1]
    tensor(new Float64Array(1), { shape: [1] }), // b2 [1]
  ];
  const loss = (w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor): Tensor => {
    const h = tanh(add(matmul(x, w1), b1));
    const err = sub(add(matmul(h, w2), b2), y);
    return mean(mul(err, err));
  };
  const step = valueAndGrad(loss, { argnums: [0, 1, 2, 3] });

  let initialLoss = Number.NaN;
  let finalLoss = Number.NaN;
  for (let i = 0; i <= steps; i++) {
    const [value, grads] = step(...(params as [Tensor, Tensor, Tensor, Tensor]));
    finalLoss = value.item();
    if (i === 0) initialLoss = finalLoss;
    if (i % 250 === 0) log(`step ${String(i).padStart(5)}  mse ${finalLoss.toExponential(3)}`);
    params = params.map((p, k) => sub(p, mul((grads as Tensor[])[k]!, lr)));
  }
  return { initialLoss, finalLoss };
}

if (process.argv[1]?.endsWith('fit-sine.ts')) {
  console.log('Fitting sin(x) with a 1→16→1 tanh network (float64, full-batch gradient descent)');
  const { initialLoss, finalLoss } = fitSine(3000, 16, 0.05, 0, console.log);
  console.log(`mse ${initialLoss.toExponential(3)} → ${finalLoss.toExponential(3)}`);
}
