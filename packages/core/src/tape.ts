// The tape: recorded ops keep a node on their results; backward walks the nodes reachable from
// the output in descending creation order (the tape read in reverse), iteratively.

import { anomalyEnabled, checkedBackward, checkForward, checkSeed } from './anomaly.js';
import { markLibraryCode } from './callSite.js';
import { type DType, DTypeError } from './dtype.js';
import { hasTangent, isForwardActive } from './forward.js';
import { addInto } from './kernels/elementwise.js';
import { sumToShape } from './kernels/reduce.js';
import { allocate, beginPass, endPass, inBackwardPass, isScratch } from './memory/arena.js';
import { disposedError } from './memory/tidy.js';
import { enterHigherOrder, exitHigherOrder, isGradEnabled, setGradEnabled } from './mode.js';
import { add } from './ops/elementwise.js';
import { sum } from './ops/reduce.js';
import { reshape } from './ops/shape.js';
import { broadcastShapes, fmt, type Shape, ShapeError, sameShape, sizeOf } from './shape.js';
import { Tensor } from './tensor.js';

// Where this module's code starts, so that its frames are known for core's in any bundle (callSite.ts).
const codeStart = new Error();

/** Maps the grads of a node's outputs to the grads of its inputs (null: no grad for that input). */
export type NodeBackward = (outputGrads: readonly Tensor[]) => readonly (Tensor | null)[];

export interface Node {
  readonly op: string;
  /** Creation order; backward runs nodes in descending seq. */
  readonly seq: number;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly { readonly shape: Shape; readonly dtype: DType }[];
  /** Holds the saved values (in its closure); null once a backward has freed them. */
  backward: NodeBackward | null;
  /** Where the op was called (anomaly mode only; its stack is formatted only if read). */
  readonly origin: Error | null;
}

export interface BackwardOptions {
  /** Keep saved values so that the graph can be walked again (default: createGraph). */
  retainGraph?: boolean;
  /**
   * Run the vjps with recording on, so that the grads carry a graph of their own and can be
   * differentiated again (PyTorch's create_graph). The graph walked is kept unless retainGraph is false:
   * the grads' graph leads back into it.
   */
  createGraph?: boolean;
}

let seq = 0;

/**
 * @internal The seq the next recorded node will get. grad, valueAndGrad and vjp read it before they
 * call f: every node f records is at or past it, and their backward walks only those (see runBackward).
 */
export const nextSeq = (): number => seq;

/** Whether an op over these inputs should be recorded. */
export function needsGrad(inputs: readonly Tensor[]): boolean {
  if (!isGradEnabled()) return false;
  for (let i = 0; i < inputs.length; i++) if (inputs[i]!.requiresGrad) return true;
  return false;
}

/**
 * Attaches a node to the outputs of an op when recording; the backward closure is the only thing
 * that holds saved values, so it is created by the op but kept only here.
 */
export function record<T extends Tensor | Tensor[]>(
  op: string,
  inputs: readonly Tensor[],
  outputs: T,
  backward: NodeBackward,
): T {
  // Anomaly mode checks every op's outputs, recorded or not; off, this is the one branch it costs.
  const origin = anomalyEnabled ? checkForward(op, inputs, outputs) : null;
  // The registry's ops run their primals with forward mode out of sight (forward.ts), so an op
  // recorded while a jvp is visible has no jvp rule: refuse it rather than drop its tangents.
  if (isForwardActive() && hasTangent(inputs)) {
    throw new Error(`jvp: '${op}' has no jvp rule, so forward mode cannot go through it`);
  }
  if (!needsGrad(inputs)) return outputs;
  const list = Array.isArray(outputs) ? outputs : [outputs];
  // Only the shapes and dtypes of the outputs: the node must not keep an unused output's values alive.
  const shapes: { shape: Shape; dtype: DType }[] = [];
  for (let i = 0; i < list.length; i++) shapes.push({ shape: list[i]!.shape, dtype: list[i]!.dtype });
  const node: Node = { op, seq: seq++, inputs, outputs: shapes, backward, origin };
  for (let i = 0; i < list.length; i++) {
    const t = list[i]!;
    t.node = node;
    t.outputIndex = i;
    t.requiresGrad = true;
  }
  return outputs;
}

