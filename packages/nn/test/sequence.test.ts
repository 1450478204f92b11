// The whole-sequence ops: their hand-written backward through time against the per-step cell
// references unrolled on the tape and finite differences (checkOverride), their values and grads
// against the fused per-step cells unrolled, and the reuse of saved activations across iterations.
import {
  add,
  type CustomOp,
  grad,
  mul,
  noGrad,
  RandomState,
  reshape,
  split,
  stack,
  sum,
  type Tensor,
  tensor,
} from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { checkOverride, checkOverrideAt, formatOverrideReport } from '@tapegrad/gradcheck';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  gruCell,
  gruSequenceOp,
  LSTM,
  lstmCell,
  lstmSequenceOp,
  rnnCell,
  rnnCellReference,
  rnnReluSequence,
  rnnTanhSequence,
} from '../src/index.js';

/**
 * Inputs (x [T, B, I], stateCount states [B, H], weights, biases) with T in 1..4 and B, I, H in 1..5,
 * float64 values on a 1e-3 grid in [-1, 1] (the grid keeps out subnormals, as in cells.test.ts).
 */
function sequenceInputs(
  gateCount: number,
  stateCount: number,
  keep: (inputs: Tensor[]) => boolean = () => true,
): fc.Arbitrary<Tensor[]> {
  const size = fc.integer({ min: 1, max: 5 });
  const value = fc.integer({ min: -1000, max: 1000 }).map((k) => k / 1000);
  const of = (shape: number[]) => {
    const count = shape.reduce((n, d) => n * d, 1);
    return fc
      .array(value, { minLength: count, maxLength: count })
      .map((values) => tensor(values, { dtype: 'float64', shape }));
  };
  return fc
    .tuple(fc.integer({ min: 1, max: 4 }), size, size, size)
    .chain(([steps, batch, input, hidden]) => {
      const width = gateCount * hidden;
      const states = Array.from({ length: stateCount }, () => of([batch, hidden]));
      return fc.tuple(
        of([steps, batch, input]),
        ...states,
        of([width, input]),
        of([width, hidden]),
        of([width]),
        of([width]),
      );
    })
    .filter(keep);
}

/** Whether every pre-activation of the relu RNN, at every step, is at least 1e-3 away from its kink. */
const offReluKink = (inputs: Tensor[]): boolean =>
  noGrad(() => {
    const [x, h0, weightIh, weightHh, biasIh, biasHh] = inputs as [
      Tensor,
      Tensor,
      Tensor,
      Tensor,
      Tensor,
      Tensor,
    ];
    const [steps, batch, input] = x.shape as [number, number, number];
    let h = h0;
    return split(x, steps, 0).every((slab) => {
      const pre = rnnCellReference(reshape(slab, [batch, input]), h, weightIh, weightHh, biasIh, biasHh);
      h = rnnCell(reshape(slab, [batch, input]), h, weightIh, weightHh, biasIh, biasHh, {
        nonlinearity: 'relu',
      });
      return pre.data.every((v) => Math.abs(v) > Math.tanh(1e-3));
    });
  });

describe('checkOverride over property-generated sizes (float64, T 1..4, B, I, H 1..5)', () => {
  const DEEP_TIMEOUT = 600_000;
  const names = ['x', 'h0', 'weightIh', 'weightHh', 'biasIh', 'biasHh'];
  it(
    'rnnTanhSequence',
    () => {
      checkOverride(rnnTanhSequence, sequenceInputs(1, 1), { names });
    },
    DEEP_TIMEOUT,
  );
  it(
    'rnnReluSequence',
    () => {
      checkOverride(rnnReluSequence, sequenceInputs(1, 1, offReluKink), { names });
    },
    DEEP_TIMEOUT,
  );
  it(
    'lstmSequence',
    () => {
      checkOverride(lstmSequenceOp, sequenceInputs(4, 2), { names: ['x', 'h0', 'c0', ...names.slice(2)] });
    },
    DEEP_TIMEOUT,
  );
  it(
    'gruSequence',
    () => {
      checkOverride(gruSequenceOp, sequenceInputs(3, 1), { names });
    },
    DEEP_TIMEOUT,
  );
});

