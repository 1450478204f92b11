// gradgradcheck: torch.autograd.gradgradcheck's semantics. The first-order gradient, as a function of
// the inputs and of the output grads, is itself gradchecked: its tape derivative (a second derivative,
// through a graph-building backward) against central differences of the first-order gradient.
import { astype, RandomState, type Tensor, tensor } from '@tapegrad/core';
import { evaluate, type Outputs } from './finiteDiff.js';
import {
  assertGradcheck,
  type GradcheckOptions,
  type GradcheckReport,
  gradcheck,
  prepareInputs,
  pullback,
} from './gradcheck.js';

/** gradcheck's options, and the output grads to take the gradient along. */
export interface GradgradcheckOptions extends GradcheckOptions {
  /**
   * The output grads the gradient is taken along, one per output (torch's grad_outputs); they are
   * differentiated too. Default: standard normals from randomSeed, in each output's shape and dtype.
   */
  gradOutputs?: readonly Tensor[];
}

type Fn = (...args: unknown[]) => Outputs;

/**
 * What gradcheck is handed for a gradgradcheck: the first-order gradient of f as a function of
 * (...inputs, ...gradOutputs), those arguments, and the options (gradOutputs' names and nondiff added).
 */
function firstOrder(
  f: Fn,
  inputs: readonly unknown[],
  options: GradgradcheckOptions,
): [gradient: (...all: unknown[]) => Tensor[], args: unknown[], options: GradcheckOptions] {
  const { args, diff } = prepareInputs(inputs, options.nondiff);
  const outputs = evaluate(f, args);
  const rng = new RandomState(options.randomSeed ?? 0);
  const gradOutputs =
    options.gradOutputs ??
    outputs.map((o) =>
      tensor(rng.randn(o.size, { dtype: 'float64' }).data, { dtype: o.dtype, shape: [...o.shape] }),
    );
  if (gradOutputs.length !== outputs.length) {
    throw new RangeError(
      `gradgradcheck: ${gradOutputs.length} gradOutputs for ${outputs.length} output(s) of the function`,
    );
  }
  gradOutputs.forEach((g, o) => {
    const out = outputs[o]!;
    if (
      g.dtype !== out.dtype ||
      g.shape.length !== out.shape.length ||
      g.shape.some((d, k) => d !== out.shape[k])
    ) {
      throw new RangeError(
        `gradgradcheck: gradOutputs ${o} is ${g.dtype} [${g.shape.join(',')}], output ${o} is ` +
          `${out.dtype} [${out.shape.join(',')}]`,
      );
    }
  });
  const n = args.length;
  // Inside gradcheck's vjp this runs traced, so core's vjp in pullback builds a graph: the grads it
  // returns are differentiable in both the inputs and the output grads.
  // gradcheck promotes a float32 output grad to float64: cast back (differentiably) to its output's dtype.
  const dtypeOf = (g: Tensor, o: number): Tensor =>
    g.dtype === outputs[o]!.dtype ? g : astype(g, outputs[o]!.dtype);
  const gradient = (...all: unknown[]): Tensor[] =>
    pullback(f, all.slice(0, n), diff)((all.slice(n) as Tensor[]).map(dtypeOf));
  const names = [
    ...args.map((_, i) => options.names?.[i] ?? `input ${i}`),
    ...gradOutputs.map((_, o) => `grad output ${o}`),
  ];
  const nondiff = args.flatMap((_, i) => (diff.includes(i) ? [] : [i]));
  const { gradOutputs: _, ...rest } = options;
  return [gradient, [...args, ...gradOutputs], { ...rest, nondiff, names }];
}

/**
 * Checks the second derivatives of f at inputs: gradcheck of its gradient along gradOutputs, as a
 * function of the inputs and gradOutputs (torch's gradgradcheck; same defaults, eps 1e-6, atol 1e-5,
 * rtol 1e-3, in float64). The report names the inputs as f's and the output grads as `grad output <o>`.
 */
export function gradgradcheck<A extends readonly unknown[]>(
  f: (...args: A) => Outputs,
  inputs: A,
  options: GradgradcheckOptions = {},
): GradcheckReport {
  return gradcheck(...firstOrder(f as unknown as Fn, inputs, options));
}

/** gradgradcheck that throws a GradcheckError (with the report) when anything fails. */
export function assertGradgradcheck<A extends readonly unknown[]>(
  f: (...args: A) => Outputs,
  inputs: A,
  options: GradgradcheckOptions = {},
): GradcheckReport {
  return assertGradcheck(...firstOrder(f as unknown as Fn, inputs, options));
}
