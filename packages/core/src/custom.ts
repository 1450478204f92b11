// customOp: an op whose forward runs kernels directly and whose backward is written by hand.
// Residuals are an explicit value handed from forward to backward (JAX's custom_vjp), kept only
// while recording. Differentiated a second time (a backward with createGraph, a nested grad), a
// customOp's backward must itself be differentiable: declared so, or through its reference.

import { markLibraryCode } from './callSite.js';
import { hasTangent, isForwardActive, pushForward } from './forward.js';
import { standIn } from './grad.js';
import { disposedError } from './memory/tidy.js';
import { isGradEnabled, setGradEnabled } from './mode.js';
import { needsGrad, nextSeq, record, runBackward } from './tape.js';
import { Tensor, zerosLike } from './tensor.js';

// Where this module's code starts, so that its frames are known for core's in any bundle (callSite.ts).
const codeStart = new Error();

export interface CustomOpSpec<R> {
  name: string;
  /** Computes the outputs (not recorded) and the residuals backward will need. */
  forward(
    inputs: readonly Tensor[],
    ctx: { needsGrad: boolean },
  ): { outputs: Tensor | Tensor[]; residuals: R };
  /**
   * Output grads (zeros for unused outputs) and residuals to input grads (null: no grad). The output
   * grads may be backward scratch (backwardScratch), reused by later passes: use them, pass them on,
   * but copy any you keep past the return.
   */
  backward(outputGrads: readonly Tensor[], residuals: R, inputs: readonly Tensor[]): (Tensor | null)[];
  /** The same forward built from core ops; gradcheck holds the hand-written backward against its tape grad. */
  reference?: (...inputs: Tensor[]) => Tensor | Tensor[];
  /**
   * Forward mode: the tangent of each output (null: zero) from the inputs' tangents (null: zero), written
   * in core ops so that it is itself differentiable. Without it, forward mode runs `reference` instead of
   * the fused forward (and a jvp through an op with neither is an error naming it).
   */
  jvp?: (
    inputs: readonly Tensor[],
    tangents: readonly (Tensor | null)[],
    outputs: readonly Tensor[],
  ) => readonly (Tensor | null)[];
  /**
   * Whether backward is written in core ops of `inputs` and the output grads (no kernels, no scratch),
   * so that a graph-building backward can record it and differentiate it again. Residuals are then
   * constants to that second derivative: anything that depends on the inputs must come from `inputs`.
   * Otherwise a second derivative goes through `reference` (the tape's vjp of it), and without one it
   * throws, naming the op.
   */
  differentiableBackward?: boolean;
}

export interface CustomOp<R = unknown> {
  (...inputs: Tensor[]): Tensor | Tensor[];
  readonly opName: string;
  readonly spec: CustomOpSpec<R>;
  readonly reference: ((...inputs: Tensor[]) => Tensor | Tensor[]) | undefined;
}

export function customOp<R>(spec: CustomOpSpec<R>): CustomOp<R> {
  if (typeof spec?.name !== 'string' || spec.name === '')
    throw new TypeError('customOp: the spec needs a name');
  for (const key of ['forward', 'backward'] as const) {
    if (typeof spec[key] !== 'function')
      throw new TypeError(`customOp '${spec.name}': ${key} must be a function`);
  }
  // Plain loops and no closure but the node's backward: for a small op this wrapper is most of the cost.
  const apply = (...inputs: Tensor[]): Tensor | Tensor[] => {
    for (let i = 0; i < inputs.length; i++) {
      if (!(inputs[i] instanceof Tensor)) throw new TypeError(`${spec.name}: input ${i} is not a Tensor`);
      if (inputs[i]!.isDisposed) throw disposedError(`${spec.name}: input `, inputs[i]!);
    }
    // Under a jvp, with a tangent to carry: the op's jvp rule, else its reference (forward.ts).
    if (isForwardActive() && hasTangent(inputs)) return throughTangents(spec, inputs, () => run(inputs));
    return run(inputs);
  };
  const run = (inputs: Tensor[]): Tensor | Tensor[] => {
    const recording = needsGrad(inputs);
    const previous = setGradEnabled(false);
    let forward: ReturnType<CustomOpSpec<R>['forward']>;
    try {
      forward = spec.forward(inputs, { needsGrad: recording });
    } finally {
      setGradEnabled(previous);
    }
    const { outputs, residuals } = forward;
    const list = Array.isArray(outputs) ? outputs : [outputs];
    for (let i = 0; i < list.length; i++) {
      const t = list[i];
      if (!(t instanceof Tensor)) throw new TypeError(`${spec.name}: forward output ${i} is not a Tensor`);
      // An output that aliases an input would be given a node of its own; cut it so that it is fresh.
      if (t.node || t.requiresGrad) list[i] = t.detach();
    }
    const result = Array.isArray(outputs) ? list : list[0]!;
    // Not recording, record returns the outputs as they are (after anomaly mode's check, when on).
    // Recording on inside a backward means the pass builds a graph (createGraph).
    return record(spec.name, inputs, result, (grads) =>
      isGradEnabled()
        ? graphBackward(spec, grads, residuals, inputs)
        : spec.backward(grads, residuals, inputs),
    );
  };
  return Object.assign(apply, { opName: spec.name, spec, reference: spec.reference });
}