type Kind = 'lstm' | 'gru' | 'rnnTanh' | 'rnnRelu';
const GATES: Record<Kind, number> = { lstm: 4, gru: 3, rnnTanh: 1, rnnRelu: 1 };
const SEQUENCE: Record<Kind, (...inputs: Tensor[]) => Tensor | Tensor[]> = {
  lstm: lstmSequenceOp,
  gru: gruSequenceOp,
  rnnTanh: rnnTanhSequence,
  rnnRelu: rnnReluSequence,
};

/** The fused per-step cells unrolled: [output, ...final states], as the sequence ops return. */
function perStep(kind: Kind, inputs: Tensor[]): Tensor[] {
  const states = kind === 'lstm' ? 2 : 1;
  const [x, ...rest] = inputs as [Tensor, ...Tensor[]];
  let state = rest.slice(0, states);
  const [weightIh, weightHh, biasIh, biasHh] = rest.slice(states) as [Tensor, Tensor, Tensor, Tensor];
  const [steps, batch, input] = x.shape as [number, number, number];
  const hs = split(x, steps, 0).map((slab) => {
    const xt = reshape(slab, [batch, input]);
    const [h, c] = state as [Tensor, Tensor];
    if (kind === 'lstm') state = lstmCell(xt, h, c, weightIh, weightHh, biasIh, biasHh);
    else if (kind === 'gru') state = [gruCell(xt, h, weightIh, weightHh, biasIh, biasHh)];
    else {
      const nonlinearity = kind === 'rnnTanh' ? 'tanh' : 'relu';
      state = [rnnCell(xt, h, weightIh, weightHh, biasIh, biasHh, { nonlinearity })];
    }
    return state[0]!;
  });
  return [stack(hs, 0), ...state];
}

/** Inputs drawn from numpy's normal stream (scaled so that the gates are not saturated). */
function randomInputs(kind: Kind, sizes: number[], dtype: 'float32' | 'float64', seed: number): Tensor[] {
  const [steps, batch, input, hidden] = sizes as [number, number, number, number];
  const rng = new RandomState(seed);
  const width = GATES[kind] * hidden;
  const shapes = [
    [steps, batch, input],
    ...(kind === 'lstm' ? [[batch, hidden]] : []),
    [batch, hidden],
    [width, input],
    [width, hidden],
    [width],
    [width],
  ];
  return shapes.map((shape) => mul(rng.randn(...shape, { dtype }), 0.3));
}

/** A scalar weighing every output element differently, so no grad hides in a sum. */
function weighted(outputs: Tensor[], seed: number): Tensor {
  const rng = new RandomState(seed);
  return outputs
    .map((t) => sum(mul(t, rng.randn(...t.shape, { dtype: t.dtype }))))
    .reduce((a, b) => add(a, b));
}

function expectNear(actual: Tensor, expected: Tensor, atol: number, rtol: number, what: string): void {
  expect(actual.shape, what).toEqual(expected.shape);
  actual.data.forEach((a, i) => {
    const e = expected.data[i]!;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`${what}[${i}]: sequence ${a}, per-step ${e}`);
    }
  });
}

