import { grad, hvp, jacobian, jvp, linearize, matmul, sum, type Tensor, tanh, tensor } from '@tapegrad/core';

// y = tanh(W·x) for x in R², y in R³. Forward mode gives J·v, how y moves when x moves along v,
// without forming J; grad and jvp compose, so jvp of grad is a Hessian-vector product.
const W = tensor(
  [
    [1, -2],
    [0.5, 0.3],
    [-1, 0.8],
  ],
  { dtype: 'float64' },
);
const layer = (x: Tensor) => tanh(matmul(W, x));
const x = tensor([0.1, -0.2], { dtype: 'float64' });
const v = tensor([1, 0], { dtype: 'float64' });

const [y, dy] = jvp(layer, [x], [v]); // dy = J·v = (1 - y²) ⊙ W's first column
const [, layerJvp] = linearize(layer, [x]); // t ↦ J·t at this x (each call runs a jvp)
const J = jacobian(layer)(x); // [3, 2]; forward mode, as x has fewer elements than y
const loss = (x: Tensor) => sum(layer(x));
const [, hv] = jvp(grad(loss), [x], [v]); // H·v, forward over reverse
const [hvByReverse] = hvp(loss, [x], [v]); // the same, reverse over reverse
console.log(
  y.toArray(),
  dy.toArray(),
  layerJvp(v).toArray(),
  J.toArray(),
  hv.toArray(),
  hvByReverse!.toArray(),
);
