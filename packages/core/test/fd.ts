// Central finite differences in float64: the oracle every vjp test holds the tape against.
import { astype, noGrad, type Tensor, tensor } from '../src/index.js';

const toFloat64 = (t: Tensor): Tensor => (t.dtype === 'float64' ? t : noGrad(() => astype(t, 'float64')));

/**
 * The gradient of sum(f(...inputs) · seed) with respect to each input, by central differences
 * (f(x + eps) - f(x - eps)) / 2eps, one element at a time. Inputs and seed are promoted to
 * float64 and f runs under noGrad, so the tape is not involved; the grads are float64.
 */
export function numericGrad(
  f: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  seed: Tensor,
  eps = 1e-6,
): Tensor[] {
  const seed64 = toFloat64(seed).data;
  const base = inputs.map((t) => Float64Array.from(t.data));
  const objective = (buffers: Float64Array[]): number => {
    const args = buffers.map((b, i) => tensor(b, { dtype: 'float64', shape: inputs[i]!.shape }));
    const out = toFloat64(noGrad(() => f(...args)));
    if (out.size !== seed64.length) {
      throw new RangeError(
        `numericGrad: f returned shape [${out.shape.join(',')}], the seed has ${seed64.length} elements`,
      );
    }
    let total = 0;
    for (let i = 0; i < out.size; i++) total += out.data[i]! * seed64[i]!;
    return total;
  };
  return base.map((x, k) => {
    const grad = new Float64Array(x.length);
    for (let j = 0; j < x.length; j++) {
      const original = x[j]!;
      x[j] = original + eps;
      const up = objective(base);
      x[j] = original - eps;
      const down = objective(base);
      x[j] = original;
      grad[j] = (up - down) / (2 * eps);
    }
    return tensor(grad, { dtype: 'float64', shape: inputs[k]!.shape });
  });
}
