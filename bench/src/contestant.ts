// What a contestant is: something that builds a runner for a problem. A runner does one training
// iteration (forward, summed cross-entropy, backward to every parameter; no optimizer step) per call.
import { type ParamName, type Problem, paramNames } from './workloads.js';

/** The loss and, per parameter, Σg and Σ|g|: what the correctness check compares. */
export interface Check {
  loss: number;
  gradSums: Record<ParamName, number>;
  gradAbsSums: Record<ParamName, number>;
}

export interface Runner {
  /** One iteration; returns the loss, read back into JS (which also waits for the work to finish). */
  step(): number | Promise<number>;
  /** One iteration, with its gradients read back and summed. */
  check(): Check | Promise<Check>;
  dispose?(): void;
}

export interface Contestant {
  name: string;
  /** One line for the table's legend: library, backend, threads. */
  describe(): string;
  create(problem: Problem): Promise<Runner>;
}

export function summarize(loss: number, grads: Record<ParamName, ArrayLike<number>>): Check {
  const gradSums = {} as Record<ParamName, number>;
  const gradAbsSums = {} as Record<ParamName, number>;
  for (const name of paramNames) {
    const g = grads[name];
    let sum = 0;
    let abs = 0;
    for (let i = 0; i < g.length; i++) {
      sum += g[i]!;
      abs += Math.abs(g[i]!);
    }
    gradSums[name] = sum;
    gradAbsSums[name] = abs;
  }
  return { loss, gradSums, gradAbsSums };
}

// float32 forward and backward in different orders of summation: agree to 1e-3 of the scale.
const RTOL = 1e-3;

/** The disagreements of `got` with `want` (empty when they agree within float32 tolerance). */
export function compareChecks(got: Check, want: Check): string[] {
  const problems: string[] = [];
  const close = (a: number, b: number, scale: number) =>
    Number.isFinite(a) && Math.abs(a - b) <= RTOL * Math.abs(scale) + 1e-6;
  if (!close(got.loss, want.loss, want.loss)) problems.push(`loss ${got.loss} vs ${want.loss}`);
  for (const name of paramNames) {
    const scale = want.gradAbsSums[name];
    if (!close(got.gradSums[name], want.gradSums[name], scale)) {
      problems.push(`Σ grad ${name} ${got.gradSums[name]} vs ${want.gradSums[name]}`);
    }
    if (!close(got.gradAbsSums[name], scale, scale)) {
      problems.push(`Σ|grad| ${name} ${got.gradAbsSums[name]} vs ${scale}`);
    }
  }
  return problems;
}
