// Anomaly mode: while on, every op's forward output and every vjp's input grads are scanned for
// NaN and ±Inf, and each op keeps where it was called, so the first bad op is named with its call site.
// Off by default; when off the tape pays one branch per op and per backward node, nothing more.
import { callSiteOf, markLibraryCode } from './callSite.js';
import type { Shape } from './shape.js';
import type { Node } from './tape.js';
import type { Tensor } from './tensor.js';

// Where this module's code starts, so that its frames are known for core's in any bundle (callSite.ts).
const codeStart = new Error();

/** Read by the tape on every op (an ESM live binding); set with setDetectAnomaly or detectAnomaly. */
export let anomalyEnabled = false;
// Ops run by a vjp are checked as the vjp's result, so that a bad grad names the op whose backward made it.
let backwardDepth = 0;

/** Raised in anomaly mode by the first op whose forward output or backward grad holds NaN or ±Inf. */
export class AnomalyError extends Error {
  override name = 'AnomalyError';
  constructor(
    message: string,
    readonly op: string,
    readonly phase: 'forward' | 'backward',
    readonly inputShapes: readonly Shape[],
    /** The first stack frame outside tapegrad's packages: the user's line that led to the op. */
    readonly callSite: string,
  ) {
    super(message);
  }
}

/** Turns anomaly mode on or off for everything that follows (the global switch). */
export function setDetectAnomaly(on: boolean): void {
  anomalyEnabled = on;
}

export const isAnomalyEnabled = (): boolean => anomalyEnabled;

/**
 * Runs fn with anomaly mode on, restoring the previous mode after (after the promise settles, if fn
 * returns one; the mode is global, so other work running meanwhile is checked too).
 */
export function detectAnomaly<T>(fn: () => T): T {
  const previous = anomalyEnabled;
  anomalyEnabled = true;
  let result: T;
  try {
    result = fn();
  } catch (error) {
    anomalyEnabled = previous;
    throw error;
  }
  if (result instanceof Promise) {
    return result.finally(() => {
      anomalyEnabled = previous;
    }) as T;
  }
  anomalyEnabled = previous;
  return result;
}

const fmtShape = (shape: Shape): string => `[${shape.join(',')}]`;
const describe = (t: { dtype: string; shape: Shape }): string => `${t.dtype} ${fmtShape(t.shape)}`;

function multiIndex(flat: number, shape: Shape): number[] {
  const index = new Array<number>(shape.length).fill(0);
  for (let ax = shape.length - 1; ax >= 0; ax--) {
    index[ax] = flat % shape[ax]!;
    flat = Math.floor(flat / shape[ax]!);
  }
  return index;
}

/** The first non-finite value of t and how many there are, or null when all are finite. */
function nonFinite(t: Tensor): { value: number; at: number[]; count: number } | null {
  const data = t.data;
  let first = -1;
  let count = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    // v - v is 0 for every finite v, NaN for NaN and ±Inf.
    if (v - v !== 0) {
      if (first < 0) first = i;
      count++;
    }
  }
  return first < 0 ? null : { value: data[first]!, at: multiIndex(first, t.shape), count };
}

function anomaly(
  op: string,
  phase: 'forward' | 'backward',
  what: string,
  inputs: readonly Tensor[],
  origin: Error | null,
): AnomalyError {
  const bad = inputs.flatMap((t, i) => {
    const found = nonFinite(t);
    return found ? [`input ${i} (${describe(t)}) already held ${found.value} at ${fmtShape(found.at)}`] : [];
  });
  const { callSite, frames } = callSiteOf(origin);
  const message = [
    `detectAnomaly: ${what}`,
    `  inputs: ${inputs.map(describe).join(', ') || 'none'}; ${bad.length > 0 ? bad.join('; ') : 'all finite'}`,
    `  '${op}' was called at ${callSite}`,
    ...frames.slice(0, 8).map((f) => `    ${f}`),
  ].join('\n');
  return new AnomalyError(
    message,
    op,
    phase,
    inputs.map((t) => t.shape),
    callSite,
  );
}

/**
 * Forward check (anomaly mode only): captures the call site and throws if an output holds NaN or
 * ±Inf. Returns the call site for the op's node, so that its backward can name it too.
 */
export function checkForward(
  op: string,
  inputs: readonly Tensor[],
  outputs: Tensor | Tensor[],
): Error | null {
  if (backwardDepth > 0) return null;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40; // enough to get past core's frames and nn's to the user's
  const origin = new Error('op call site'); // its stack is formatted only if it is ever read
  Error.stackTraceLimit = limit;
  const list = Array.isArray(outputs) ? outputs : [outputs];
  list.forEach((t, i) => {
    const found = nonFinite(t);
    if (found) {
      const where = list.length > 1 ? `output ${i} ` : '';
      const what = `'${op}' produced ${found.value} in its forward ${where}(${describe(t)}, ${found.count} non-finite, first at ${fmtShape(found.at)})`;
      throw anomaly(op, 'forward', what, inputs, origin);
    }
  });
  return origin;
}

/** Backward check (anomaly mode only): runs a node's vjp and throws if an input grad it returns is not finite. */
export function checkedBackward(node: Node, grads: readonly Tensor[]): readonly (Tensor | null)[] {
  backwardDepth++;
  let inputGrads: readonly (Tensor | null)[];
  try {
    inputGrads = node.backward!(grads);
  } finally {
    backwardDepth--;
  }
  inputGrads.forEach((g, i) => {
    const found = g ? nonFinite(g) : null;
    if (g && found) {
      const what = `the backward of '${node.op}' produced ${found.value} in the grad of input ${i} (${describe(g)}, ${found.count} non-finite, first at ${fmtShape(found.at)}) from finite output grads`;
      throw anomaly(node.op, 'backward', what, node.inputs, node.origin ?? null);
    }
  });
  return inputGrads;
}

/** A seed handed to backward must be finite too, or the first vjp would be blamed for it. */
export function checkSeed(seed: Tensor): void {
  const found = nonFinite(seed);
  if (found) {
    throw new AnomalyError(
      `detectAnomaly: the backward seed (${describe(seed)}) holds ${found.value} at ${fmtShape(found.at)}`,
      'backward',
      'backward',
      [seed.shape],
      callSiteOf(new Error()).callSite,
    );
  }
}

markLibraryCode(codeStart, new Error()); // and where it ends
