import { RandomState, tensor, tidy } from '@tapegrad/core';
import { Adam, clipGradNorm, Linear, LSTM, mse } from '@tapegrad/nn';

// Teach an LSTM to repeat its input one step late: it has to remember it.
const rng = new RandomState(0);
const lstm = new LSTM(1, 16, { rng });
const head = new Linear(16, 1, { rng });
const optimizer = new Adam([...lstm.parameters(), ...head.parameters()], { lr: 0.01 });
for (let step = 0; step <= 300; step++) {
  // tidy: the step's tensors are disposed when it returns, and their memory goes to the next step.
  const loss = tidy(() => {
    const x = rng.uniform(-1, 1, [10, 8, 1], { dtype: 'float32' }); // [time, batch, feature]
    const late = x.data.map((_, i) => (i >= 8 ? x.data[i - 8]! : 0)); // x one step (8 values) earlier
    const target = tensor(late, { shape: [10, 8, 1] });
    const { output } = lstm.forward(x); // [time, batch, hidden]
    const loss = mse(head.forward(output), target);
    optimizer.zeroGrad();
    loss.backward(); // through time, each step's fused cell backward in reverse
    clipGradNorm(optimizer.params, 1);
    optimizer.step();
    return loss.item();
  });
  if (step % 100 === 0) console.log(`step ${step}: loss ${loss.toFixed(4)}`);
}
