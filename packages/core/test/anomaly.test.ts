// Anomaly mode: the first op whose forward output or backward grad holds NaN or ±Inf is named, with
// its input shapes and the line that called it; off, nothing is checked and nothing is captured.
import { describe, expect, it } from 'vitest';
import {
  AnomalyError,
  add,
  customOp,
  detectAnomaly,
  exp,
  isAnomalyEnabled,
  log,
  matmul,
  mul,
  noGrad,
  setDetectAnomaly,
  sigmoid,
  split,
  sqrt,
  sub,
  sum,
  type Tensor,
  tanh,
  tensor,
} from '../src/index.js';

const THIS_FILE = 'anomaly.test.ts';

/** Runs fn expecting an AnomalyError and returns it. */
function anomalyOf(fn: () => unknown): AnomalyError {
  try {
    fn();
  } catch (error) {
    if (error instanceof AnomalyError) return error;
    throw error;
  }
  throw new Error('expected an AnomalyError, nothing was thrown');
}

/** The line of this file at which `marker` appears (so call-site assertions do not hard-code lines). */
async function lineOf(marker: string): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(new URL(import.meta.url), 'utf8');
  const lines = text.split('\n');
  const index = lines.findIndex((l) => l.includes(marker) && !l.includes('lineOf('));
  return index + 1;
}

/** One LSTM step from core ops (gate order i, f, g, o): h, c from x, h, c and the weights. */
function lstmStep(x: Tensor, h: Tensor, c: Tensor, weightIh: Tensor, weightHh: Tensor): [Tensor, Tensor] {
  const gates = add(matmul(x, weightIh), matmul(h, weightHh));
  const [i, f, g, o] = split(gates, 4, -1) as [Tensor, Tensor, Tensor, Tensor];
  const cNext = add(mul(sigmoid(f), c), mul(sigmoid(i), tanh(g)));
  return [mul(sigmoid(o), tanh(cNext)), cNext];
}