// The helpers of collect and runBackward are module functions rather than closures made per call:
// a backward of a small graph is mostly such overhead.

function visit(node: Node | null, seen: Set<Node>, stack: Node[]): void {
  if (node && !seen.has(node)) {
    seen.add(node);
    stack.push(node);
  }
}

/** Collects the nodes from `since` on that are reachable from the roots, without recursion, newest first. */
function collect(roots: readonly Tensor[], since: number): Node[] {
  const seen = new Set<Node>();
  const stack: Node[] = [];
  for (let i = 0; i < roots.length; i++) {
    const node = roots[i]!.node;
    if (node && node.seq >= since) visit(node, seen, stack);
  }
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.backward === null) {
      throw new Error(
        `backward: the graph through '${node.op}' was freed by an earlier backward; ` +
          'pass { retainGraph: true } to the first backward to walk it again',
      );
    }
    const inputs = node.inputs;
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i]!;
      if (input.requiresGrad && input.node && input.node.seq >= since) visit(input.node, seen, stack);
    }
  }
  return Array.from(seen).sort(newestFirst);
}

const newestFirst = (a: Node, b: Node): number => b.seq - a.seq;

function accumulate(current: Tensor | undefined, g: Tensor, graph: boolean): Tensor {
  if (!current) return g;
  if (graph) return add(current, g);
  return new Tensor(addInto(current.data, g.data, allocate(g.dtype, g.size)), g.shape);
}

/** Brings a grad returned for `input` to its shape, undoing broadcasting; names the op if it cannot. */
function fitGrad(op: string, index: number, input: Tensor, g: Tensor, graph: boolean): Tensor {
  if (g.dtype !== input.dtype) {
    throw new DTypeError(`backward: '${op}' returned a ${g.dtype} grad for ${input.dtype} input ${index}`);
  }
  if (g.shape === input.shape || sameShape(g.shape, input.shape)) return g;
  let ok = g.shape.length >= input.shape.length;
  try {
    ok = ok && sameShape(broadcastShapes(op, input.shape, g.shape), g.shape);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new ShapeError(
      `backward: '${op}' returned a grad of shape ${fmt(g.shape)} for input ${index} of shape ${fmt(input.shape)}`,
    );
  }
  if (graph) return sumTo(g, input.shape);
  // Summed in float64, as reductions are, so a float32 bias grad over many rows does not stall at 2^24.
  const sums = sumToShape(g.data, g.shape, input.shape, new Float64Array(sizeOf(input.shape)));
  return new Tensor(g.dtype === 'float64' ? sums : Float32Array.from(sums), input.shape);
}

/** g (of a shape that input's broadcasts to) summed back to shape, by recorded ops: a grad of a grad. */
function sumTo(g: Tensor, shape: Shape): Tensor {
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let ax = 0; ax < g.rank; ax++) if (ax < lead || shape[ax - lead] === 1) axes.push(ax);
  return reshape(sum(g, { axis: axes, keepDims: true }), shape);
}

/**
 * The grads of a node's outputs: those that reached it, and zeros for the rest. The zeros of one
 * dtype are views of one buffer: a fresh typed array costs more than the few values it holds.
 */
function outputGrads(node: Node, slots: readonly (Tensor | undefined)[]): Tensor[] {
  const outputs = node.outputs;
  let dtype: DType | null = null;
  let missing = 0;
  let zerosSize = 0;
  for (let i = 0; i < outputs.length; i++) {
    if (slots[i]) continue;
    const o = outputs[i]!;
    dtype ??= o.dtype;
    missing++;
    if (o.dtype === dtype) zerosSize += sizeOf(o.shape);
  }
  const zeros = missing > 1 ? allocate(dtype!, zerosSize) : null;
  const grads: Tensor[] = [];
  for (let i = 0, at = 0; i < outputs.length; i++) {
    const o = outputs[i]!;
    let g = slots[i];
    if (!g) {
      const size = sizeOf(o.shape);
      const shared = zeros !== null && o.dtype === dtype;
      g = new Tensor(shared ? zeros.subarray(at, at + size) : allocate(o.dtype, size), o.shape);
      if (shared) at += size;
    }
    grads.push(g);
  }
  return grads;
}

