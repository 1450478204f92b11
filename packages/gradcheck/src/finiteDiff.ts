// Central differences in float64, the numeric oracle: f runs off the tape on copies of its
// inputs with one input nudged by ±eps along a direction (a one-hot direction gives one column).
import { astype, type DType, noGrad, type Shape, Tensor, tensor } from '@tapegrad/core';

/** What a checked function returns: one tensor, or several (a cell returning [h, c]). */
export type Outputs = Tensor | readonly Tensor[];

export const outputList = (out: Outputs): readonly Tensor[] => (out instanceof Tensor ? [out] : out);

/** float32 tensors become float64 (off the tape, so the check's tape starts at the promoted copy). */
export const toFloat64 = (t: Tensor): Tensor =>
  t.dtype === 'float64' ? t : noGrad(() => astype(t, 'float64'));

/** Calls f under noGrad on args with args[index] replaced. */
export function evaluate(
  f: (...args: unknown[]) => Outputs,
  args: readonly unknown[],
  index = -1,
  replacement?: Tensor,
): readonly Tensor[] {
  const call = args.map((a, i) => (i === index ? replacement : a));
  return noGrad(() => outputList(f(...call)));
}

export interface OutputSignature {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** A perturbed evaluation whose outputs changed shape or dtype: f is not a function of x alone. */
export interface SignatureChange {
  output: number;
  expected: OutputSignature;
  got: OutputSignature;
}

/**
 * d/dt f(x + t·direction) at t = 0 for input `index`, as (f(x + eps·d) - f(x - eps·d)) / 2eps,
 * one Float64Array per output; or the first output whose shape or dtype the nudge changed.
 */
export function centralDifference(
  f: (...args: unknown[]) => Outputs,
  args: readonly unknown[],
  index: number,
  direction: Float64Array,
  eps: number,
  expected: readonly OutputSignature[],
): Float64Array[] | SignatureChange {
  const x = args[index] as Tensor;
  const shifted = (step: number): readonly Tensor[] => {
    const data = new Float64Array(x.size);
    for (let j = 0; j < data.length; j++) data[j] = x.data[j]! + step * direction[j]!;
    return evaluate(f, args, index, tensor(data, { dtype: 'float64', shape: x.shape }));
  };
  const up = shifted(eps);
  const down = shifted(-eps);
  for (const side of [up, down]) {
    for (let o = 0; o < expected.length; o++) {
      const want = expected[o]!;
      const got = side[o];
      const same =
        got !== undefined &&
        got.dtype === want.dtype &&
        got.shape.length === want.shape.length &&
        got.shape.every((d, i) => d === want.shape[i]);
      if (!same) {
        return { output: o, expected: want, got: got ?? { shape: [], dtype: want.dtype } };
      }
    }
  }
  return up.map((u, o) => {
    const d = down[o]!;
    const slope = new Float64Array(u.size);
    for (let j = 0; j < slope.length; j++) slope[j] = (u.data[j]! - d.data[j]!) / (2 * eps);
    return slope;
  });
}
