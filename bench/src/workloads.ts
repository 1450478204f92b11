// The benchmark's workloads and the one deterministic problem (parameters, inputs, targets) that every
// contestant is handed. numpy_rnn.py draws the same numbers from numpy's own RandomState in the same order.
import { RandomState } from '@tapegrad/core';

export type CellKind = 'lstm' | 'rnn' | 'gru';

export interface Workload {
  name: string;
  cell: CellKind;
  input: number;
  hidden: number;
  output: number;
  batch: number;
  steps: number;
  /** How the table reports speed: milliseconds per iteration, or iterations per second. */
  report: 'ms' | 'it/s';
}

export const workloads: readonly Workload[] = [
  { name: 'lstm-big', cell: 'lstm', input: 64, hidden: 128, output: 64, batch: 32, steps: 50, report: 'ms' },
  { name: 'rnn-big', cell: 'rnn', input: 64, hidden: 128, output: 64, batch: 32, steps: 50, report: 'ms' },
  { name: 'gru-big', cell: 'gru', input: 64, hidden: 128, output: 64, batch: 32, steps: 50, report: 'ms' },
  { name: 'lstm-small', cell: 'lstm', input: 3, hidden: 5, output: 2, batch: 10, steps: 4, report: 'it/s' },
];

export function workloadNamed(name: string): Workload {
  const found = workloads.find((w) => w.name === name);
  if (!found) throw new Error(`unknown workload ${name} (known: ${workloads.map((w) => w.name).join(', ')})`);
  return found;
}

/** Gate blocks per cell in PyTorch's layout: LSTM i,f,g,o; GRU r,z,n; RNN one. */
export const gateCount: Record<CellKind, number> = { lstm: 4, rnn: 1, gru: 3 };

export const paramNames = ['weightIh', 'weightHh', 'biasIh', 'biasHh', 'weightOut', 'biasOut'] as const;
export type ParamName = (typeof paramNames)[number];

export interface Param {
  shape: number[];
  data: Float32Array;
}

export interface Problem {
  workload: Workload;
  params: Record<ParamName, Param>;
  /** [steps, batch, input], row-major. */
  inputs: Float32Array;
  /** [steps, batch] class indices in [0, output). */
  targets: Int32Array;
}

export function paramShapes(w: Workload): Record<ParamName, number[]> {
  const gates = gateCount[w.cell] * w.hidden;
  return {
    weightIh: [gates, w.input],
    weightHh: [gates, w.hidden],
    biasIh: [gates],
    biasHh: [gates],
    weightOut: [w.output, w.hidden],
    biasOut: [w.output],
  };
}

/**
 * PyTorch's default init, U(-1/√H, 1/√H) for every parameter (the output layer's fan-in is H too), then
 * inputs ~ N(0, 1) and uniform targets: drawn in that order from RandomState(seed).
 */
export function makeProblem(workload: Workload, seed = 0): Problem {
  const rng = new RandomState(seed);
  const bound = 1 / Math.sqrt(workload.hidden);
  const shapes = paramShapes(workload);
  const params = {} as Record<ParamName, Param>;
  for (const name of paramNames) {
    const drawn = rng.uniform(-bound, bound, shapes[name], { dtype: 'float32' });
    params[name] = { shape: shapes[name], data: drawn.data as Float32Array };
  }
  const { steps, batch, input, output } = workload;
  const inputs = rng.randn(steps, batch, input, { dtype: 'float32' }).data as Float32Array;
  const targets = Int32Array.from(rng.randint(0, output, [steps, batch]).data);
  return { workload, params, inputs, targets };
}

/** Multiply-adds of the matmuls, forward and backward, times two: 6·T·B·(G·H·(H+I) + O·H). */
export function flopsPerIteration(w: Workload): number {
  const gates = gateCount[w.cell] * w.hidden;
  return 6 * w.steps * w.batch * (gates * (w.hidden + w.input) + w.output * w.hidden);
}