describe('the sequence ops equal the fused per-step cells unrolled', () => {
  // Sizes the wasm gemm takes (float32) as well as small ones the JS loop takes.
  const cases: [number[], 'float32' | 'float64', number, number][] = [
    [[3, 2, 4, 5], 'float64', 1e-13, 1e-12],
    [[7, 8, 16, 24], 'float64', 1e-13, 1e-12],
    [[7, 8, 16, 24], 'float32', 2e-5, 1e-4],
    [[1, 3, 2, 4], 'float32', 2e-6, 1e-5],
    // H 7, padded to 8 in wasm memory, over a batch of 32 that the threads split into bands
    [[4, 32, 8, 7], 'float32', 2e-5, 1e-4],
  ];
  for (const kind of ['lstm', 'gru', 'rnnTanh', 'rnnRelu'] as const) {
    for (const [sizes, dtype, atol, rtol] of cases) {
      it(`${kind}, T·B·I·H ${sizes.join('·')}, ${dtype}: outputs and every input's grad`, () => {
        const inputs = randomInputs(kind, sizes, dtype, 5);
        const argnums = inputs.map((_, i) => i);
        const fused = (...xs: Tensor[]) => weighted(SEQUENCE[kind](...xs) as Tensor[], 6);
        const stepped = (...xs: Tensor[]) => weighted(perStep(kind, xs), 6);
        const outputs = SEQUENCE[kind](...inputs) as Tensor[];
        perStep(kind, inputs).forEach((expected, o) => {
          expectNear(outputs[o]!, expected, atol, rtol, `${kind} output ${o}`);
        });
        const fusedGrads = grad(fused, { argnums })(...inputs) as Tensor[];
        const steppedGrads = grad(stepped, { argnums })(...inputs) as Tensor[];
        fusedGrads.forEach((g, i) => {
          expect(g.dtype).toBe(dtype);
          expectNear(g, steppedGrads[i]!, atol, rtol, `${kind} d input ${i}`);
        });
      });
    }
  }

  it('the same on the plain-JS gemm backend (float32)', () => {
    kernels.setBackend('js');
    try {
      const inputs = randomInputs('lstm', [5, 8, 16, 24], 'float32', 7);
      const argnums = inputs.map((_, i) => i);
      const fusedGrads = grad((...xs: Tensor[]) => weighted(lstmSequenceOp(...xs) as Tensor[], 8), {
        argnums,
      })(...inputs) as Tensor[];
      const steppedGrads = grad((...xs: Tensor[]) => weighted(perStep('lstm', xs), 8), { argnums })(
        ...inputs,
      ) as Tensor[];
      fusedGrads.forEach((g, i) => {
        expectNear(g, steppedGrads[i]!, 2e-5, 1e-4, `d input ${i}`);
      });
    } finally {
      kernels.setBackend('auto');
    }
  });
});

describe('exactly one bias trainable (a frozen biasIh or biasHh)', () => {
  // RNN and LSTM share one carving slot and one dBias between the biases, so one trainable bias takes
  // its own branch (size and copy); the GRU's biases have grads of their own. The trainable one's grad
  // must pass the three oracles; the frozen one must get none, from the op itself and on the tape.
  const kinds = ['rnnTanh', 'lstm', 'gru'] as const;
  for (const kind of kinds) {
    const states = kind === 'lstm' ? 2 : 1;
    const names = ['x', 'h0', ...(kind === 'lstm' ? ['c0'] : []), 'weightIh', 'weightHh', 'biasIh', 'biasHh'];
    for (const frozen of ['biasIh', 'biasHh'] as const) {
      const frozenAt = names.indexOf(frozen);
      const trainableAt = frozen === 'biasIh' ? frozenAt + 1 : frozenAt - 1;

      it(`${kind}, ${frozen} frozen: the other bias's grad against the reference's tape and finite differences`, () => {
        const inputs = randomInputs(kind, [3, 2, 3, 2], 'float64', 31 + states);
        const report = checkOverrideAt(SEQUENCE[kind] as CustomOp, inputs, { names, nondiff: [frozenAt] });
        expect(report.ok, formatOverrideReport(report)).toBe(true);
      });

      it(`${kind}, ${frozen} frozen: the op returns no grad for it, and .grad stays null`, () => {
        const inputs = randomInputs(kind, [3, 2, 3, 2], 'float64', 41 + states);
        inputs.forEach((t, i) => {
          t.requiresGrad = i !== frozenAt;
        });
        const op = SEQUENCE[kind] as CustomOp;
        const { outputs, residuals } = op.spec.forward(inputs, { needsGrad: true });
        const outputGrads = (outputs as Tensor[]).map((o) => mul(new RandomState(43).randn(...o.shape), 1));
        const opGrads = op.spec.backward(outputGrads, residuals, inputs);
        expect(opGrads[frozenAt], `${frozen}'s grad from the op`).toBeNull();
        expect(opGrads[trainableAt]?.shape).toEqual(inputs[trainableAt]!.shape);

        weighted(op(...inputs) as Tensor[], 44).backward();
        expect(inputs[frozenAt]!.grad).toBeNull();
        // The trainable bias's grad is the one it gets when both train (RNN, LSTM: dBias, shared).
        const both = grad((...xs: Tensor[]) => weighted(op(...xs) as Tensor[], 44), {
          argnums: [frozenAt, trainableAt],
        })(...inputs.map((t) => t.detach())) as Tensor[];
        expect(Array.from(inputs[trainableAt]!.grad!.data)).toEqual(Array.from(both[1]!.data));
      });
    }
  }
});

