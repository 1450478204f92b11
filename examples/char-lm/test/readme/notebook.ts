import { grad, mul, RandomState, sum, type Tensor } from '@tapegrad/core';
import { stepByStep } from '@tapegrad/nn';

// The notebook's rnn_forward test, drawn as it draws them: np.random.seed(1), then randn in this order.
const rng = new RandomState(1);
const x = rng.randn(3, 10, 4); // (n_x, m, T)
const a0 = rng.randn(5, 10); // (n_a, m)
const [Waa, Wax, Wya, ba, by] = [
  rng.randn(5, 5),
  rng.randn(5, 3),
  rng.randn(2, 5),
  rng.randn(5, 1),
  rng.randn(2, 1),
];
const parameters = { Waa, Wax, Wya, ba, by };
const { a, caches } = stepByStep.rnnForward(x, a0, parameters);
console.log((a.toArray() as number[][][])[4]![1]); // the notebook prints a[4][1] = [-0.99999375 0.77911235 ...]

// Its hand-written backward through time, and the tape's gradient of the same thing: they agree.
const da = rng.randn(5, 10, 4);
const { dx } = stepByStep.rnnBackward(da, caches);
const tapeDx = grad((x: Tensor) => sum(mul(stepByStep.rnnForward(x, a0, parameters).a, da)))(x) as Tensor;
console.log(Math.max(...dx.data.map((v, i) => Math.abs(v - tapeDx.data[i]!)))); // ~1e-15