/** The grads that have reached each node's outputs so far. */
type NodeGrads = Map<Node, (Tensor | undefined)[]>;

/**
 * Adds g to the grad of t: in its node's slot for t, or for a leaf in leafGrads. A leaf's grad is never
 * scratch, and without createGraph never itself on the tape (a vjp that returns its output grad as it is
 * hands on the seed, which may require grad): `.grad` is a plain value, as PyTorch's is without
 * create_graph. A t made by a node before `since` is a constant of this pass and gets nothing, unless it
 * is one of `stops`: the recorded stand-ins for the arguments of a nested grad, whose grads it returns.
 */
function deliver(
  t: Tensor,
  g: Tensor,
  nodeGrads: NodeGrads,
  leafGrads: Map<Tensor, Tensor>,
  since: number,
  stops: ReadonlySet<Tensor> | null,
  graph: boolean,
): void {
  if (!t.requiresGrad) return;
  if (t.node) {
    if (t.node.seq < since) {
      if (stops?.has(t)) leafGrads.set(t, accumulate(leafGrads.get(t), own(g, graph), graph));
      return;
    }
    let slots = nodeGrads.get(t.node);
    if (!slots) {
      slots = new Array(t.node.outputs.length);
      nodeGrads.set(t.node, slots);
    }
    slots[t.outputIndex] = accumulate(slots[t.outputIndex], g, graph);
  } else {
    leafGrads.set(t, accumulate(leafGrads.get(t), own(g, graph), graph));
  }
}

/** g as a grad handed to a caller: never scratch; cut from the tape unless the pass builds a graph. */
function own(g: Tensor, graph: boolean): Tensor {
  if (isScratch(g.data)) return new Tensor(g.data.slice(), g.shape);
  return !graph && (g.requiresGrad || g.node) ? g.detach() : g;
}

/**
 * Runs the vjps from roots (seeded with seeds) and returns the grads that reach leaves which
 * require grad. Saved values are freed unless retainGraph. Everything is checked before any
 * grad is computed, so a refused call leaves nothing half-done.
 *
 * Only nodes recorded at or after `since` are walked; older ones are constants of this pass, and a
 * tensor they made gets no grad. grad(f) passes the seq at which it called f: a tensor f closed over
 * is then a constant (JAX's semantics), and its graph is neither walked nor freed. That is what lets
 * grad run inside a vjp (a customOp's backward) while the outer pass is running: the inner pass
 * cannot reach the outer graph, whose nodes the outer pass has yet to run. The rest of the engine's
 * state is per pass already: the grads in flight live in this call's maps, scratch is held per pass
 * (a stack of them, see backwardScratch), recording is restored in a finally, and seq only grows.
 */