describe('saved activations across iterations', () => {
  const sizes = [4, 3, 5, 6];

  it('a graph kept for a second backward (retainGraph) is not overwritten by a later forward', () => {
    const inputs = randomInputs('lstm', sizes, 'float64', 11);
    for (const t of inputs) t.requiresGrad = true;
    const weightIh = inputs[3]!;
    const first = weighted(lstmSequenceOp(...inputs) as Tensor[], 12);
    first.backward(undefined, { retainGraph: true });
    const once = Float64Array.from(weightIh.grad!.data);
    // Another forward and backward of the same shapes on other values, between the two.
    const others = randomInputs('lstm', sizes, 'float64', 13);
    for (const t of others) t.requiresGrad = true;
    weighted(lstmSequenceOp(...others) as Tensor[], 12).backward();
    weightIh.grad = null;
    first.backward();
    expect(Array.from(weightIh.grad!.data)).toEqual(Array.from(once));
  });

  it('a graph still waiting for its backward is not overwritten by a later forward', () => {
    const inputs = randomInputs('gru', sizes, 'float64', 14);
    for (const t of inputs) t.requiresGrad = true;
    const [expected] = grad((...xs: Tensor[]) => weighted(gruSequenceOp(...xs) as Tensor[], 15), {
      argnums: [2],
    })(...inputs) as Tensor[];
    const pending = weighted(gruSequenceOp(...inputs) as Tensor[], 15);
    const others = randomInputs('gru', sizes, 'float64', 16);
    for (const t of others) t.requiresGrad = true;
    weighted(gruSequenceOp(...others) as Tensor[], 15).backward();
    noGrad(() => gruSequenceOp(...others));
    pending.backward();
    expect(Array.from(inputs[2]!.grad!.data)).toEqual(Array.from(expected!.data));
  });

  it('backward after backward of a freed graph is refused, as for any op', () => {
    const inputs = randomInputs('lstm', sizes, 'float64', 17);
    for (const t of inputs) t.requiresGrad = true;
    const loss = weighted(lstmSequenceOp(...inputs) as Tensor[], 18);
    loss.backward();
    expect(() => loss.backward()).toThrow(/freed by an earlier backward/);
  });

  it('training iterations reuse the buffers: the same grads every time, none of them shared', () => {
    const lstm = new LSTM(5, 6, { rng: new RandomState(19), dtype: 'float64' });
    const x = mul(new RandomState(20).randn(4, 3, 5, { dtype: 'float64' }), 0.5);
    const grads = Array.from({ length: 3 }, () => {
      lstm.zeroGrad();
      weighted([lstm.forward(x).output], 21).backward();
      return lstm.parameters().map((p) => p.grad!);
    });
    grads[1]!.forEach((g, i) => {
      expect(Array.from(g.data)).toEqual(Array.from(grads[0]![i]!.data));
      expect(g.data).not.toBe(grads[0]![i]!.data);
    });
  });
});