/** A customOp under a jvp whose inputs carry tangents: its jvp rule over the fused forward, else its reference. */
function throughTangents<R>(
  spec: CustomOpSpec<R>,
  inputs: Tensor[],
  run: () => Tensor | Tensor[],
): Tensor | Tensor[] {
  const rule = spec.jvp;
  if (rule) {
    // An output that is an input must be a tensor of its own, or its tangent would become the input's.
    const fresh = () => {
      const out = run();
      const list = (Array.isArray(out) ? out : [out]).map((t) => (inputs.includes(t) ? t.detach() : t));
      return Array.isArray(out) ? list : list[0]!;
    };
    return pushForward(spec.name, inputs, fresh, (tangents, out) => {
      const outs = Array.isArray(out) ? out : [out];
      const given = rule(inputs, tangents as (Tensor | null)[], outs);
      if (!Array.isArray(given) || given.length !== outs.length) {
        throw new Error(`jvp: customOp '${spec.name}': its jvp must return one tangent (or null) per output`);
      }
      const full = outs.map((o, i) => given[i] ?? zerosLike(o));
      return Array.isArray(out) ? full : full[0]!;
    });
  }
  if (spec.reference) return spec.reference(...inputs);
  throw new Error(
    `jvp: customOp '${spec.name}' has neither a jvp rule nor a reference, so forward mode cannot go through ` +
      'it; give its spec a jvp (in core ops) or a reference',
  );
}

/** The input grads of a customOp in a graph-building pass: grads that can be differentiated again. */
function graphBackward<R>(
  spec: CustomOpSpec<R>,
  grads: readonly Tensor[],
  residuals: R,
  inputs: readonly Tensor[],
): (Tensor | null)[] {
  if (spec.differentiableBackward) return spec.backward(grads, residuals, inputs);
  if (spec.reference) return referencePullback(spec.reference, grads, inputs);
  // The first derivative is fine; only differentiating it again is not (PyTorch's rule for a fused
  // cell without double backward): the grads get a node that says so if a pass ever reaches it.
  const previous = setGradEnabled(false);
  let inputGrads: (Tensor | null)[];
  try {
    inputGrads = spec.backward(grads, residuals, inputs);
  } finally {
    setGradEnabled(previous);
  }
  const refuse = (): never => {
    throw new Error(
      `${spec.name}: cannot differentiate its backward (a second derivative): it is not declared ` +
        'differentiableBackward and has no reference to differentiate instead',
    );
  };
  return inputGrads.map((g) =>
    g
      ? record(`${spec.name}.backward`, [...inputs, ...grads], new Tensor(g.data.slice(), g.shape), refuse)
      : g,
  );
}

/** The tape's vjp of reference at inputs for the output grads, recorded: so differentiable again. */
function referencePullback(
  reference: (...inputs: Tensor[]) => Tensor | Tensor[],
  grads: readonly Tensor[],
  inputs: readonly Tensor[],
): (Tensor | null)[] {
  // Stand-ins made before `since`: the pass below stops at them and returns their grads, which reach
  // the real inputs through the stand-ins' nodes when the grads are differentiated.
  const standIns = inputs.map((x) => (x.requiresGrad ? standIn(x) : x));
  const since = nextSeq();
  const out = reference(...standIns);
  const outputs = Array.isArray(out) ? out : [out];
  const roots: Tensor[] = [];
  const seeds: Tensor[] = [];
  outputs.forEach((o, i) => {
    if (o.requiresGrad) {
      roots.push(o);
      seeds.push(grads[i]!);
    }
  });
  const stops = new Set(standIns.filter((x, i) => x !== inputs[i]));
  const found = roots.length > 0 ? runBackward(roots, seeds, { createGraph: true }, since, stops) : new Map();
  return standIns.map((x) => found.get(x) ?? null);
}

markLibraryCode(codeStart, new Error()); // and where it ends