export function runBackward(
  roots: readonly Tensor[],
  seeds: readonly Tensor[],
  options: BackwardOptions = {},
  since = 0,
  stops: ReadonlySet<Tensor> | null = null,
): Map<Tensor, Tensor> {
  for (const root of roots) {
    // Its graph's saved values may sit in buffers that tidy has recycled.
    if (root.isDisposed) throw disposedError('backward: the output ', root);
  }
  const nodes = collect(roots, since);
  const nodeGrads: NodeGrads = new Map();
  const leafGrads = new Map<Tensor, Tensor>();
  // With createGraph the vjps run recorded (each vjp takes its graph-building path when recording is
  // on), lend no scratch (a grad is saved by the ops that use it, past the pass) and keep the graph.
  const graph = options.createGraph === true;
  const retain = options.retainGraph ?? graph;
  const previous = setGradEnabled(graph);
  beginPass(!graph);
  if (graph) enterHigherOrder();
  try {
    // Seeds too are delivered in the pass's mode: a root given twice adds its seeds with a recorded add.
    for (let i = 0; i < roots.length; i++) {
      if (anomalyEnabled) checkSeed(seeds[i]!);
      deliver(roots[i]!, seeds[i]!, nodeGrads, leafGrads, since, stops, graph);
    }
    for (const node of nodes) {
      const slots = nodeGrads.get(node);
      if (!slots) continue; // every path to it was cut (a vjp returned null)
      nodeGrads.delete(node);
      if (node.backward === null) {
        // collect saw it whole: a backward run inside one of this pass's vjps (y.backward() there, on a
        // graph that reaches this one) has freed it since.
        throw new Error(
          `backward: the graph through '${node.op}' was freed during this backward, by a backward run ` +
            'inside a vjp; use grad/vjp there (they walk only what their function records) or retainGraph',
        );
      }
      const grads = outputGrads(node, slots);
      const inputGrads = anomalyEnabled ? checkedBackward(node, grads) : node.backward!(grads);
      if (!retain) node.backward = null;
      if (!Array.isArray(inputGrads)) {
        throw new TypeError(`backward: '${node.op}' returned ${String(inputGrads)}, not an array of grads`);
      }
      if (inputGrads.length !== node.inputs.length) {
        throw new Error(
          `backward: '${node.op}' returned ${inputGrads.length} grads for ${node.inputs.length} inputs`,
        );
      }
      for (let i = 0; i < node.inputs.length; i++) {
        const g = inputGrads[i];
        if (g !== null && g !== undefined && !(g instanceof Tensor)) {
          throw new TypeError(
            `backward: '${node.op}' returned ${String(g)} for input ${i} (a Tensor or null expected)`,
          );
        }
        if (g) {
          const input = node.inputs[i]!;
          deliver(input, fitGrad(node.op, i, input, g, graph), nodeGrads, leafGrads, since, stops, graph);
        }
      }
    }
  } finally {
    if (graph) exitHigherOrder();
    setGradEnabled(previous);
    endPass();
  }
  return leafGrads;
}

/** Checks a seed against its output and returns it (ones for a one-element output without a seed). */
export function seedFor(op: string, output: Tensor, seed?: Tensor): Tensor {
  if (seed !== undefined && !(seed instanceof Tensor)) {
    throw new TypeError(`${op}: the seed must be a Tensor, got ${seed === null ? 'null' : typeof seed}`);
  }
  if (seed === undefined) {
    if (output.size !== 1) {
      throw new ShapeError(
        `${op}: output has shape ${fmt(output.shape)}; a non-scalar output needs a seed (grad of the same shape)`,
      );
    }
    const data = allocate(output.dtype, 1);
    data[0] = 1;
    return new Tensor(data, output.shape);
  }
  if (!sameShape(seed.shape, output.shape)) {
    throw new ShapeError(
      `${op}: seed shape ${fmt(seed.shape)} differs from output shape ${fmt(output.shape)}`,
    );
  }
  if (seed.dtype !== output.dtype) {
    throw new DTypeError(`${op}: seed dtype ${seed.dtype} differs from output dtype ${output.dtype}`);
  }
  return seed;
}

/** `y.backward(seed?)`: accumulates into `.grad` of the leaves that require grad. */
export function backward(output: Tensor, seed?: Tensor, options: BackwardOptions = {}): void {
  if (!output.requiresGrad) {
    // Inside a vjp recording is off, so what it computes has no graph: grad(f) records its own.
    const inPass = inBackwardPass() ? '; inside a backward pass nothing is recorded: use grad(f) there' : '';
    throw new Error(
      `backward: the output does not require grad (no input had requiresGrad, or noGrad was on)${inPass}`,
    );
  }
  const grads = runBackward([output], [seedFor('backward', output, seed)], options);
  const graph = options.createGraph === true;
  for (const [leaf, g] of grads) leaf.grad = leaf.grad ? accumulate(leaf.grad, g, graph) : g;
}

/**
 * Whether what was saved for the backward through t is gone: t was not recorded, or a backward
 * without retainGraph freed it. An op may then reuse buffers it lent to that graph.
 */
export function savedValuesFreed(t: Tensor): boolean {
  return t.node === null || t.node.backward === null;
}

/** Clears `.grad` of each tensor. */
export function zeroGrad(tensors: Iterable<Tensor>): void {
  if (tensors === null || typeof (tensors as Partial<Iterable<Tensor>>)?.[Symbol.iterator] !== 'function') {
    throw new TypeError('zeroGrad: expected an iterable of tensors');
  }
  for (const t of tensors) if (t instanceof Tensor) t.grad = null;
}

markLibraryCode(codeStart, new Error()); // and where it ends