describe("float32 gate loops (their own exp) against float64's Math.exp and Math.tanh", () => {
  // Pre-activations across the range: near 0 (tanh's series), moderate, saturating, past the ±100 clamp.
  const pre = [
    0, 1e-30, -3e-8, 0.01, -0.049, 0.05, 0.3, -0.7, 1, -2.5, 5, -9, 15, -20, 44, -88, 90, 150, -1e4,
  ];
  const hidden = pre.length;
  const grid = (shift: number) => pre.map((_, j) => pre[(j + shift) % hidden]!);

  it('lstmGatesForward: gates, c′, h′ and tanh c′ within 2 float32 ulps of float64', () => {
    const gates64 = Float64Array.from([...grid(0), ...grid(3), ...grid(7), ...grid(11)]);
    const c64 = Float64Array.from(grid(5));
    const run = (dtype: 'float32' | 'float64') => {
      const make = (size: number) => (dtype === 'float64' ? new Float64Array(size) : new Float32Array(size));
      const gates = dtype === 'float64' ? Float64Array.from(gates64) : Float32Array.from(gates64);
      const c = dtype === 'float64' ? Float64Array.from(c64) : Float32Array.from(c64);
      const [zerosBias, cNext, hNext, tanhC] = [make(4 * hidden), make(hidden), make(hidden), make(hidden)];
      kernels.lstmGatesForward({
        gates,
        biasIh: zerosBias,
        biasHh: zerosBias,
        c,
        cNext,
        hNext,
        tanhCNext: tanhC,
        batch: 1,
        hidden,
      });
      return [gates, cNext, hNext, tanhC];
    };
    const exact = run('float64');
    run('float32').forEach((got, k) => {
      got.forEach((v, i) => {
        // What float64 gives, rounded once to float32, and 2 ulps of slack around it.
        const want = Math.fround(exact[k]![i]!);
        expect(Math.abs(v - want), `buffer ${k} [${i}]: ${v} vs ${want}`).toBeLessThanOrEqual(
          2 * 2 ** -23 * Math.abs(want) + 1e-38,
        );
      });
    });
  });

  it('rnn and GRU loops likewise, and NaN stays NaN', () => {
    const x = [...pre, Number.NaN];
    const width = x.length;
    const rnn = (dtype: 'float32' | 'float64') => {
      const gates = dtype === 'float64' ? Float64Array.from(x) : Float32Array.from(x);
      const zerosBias = dtype === 'float64' ? new Float64Array(width) : new Float32Array(width);
      kernels.rnnGatesForward({
        gates,
        biasIh: zerosBias,
        biasHh: zerosBias,
        batch: 1,
        hidden: width,
        nonlinearity: 'tanh',
      });
      return gates;
    };
    const gru = (dtype: 'float32' | 'float64') => {
      const of = (v: number[]) => (dtype === 'float64' ? Float64Array.from(v) : Float32Array.from(v));
      const gates = of([...x, ...x.slice(5), ...x.slice(0, 5), ...x.slice(9), ...x.slice(0, 9)]);
      const hiddenGates = of([...x.slice(2), ...x.slice(0, 2), ...x.slice(7), ...x.slice(0, 7), ...x]);
      const zerosBias = of(new Array(3 * width).fill(0));
      const [h, hNext, hiddenN] = [of(x.map((v) => Math.tanh(v / 3))), of(x), of(x)];
      kernels.gruGatesForward({
        gates,
        hiddenGates,
        biasIh: zerosBias,
        biasHh: zerosBias,
        h,
        hNext,
        hiddenN,
        batch: 1,
        hidden: width,
      });
      return [...gates, ...hNext];
    };
    for (const [name, run] of [
      ['rnn', rnn],
      ['gru', gru],
    ] as const) {
      const exact = Array.from(run('float64'));
      Array.from(run('float32')).forEach((v, i) => {
        const want = Math.fround(exact[i]!);
        if (Number.isNaN(want)) expect(v, `${name} [${i}]`).toBeNaN();
        else
          expect(Math.abs(v - want), `${name} [${i}]: ${v} vs ${want}`).toBeLessThanOrEqual(
            4 * 2 ** -23 * Math.abs(want) + 1e-38,
          );
      });
    }
  });
});
