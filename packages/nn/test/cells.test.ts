// The fused RNN/LSTM/GRU cells against PyTorch's equations in numpy (fixtures/cells.json, written by
// scripts/fixtures/cells.py), against the tape's gradient of their references and finite differences.
import { readFileSync } from 'node:fs';
import {
  add,
  type DType,
  DTypeError,
  grad,
  mul,
  noGrad,
  RandomState,
  ShapeError,
  sum,
  type Tensor,
  tensor,
  zeros,
} from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { checkOverride } from '@tapegrad/gradcheck';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  gruCell,
  gruCellOp,
  gruCellReference,
  lstmCell,
  lstmCellOp,
  lstmCellReference,
  rnnCell,
  rnnCellReference,
  rnnReluCell,
  rnnTanhCell,
} from '../src/index.js';

interface Case {
  cell: CellName;
  batch: number;
  input: number;
  hidden: number;
  inputs: Record<string, { shape: number[]; values: number[] }>;
  outputs: Record<string, number[]>;
  seeds: Record<string, number[]>;
  grads: Record<string, number[]>;
}

type CellName = 'rnnTanh' | 'rnnRelu' | 'lstm' | 'gru';
type Cell = (...inputs: Tensor[]) => Tensor[];

const fixture = JSON.parse(readFileSync(new URL('./fixtures/cells.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};

const fused: Record<CellName, Cell> = {
  rnnTanh: (x, h, wi, wh, bi, bh) => [rnnCell(x!, h!, wi!, wh!, bi!, bh!)],
  rnnRelu: (x, h, wi, wh, bi, bh) => [rnnCell(x!, h!, wi!, wh!, bi!, bh!, { nonlinearity: 'relu' })],
  lstm: (x, h, c, wi, wh, bi, bh) => lstmCell(x!, h!, c!, wi!, wh!, bi!, bh!),
  gru: (x, h, wi, wh, bi, bh) => [gruCell(x!, h!, wi!, wh!, bi!, bh!)],
};

const reference: Record<CellName, Cell> = {
  rnnTanh: (x, h, wi, wh, bi, bh) => [rnnCellReference(x!, h!, wi!, wh!, bi!, bh!)],
  rnnRelu: (x, h, wi, wh, bi, bh) => [rnnCellReference(x!, h!, wi!, wh!, bi!, bh!, { nonlinearity: 'relu' })],
  lstm: (x, h, c, wi, wh, bi, bh) => lstmCellReference(x!, h!, c!, wi!, wh!, bi!, bh!),
  gru: (x, h, wi, wh, bi, bh) => [gruCellReference(x!, h!, wi!, wh!, bi!, bh!)],
};

const inputsOf = (c: Case, dtype: DType): Tensor[] =>
  Object.values(c.inputs).map((v) => tensor(v.values, { dtype, shape: v.shape }));

/** Σ_k sum(output_k · seed_k): its gradient is the vjp of the cell with the seeds. */
const seeded =
  (cell: Cell, c: Case) =>
  (...inputs: Tensor[]): Tensor => {
    const outputs = cell(...inputs);
    const seeds = Object.values(c.seeds);
    return outputs
      .map((o, k) => sum(mul(o, tensor(seeds[k]!, { dtype: o.dtype, shape: o.shape }))))
      .reduce((a, b) => add(a, b));
  };

function expectClose(got: Tensor, want: ArrayLike<number>, atol: number, rtol: number, label: string): void {
  expect(got.size, `${label} size`).toBe(want.length);
  for (let i = 0; i < got.size; i++) {
    const error = Math.abs(got.data[i]! - want[i]!);
    if (!(error <= atol + rtol * Math.abs(want[i]!))) {
      expect.fail(`${label}[${i}]: got ${got.data[i]}, want ${want[i]} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

const TOLERANCE: Record<DType, [number, number]> = { float64: [1e-12, 1e-10], float32: [1e-5, 1e-4] };
const label = (c: Case): string => `${c.cell} B${c.batch} I${c.input} H${c.hidden}`;

describe('cells against numpy (PyTorch equations)', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    const [atol, rtol] = TOLERANCE[dtype];
    it.each(fixture.cases.map((c) => [label(c), c] as const))(
      `%s forward and gradients (${dtype})`,
      (_, c) => {
        const inputs = inputsOf(c, dtype);
        const outputs = fused[c.cell](...inputs);
        const names = Object.keys(c.outputs);
        expect(outputs).toHaveLength(names.length);
        outputs.forEach((o, k) => {
          expect(o.dtype).toBe(dtype);
          expect(o.shape).toEqual([c.batch, c.hidden]);
          expectClose(o, c.outputs[names[k]!]!, atol, rtol, names[k]!);
        });
        const grads = grad(seeded(fused[c.cell], c), { argnums: inputs.map((_, i) => i) })(
          ...inputs,
        ) as Tensor[];
        Object.entries(c.grads).forEach(([name, want], i) => {
          expect(grads[i]!.dtype).toBe(dtype);
          expect(grads[i]!.shape).toEqual(c.inputs[name]!.shape);
          expectClose(grads[i]!, want, atol, rtol, `d${name}`);
        });
      },
    );
  }

  it.each(fixture.cases.map((c) => [label(c), c] as const))('%s reference forward (float64)', (_, c) => {
    const outputs = reference[c.cell](...inputsOf(c, 'float64'));
    Object.values(c.outputs).forEach((want, k) => {
      expectClose(outputs[k]!, want, 1e-12, 1e-10, `output ${k}`);
    });
  });
});

describe('float32 through each gemm backend', () => {
  // B 8, I 16, H 32: big enough for the wasm gemm's packed panels; float64 (checked above) is the oracle.
  const [batch, input, hidden] = [8, 16, 32];
  const shapesOf = (gateCount: number, stateCount: number): number[][] => [
    [batch, input],
    ...Array.from({ length: stateCount }, () => [batch, hidden]),
    [gateCount * hidden, input],
    [gateCount * hidden, hidden],
    [gateCount * hidden],
    [gateCount * hidden],
  ];
  const layouts: Record<CellName, number[][]> = {
    rnnTanh: shapesOf(1, 1),
    rnnRelu: shapesOf(1, 1),
    lstm: shapesOf(4, 2),
    gru: shapesOf(3, 1),
  };
  const rs = new RandomState(7);
  for (const backend of ['js', 'wasm'] as const) {
    it.each(Object.keys(layouts) as CellName[])(`%s (${backend})`, (cell) => {
      const values = layouts[cell].map((shape) => rs.uniform(-0.5, 0.5, shape));
      const at = (dtype: DType) => values.map((v) => tensor(v.data, { dtype, shape: v.shape }));
      const loss = (...xs: Tensor[]): Tensor =>
        fused[cell](...xs).reduce(
          (total, o) => add(total, sum(mul(o, o))),
          tensor(0, { dtype: xs[0]!.dtype }),
        );
      const argnums = values.map((_, i) => i);
      const want = grad(loss, { argnums })(...at('float64')) as Tensor[];
      const wantOut = fused[cell](...at('float64'));
      const previous = kernels.getBackend();
      kernels.setBackend(backend);
      try {
        const got = grad(loss, { argnums })(...at('float32')) as Tensor[];
        fused[cell](...at('float32')).forEach((o, k) => {
          expectClose(o, wantOut[k]!.data, 1e-5, 1e-4, `output ${k}`);
        });
        got.forEach((g, i) => {
          expect(g.dtype).toBe('float32');
          expectClose(g, want[i]!.data, 1e-4, 1e-3, `d${i}`);
        });
      } finally {
        kernels.setBackend(previous);
      }
    });
  }
});

/** Central differences of f's scalar output with respect to every element of every input (float64). */
function numericGrads(f: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], eps = 1e-6): Float64Array[] {
  return inputs.map((x, i) => {
    const out = new Float64Array(x.size);
    for (let j = 0; j < x.size; j++) {
      const nudged = (step: number): number => {
        const data = Float64Array.from(x.data);
        data[j] = data[j]! + step;
        const args = inputs.map((t, k) => (k === i ? tensor(data, { shape: x.shape }) : t));
        return noGrad(() => f(...args)).item();
      };
      out[j] = (nudged(eps) - nudged(-eps)) / (2 * eps);
    }
    return out;
  });
}

describe('fused backward against the tape and finite differences (float64)', () => {
  it.each(fixture.cases.map((c) => [label(c), c] as const))('%s', (_, c) => {
    const inputs = inputsOf(c, 'float64');
    const argnums = inputs.map((_, i) => i);
    const fusedLoss = seeded(fused[c.cell], c);
    const fusedGrads = grad(fusedLoss, { argnums })(...inputs) as Tensor[];
    const tapeGrads = grad(seeded(reference[c.cell], c), { argnums })(...inputs) as Tensor[];
    const numeric = numericGrads(fusedLoss, inputs);
    fusedGrads.forEach((g, i) => {
      expectClose(g, tapeGrads[i]!.data, 1e-12, 1e-10, `tape d${i}`);
      expectClose(g, numeric[i]!, 1e-7, 1e-6, `numeric d${i}`);
    });
  });
});

/**
 * Inputs of a cell with gateCount gates and stateCount states, sizes (batch, input, hidden) in 1..6,
 * float64 values on a 1e-3 grid in [-1, 1]; `keep` filters the draws (relu keeps off its kink).
 * The grid keeps out the subnormals fast-check favours: a weight of 5e-324 leaves the outputs
 * unchanged under a 1e-6 nudge while the exact grad is 5e-324, which gradcheck's no-influence
 * test (grad exactly 0) counts as a failure of both backwards alike.
 */
function cellInputs(
  gateCount: number,
  stateCount: number,
  keep: (inputs: Tensor[]) => boolean = () => true,
): fc.Arbitrary<Tensor[]> {
  const size = fc.integer({ min: 1, max: 6 });
  const value = fc.integer({ min: -1000, max: 1000 }).map((k) => k / 1000);
  const of = (shape: number[]) => {
    const count = shape.reduce((n, d) => n * d, 1);
    return fc
      .array(value, { minLength: count, maxLength: count })
      .map((values) => tensor(values, { dtype: 'float64', shape }));
  };
  return fc
    .tuple(size, size, size)
    .chain(([batch, input, hidden]) => {
      const width = gateCount * hidden;
      const states = Array.from({ length: stateCount }, () => of([batch, hidden]));
      return fc.tuple(
        of([batch, input]),
        ...states,
        of([width, input]),
        of([width, hidden]),
        of([width]),
        of([width]),
      );
    })
    .filter(keep);
}

/** Whether every pre-activation of the relu cell is at least 1e-3 away from 0 (central differences use 1e-6). */
const offReluKink = (inputs: Tensor[]): boolean =>
  noGrad(() => {
    const [x, h, weightIh, weightHh, biasIh, biasHh] = inputs as [
      Tensor,
      Tensor,
      Tensor,
      Tensor,
      Tensor,
      Tensor,
    ];
    const pre = rnnCellReference(x, h, weightIh, weightHh, biasIh, biasHh);
    // tanh is monotone, so |tanh(pre)| > tanh(1e-3) exactly when |pre| > 1e-3.
    return pre.data.every((v) => Math.abs(v) > Math.tanh(1e-3));
  });

describe('checkOverride over property-generated sizes (float64)', () => {
  // 20 draws take seconds; TAPEGRAD_DEEP=1 draws 300, the LSTM's near a minute.
  const DEEP_TIMEOUT = 600_000;
  const names = ['x', 'h', 'weightIh', 'weightHh', 'biasIh', 'biasHh'];
  it(
    'rnnTanhCell',
    () => {
      checkOverride(rnnTanhCell, cellInputs(1, 1), { names });
    },
    DEEP_TIMEOUT,
  );
  it(
    'rnnReluCell',
    () => {
      checkOverride(rnnReluCell, cellInputs(1, 1, offReluKink), { names });
    },
    DEEP_TIMEOUT,
  );
  it(
    'lstmCell',
    () => {
      checkOverride(lstmCellOp, cellInputs(4, 2), { names: ['x', 'h', 'c', ...names.slice(2)] });
    },
    DEEP_TIMEOUT,
  );
  it(
    'gruCell',
    () => {
      checkOverride(gruCellOp, cellInputs(3, 1), { names });
    },
    DEEP_TIMEOUT,
  );
});

describe('what the cells record', () => {
  const [c] = fixture.cases.filter((k) => k.cell === 'lstm' && k.batch > 1);
  it('computes grads only for the inputs that require them', () => {
    const inputs = inputsOf(c!, 'float64');
    const [x, h, cell, ...params] = inputs as [Tensor, Tensor, Tensor, ...Tensor[]];
    for (const p of params) p.requiresGrad = true;
    const [hNext] = lstmCell(x, h, cell, ...(params as [Tensor, Tensor, Tensor, Tensor]));
    sum(hNext).backward();
    expect([x.grad, h.grad, cell.grad]).toEqual([null, null, null]);
    for (const p of params) expect(p.grad?.shape).toEqual(p.shape);
  });

  it('records nothing under noGrad or without inputs that require grad', () => {
    const inputs = inputsOf(c!, 'float64');
    expect(lstmCell(...(inputs as Parameters<typeof lstmCell>))[0].requiresGrad).toBe(false);
    inputs[0]!.requiresGrad = true;
    const [hNext, cNext] = noGrad(() => lstmCell(...(inputs as Parameters<typeof lstmCell>)));
    expect([hNext.requiresGrad, cNext.requiresGrad, hNext.isLeaf]).toEqual([false, false, true]);
  });

  it('gives c its grad through c′ alone when h′ is unused (the unused output grads arrive as zeros)', () => {
    const inputs = inputsOf(c!, 'float64');
    const cOnly = (...xs: Tensor[]): Tensor => sum(lstmCell(...(xs as Parameters<typeof lstmCell>))[1]);
    const argnums = inputs.map((_, i) => i);
    const fusedGrads = grad(cOnly, { argnums })(...inputs) as Tensor[];
    const refGrads = grad(
      (...xs: Tensor[]) => sum(lstmCellReference(...(xs as Parameters<typeof lstmCell>))[1]),
      {
        argnums,
      },
    )(...inputs) as Tensor[];
    fusedGrads.forEach((g, i) => {
      expectClose(g, refGrads[i]!.data, 1e-12, 1e-10, `d${i}`);
    });
  });

  it('exposes the customOps with their references', () => {
    expect(rnnTanhCell.opName).toBe('rnnTanhCell');
    expect(rnnReluCell.opName).toBe('rnnReluCell');
    expect(typeof rnnReluCell.reference).toBe('function');
  });
});

describe('cell errors', () => {
  const B = 2;
  const I = 3;
  const H = 4;
  const f64 = (shape: number[]) => zeros(shape, { dtype: 'float64' });
  const lstmInputs = () => [
    f64([B, I]),
    f64([B, H]),
    f64([B, H]),
    f64([4 * H, I]),
    f64([4 * H, H]),
    f64([4 * H]),
    f64([4 * H]),
  ];

  it('names the cell and the shape at fault', () => {
    const bad = lstmInputs();
    bad[3] = f64([4 * H, I + 1]);
    expect(() => lstmCell(...(bad as Parameters<typeof lstmCell>))).toThrow(ShapeError);
    expect(() => lstmCell(...(bad as Parameters<typeof lstmCell>))).toThrow(
      'lstmCell: weightIh has shape [16,4], expected [16,3] = [4·hidden, input] for x [2,3] and h [2,4]',
    );
    expect(() =>
      gruCell(f64([B, I]), f64([B + 1, H]), f64([3 * H, I]), f64([3 * H, H]), f64([3 * H]), f64([3 * H])),
    ).toThrow('gruCell: h has shape [3,4], expected [2,4] = [batch, hidden]');
    expect(() => rnnCell(f64([I]), f64([B, H]), f64([H, I]), f64([H, H]), f64([H]), f64([H]))).toThrow(
      'rnnTanhCell: x must be [batch, input], got [3]',
    );
    expect(() =>
      rnnCell(f64([B, I]), f64([B, H]), f64([H, I]), f64([H, H]), f64([H]), f64([2 * H]), {
        nonlinearity: 'relu',
      }),
    ).toThrow('rnnReluCell: biasHh has shape [8], expected [4] = [hidden]');
    const c = lstmInputs();
    c[2] = f64([B, H + 1]);
    expect(() => lstmCell(...(c as Parameters<typeof lstmCell>))).toThrow(
      'lstmCell: c has shape [2,5], expected [2,4]',
    );
  });

  it('refuses mixed dtypes', () => {
    const mixed = lstmInputs();
    mixed[4] = zeros([4 * H, H], { dtype: 'float32' });
    expect(() => lstmCell(...(mixed as Parameters<typeof lstmCell>))).toThrow(DTypeError);
    expect(() => lstmCell(...(mixed as Parameters<typeof lstmCell>))).toThrow(
      'lstmCell: weightHh is float32 but x is float64',
    );
  });

  it('refuses a wrong number of inputs and an unknown nonlinearity', () => {
    const inputs = lstmInputs();
    expect(() => rnnTanhCell(...inputs.slice(0, 5))).toThrow('rnnTanhCell: expected 6 tensors');
    const [x, h] = inputs as [Tensor, Tensor];
    expect(() =>
      rnnCell(x, h, f64([H, I]), f64([H, H]), f64([H]), f64([H]), { nonlinearity: 'sigmoid' as 'tanh' }),
    ).toThrow("rnnCell: nonlinearity must be 'tanh' or 'relu', got sigmoid");
  });
});
