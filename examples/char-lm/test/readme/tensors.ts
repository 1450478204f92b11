import { grad, matmul, sum, tanh, tensor } from '@tapegrad/core';

const x = tensor(
  [
    [1, 2],
    [3, 4],
  ],
  { dtype: 'float64', requiresGrad: true },
);
const w = tensor([[0.5], [-0.25]], { dtype: 'float64' });
const y = sum(tanh(matmul(x, w))); // a one-element tensor
y.backward(); // x.grad now holds dy/dx
const dfdw = grad((w) => sum(tanh(matmul(x, w))))(w); // or functionally, JAX-style
console.log(x.grad!.toArray(), (dfdw as typeof x).toArray()); // [[0.5, -0.25], [0.3932, -0.1966]] [[3.3593], [5.1458]]
