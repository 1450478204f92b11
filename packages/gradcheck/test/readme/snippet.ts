import { customOp, mul, sub, type Tensor, tanh, tensor } from '@tapegrad/core';
import { assertGradcheck, checkOverride, tensors } from '@tapegrad/gradcheck';

// Your op: a forward, a hand-written backward (d tanh = g·(1 - y²)), and a reference built from core ops.
const myTanh = customOp<Tensor>({
  name: 'myTanh',
  forward: ([x]) => ({ outputs: tanh(x!), residuals: tanh(x!) }),
  backward: ([g], y) => [mul(g!, sub(1, mul(y, y)))],
  reference: (x) => tanh(x!),
});
assertGradcheck(myTanh, [tensor([0.5, -1.2], { dtype: 'float64' })]); // one point, torch's tolerances
checkOverride(
  myTanh,
  tensors().map((x) => [x]),
); // many shapes and values; throws the shrunk witness
