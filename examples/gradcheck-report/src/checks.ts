// What `pnpm gradcheck` checks: every core op (gradcheck's spec table), every nn override (the fused
// cells, linear and the fused classifier-head loss, against their references and finite differences),
// and any the user adds.
import type { CustomOp } from '@tapegrad/core';
import { noGrad, type Tensor, tensor } from '@tapegrad/core';
import { type GradcheckOptions, type Outputs, specs } from '@tapegrad/gradcheck';
import {
  gruCellOp,
  linearCrossEntropyOps,
  linearOp,
  lstmCellOp,
  rnnCellReference,
  rnnReluCell,
  rnnTanhCell,
} from '@tapegrad/nn';
import * as fc from 'fast-check';

/** One entry of a gradcheck module: what to differentiate and how to draw its arguments. */
export interface GradcheckEntry {
  /**
   * A customOp with a `reference` gets the three-oracle override check (hand-written backward vs the
   * tape of the reference vs finite differences); any other function of tensors gets finite differences.
   */
  op: CustomOp | ((...args: never[]) => Outputs);
  /** The op's argument list, as fast-check draws it (see `tensors` in @tapegrad/gradcheck). */
  args: fc.Arbitrary<readonly unknown[]>;
  /** Tolerance, non-differentiable arguments, input names. */
  options?: GradcheckOptions;
}

export interface Check extends GradcheckEntry {
  name: string;
  /** Where it came from: core, nn, or the module the user pointed at. */
  group: string;
}

export const isOverride = (op: GradcheckEntry['op']): op is CustomOp =>
  typeof (op as Partial<CustomOp>).opName === 'string' && typeof (op as CustomOp).reference === 'function';

/**
 * A cell's inputs: x [B, I], `states` of [B, H], weights [G·H, I] and [G·H, H], biases [G·H], sizes
 * 1..4, float64 values on a 1e-3 grid in [-1, 1] (the grid keeps out subnormals, whose nudges vanish).
 */
export function cellArgs(gates: number, states: number): fc.Arbitrary<Tensor[]> {
  const size = fc.integer({ min: 1, max: 4 });
  const value = fc.integer({ min: -1000, max: 1000 }).map((k) => k / 1000);
  const of = (shape: number[]) =>
    fc
      .array(value, {
        minLength: shape.reduce((n, d) => n * d, 1),
        maxLength: shape.reduce((n, d) => n * d, 1),
      })
      .map((values) => tensor(values, { dtype: 'float64', shape }));
  return fc
    .tuple(size, size, size)
    .chain(([batch, input, hidden]) =>
      fc.tuple(
        of([batch, input]),
        ...Array.from({ length: states }, () => of([batch, hidden])),
        of([gates * hidden, input]),
        of([gates * hidden, hidden]),
        of([gates * hidden]),
        of([gates * hidden]),
      ),
    );
}

/** relu's kink: every pre-activation at least 1e-3 from 0 (central differences step 1e-6). */
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
    // tanh is monotone, so |tanh(pre)| > tanh(1e-3) exactly when |pre| > 1e-3.
    return rnnCellReference(x, h, weightIh, weightHh, biasIh, biasHh).data.every(
      (v) => Math.abs(v) > Math.tanh(1e-3),
    );
  });

const CELL_NAMES = ['x', 'h', 'weightIh', 'weightHh', 'biasIh', 'biasHh'];

const linearArgs = fc
  .tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }))
  .chain(([rows, inFeatures, outFeatures]) => {
    const value = fc.integer({ min: -1000, max: 1000 }).map((k) => k / 1000);
    const of = (shape: number[]) =>
      fc
        .array(value, {
          minLength: shape.reduce((n, d) => n * d, 1),
          maxLength: shape.reduce((n, d) => n * d, 1),
        })
        .map((values) => tensor(values, { dtype: 'float64', shape }));
    return fc.tuple(of([rows, inFeatures]), of([outFeatures, inFeatures]), of([outFeatures]));
  });

/** linear's arguments with a class index per row (a float64 tensor) before the bias, as the fused op takes them. */
const headArgs = linearArgs.chain(([x, weight, bias]) =>
  fc
    .array(fc.integer({ min: 0, max: weight.shape[0]! - 1 }), {
      minLength: x.shape[0]!,
      maxLength: x.shape[0]!,
    })
    .map((targets) => [x, weight, tensor(targets, { dtype: 'float64' }), bias] as const),
);

export function builtinChecks(): Check[] {
  const core: Check[] = Object.entries(specs).map(([name, spec]) => ({
    name,
    group: 'core',
    op: spec.call,
    args: spec.args,
    ...(spec.options ? { options: spec.options } : {}),
  }));
  const nn: Check[] = [
    {
      name: 'rnnTanhCell',
      group: 'nn',
      op: rnnTanhCell,
      args: cellArgs(1, 1),
      options: { names: CELL_NAMES },
    },
    {
      name: 'rnnReluCell',
      group: 'nn',
      op: rnnReluCell,
      args: cellArgs(1, 1).filter(offReluKink),
      options: { names: CELL_NAMES },
    },
    {
      name: 'lstmCell',
      group: 'nn',
      op: lstmCellOp,
      args: cellArgs(4, 2),
      options: { names: ['x', 'h', 'c', ...CELL_NAMES.slice(2)] },
    },
    { name: 'gruCell', group: 'nn', op: gruCellOp, args: cellArgs(3, 1), options: { names: CELL_NAMES } },
    {
      name: 'linear',
      group: 'nn',
      op: linearOp,
      args: linearArgs,
      options: { names: ['x', 'weight', 'bias'] },
    },
    {
      name: 'linearCrossEntropy',
      group: 'nn',
      op: linearCrossEntropyOps.mean,
      args: headArgs,
      options: { names: ['x', 'weight', 'targets', 'bias'], nondiff: [2] },
    },
  ];
  return [...core, ...nn];
}
