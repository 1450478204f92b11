import {
  add,
  grad,
  hessian,
  hvp,
  logSumExp,
  matmul,
  mul,
  sub,
  sum,
  type Tensor,
  tensor,
  zerosLike,
} from '@tapegrad/core';

// Newton's method without forming the Hessian: each step solves H·d = ∇f by conjugate gradients, one
// Hessian-vector product (reverse over reverse) per iteration. f is smooth and strictly convex.
const A = tensor(
  [
    [1, 2],
    [-1, 0.5],
    [0.3, -2],
    [2, 1],
  ],
  { dtype: 'float64' },
);
const f = (x: Tensor) => add(logSumExp(matmul(A, x)), mul(sum(mul(x, x)), 0.5));
const dot = (a: Tensor, b: Tensor) => sum(mul(a, b)).item();

let x = tensor([1, -1], { dtype: 'float64' });
for (let step = 1; step <= 5; step++) {
  const g = grad(f)(x);
  let [d, r, p] = [zerosLike(x), g, g];
  for (let k = 0; k < x.size; k++) {
    const [hp] = hvp(f, [x], [p]);
    const alpha = dot(r, r) / dot(p, hp!);
    d = add(d, mul(p, alpha));
    const next = sub(r, mul(hp!, alpha));
    p = add(next, mul(p, dot(next, next) / dot(r, r)));
    r = next;
  }
  x = sub(x, d);
  const norm = Math.sqrt(dot(grad(f)(x), grad(f)(x)));
  console.log(`step ${step}: f ${f(x).item().toFixed(12)}, |∇f| ${norm.toExponential(1)}`); // |∇f| falls quadratically
}
console.log(x.toArray(), hessian(f)(x).toArray()); // the minimiser, and Aᵀ(diag p - ppᵀ)A + I there