describe('detectAnomaly', () => {
  it('is off by default; off, log(0) gives -Inf and nothing is thrown', () => {
    expect(isAnomalyEnabled()).toBe(false);
    expect(log(tensor([0])).item()).toBe(-Infinity);
  });

  it("catches log(0) → -Inf at 'log', with its input shape and this file's line as the call site", async () => {
    const x = tensor([1, 0, 2], { requiresGrad: true });
    const error = anomalyOf(() => detectAnomaly(() => sum(log(x)))); // log-call-site
    expect(error.op).toBe('log');
    expect(error.phase).toBe('forward');
    expect(error.inputShapes).toEqual([[3]]);
    expect(error.message).toContain("'log' produced -Infinity");
    expect(error.message).toContain('first at [1]');
    expect(error.message).toContain('float32 [3]');
    expect(error.message).toContain('all finite'); // the inputs were fine: log made the -Inf
    expect(error.callSite).toContain(THIS_FILE);
    expect(error.callSite).toContain(`:${await lineOf('// log-call-site')}:`);
    expect(isAnomalyEnabled()).toBe(false); // restored after the throw
  });

  it('checks ops that are not recorded too (noGrad, or no input requires grad)', () => {
    const error = anomalyOf(() =>
      detectAnomaly(() => noGrad(() => exp(tensor([1000], { dtype: 'float64' })))),
    );
    expect(error.op).toBe('exp');
    expect(error.message).toContain('Infinity');
  });

  it("catches a NaN made in backward (sqrt at 0: an Inf grad) naming 'sqrt', not the div inside its vjp", async () => {
    const x = tensor([4, 0, 1], { dtype: 'float64', requiresGrad: true });
    const error = anomalyOf(() =>
      detectAnomaly(() => {
        const y = sum(sqrt(x)); // sqrt-call-site
        y.backward();
      }),
    );
    expect(error.op).toBe('sqrt');
    expect(error.phase).toBe('backward');
    expect(error.message).toContain("the backward of 'sqrt' produced Infinity in the grad of input 0");
    expect(error.message).toContain('first at [1]');
    expect(error.inputShapes).toEqual([[3]]);
    expect(error.callSite).toContain(`${THIS_FILE}:${await lineOf('// sqrt-call-site')}:`);
    expect(x.grad).toBeNull(); // nothing reached the leaf
  });

  it('the same backward with anomaly mode off gives Inf silently (so the test above is about the mode)', () => {
    const x = tensor([4, 0, 1], { dtype: 'float64', requiresGrad: true });
    sum(sqrt(x)).backward();
    expect(x.grad!.toArray()).toEqual([0.25, Infinity, 0.5]);
  });

  it('an LSTM whose weight went to Inf: the first op that touches it is named, and the bad input with it', async () => {
    const hidden = 3;
    const weightIh = tensor(new Float64Array(2 * 4 * hidden).fill(0.1), {
      shape: [2, 4 * hidden],
      requiresGrad: true,
    });
    const bad = new Float64Array(hidden * 4 * hidden).fill(0.1);
    bad[5] = Infinity; // as after an optimizer step with a huge grad
    const weightHh = tensor(bad, { shape: [hidden, 4 * hidden], requiresGrad: true });
    const x = tensor([[1, -1]], { dtype: 'float64' });
    let h = tensor([[0.5, -0.5, 0.25]], { dtype: 'float64' });
    let c = tensor([[0, 0, 0]], { dtype: 'float64' });
    const error = anomalyOf(() =>
      detectAnomaly(() => {
        for (let t = 0; t < 3; t++) [h, c] = lstmStep(x, h, c, weightIh, weightHh);
      }),
    );
    // h @ weightHh is the first op to see the Inf; it comes out as Inf in column 5.
    expect(error.op).toBe('matmul');
    expect(error.inputShapes).toEqual([
      [1, 3],
      [3, 12],
    ]);
    expect(error.message).toContain('input 1 (float64 [3,12]) already held Infinity at [0,5]');
    expect(error.message).toContain('first at [0,5]');
    expect(error.message).toContain('lstmStep');
    expect(error.message).toContain(THIS_FILE);
  });

  it('an LSTM that goes to NaN in backward names the op whose vjp made the first NaN', () => {
    const hidden = 2;
    const weightIh = tensor(new Float64Array(2 * 4 * hidden).fill(0.1), {
      shape: [2, 8],
      requiresGrad: true,
    });
    const weightHh = tensor(new Float64Array(hidden * 4 * hidden).fill(0.1), {
      shape: [2, 8],
      requiresGrad: true,
    });
    const error = anomalyOf(() =>
      detectAnomaly(() => {
        let h = tensor([[0.1, 0.2]], { dtype: 'float64' });
        let c = tensor([[0, 0]], { dtype: 'float64' });
        for (let t = 0; t < 2; t++)
          [h, c] = lstmStep(tensor([[1, 2]], { dtype: 'float64' }), h, c, weightIh, weightHh);
        // A norm loss ‖h - target‖ at exactly 0: sqrt's vjp divides by 2·sqrt(0).
        const distance = sub(h, h.detach());
        sqrt(sum(mul(distance, distance))).backward();
      }),
    );
    expect(error.phase).toBe('backward');
    expect(error.op).toBe('sqrt');
  });

  it('a NaN seed is refused before any vjp is blamed', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const error = anomalyOf(() => detectAnomaly(() => mul(x, 2).backward(tensor([Number.NaN, 1]))));
    expect(error.message).toContain('the backward seed (float32 [2]) holds NaN');
    // Off, the seed is not looked at: its NaN flows into the grads as any NaN would.
    const y = tensor([1, 2], { requiresGrad: true });
    mul(y, 2).backward(tensor([Number.NaN, 1]));
    expect(Array.from(y.grad!.data)).toEqual([Number.NaN, 2]);
  });

  it('a customOp is checked forward (even unrecorded) and backward, under its own name', () => {
    const halfBroken = customOp({
      name: 'halfBroken',
      forward: ([x]) => ({ outputs: mul(x!, 2), residuals: null }),
      backward: ([g]) => [mul(g!, Number.NaN)],
    });
    const x = tensor([1, 2], { requiresGrad: true });
    const backwardError = anomalyOf(() => detectAnomaly(() => sum(halfBroken(x) as Tensor).backward()));
    expect(backwardError.op).toBe('halfBroken');
    expect(backwardError.phase).toBe('backward');
    const producesInf = customOp({
      name: 'producesInf',
      forward: ([x]) => ({ outputs: noGrad(() => mul(x!, Infinity)).detach(), residuals: null }),
      backward: ([g]) => [g!],
    });
    // The first bad op is the inner mul (the customOp's forward runs core ops, checked as such).
    const forwardError = anomalyOf(() => detectAnomaly(() => producesInf(tensor([1]))));
    expect(forwardError.op).toBe('mul');
  });

  it('the global switch stays on until turned off, and detectAnomaly restores the previous mode', async () => {
    setDetectAnomaly(true);
    try {
      expect(anomalyOf(() => log(tensor([-1]))).op).toBe('log');
      detectAnomaly(() => undefined);
      expect(isAnomalyEnabled()).toBe(true);
    } finally {
      setDetectAnomaly(false);
    }
    // An async function keeps the mode on until its promise settles.
    const seen = await detectAnomaly(async () => {
      await Promise.resolve();
      return isAnomalyEnabled();
    });
    expect(seen).toBe(true);
    expect(isAnomalyEnabled()).toBe(false);
  });

  it('finite work passes unchanged in anomaly mode: same values and grads as with it off', () => {
    const run = () => {
      const x = tensor([0.5, 1.5, 2.5], { dtype: 'float64', requiresGrad: true });
      const y = sum(mul(log(x), tanh(x)));
      y.backward();
      return [y.item(), x.grad!.toArray()];
    };
    expect(detectAnomaly(run)).toEqual(run());
  });
});
