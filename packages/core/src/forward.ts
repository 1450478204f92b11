// Forward mode's engine: tangents ride beside their primals for the duration of a jvp call (a level),
// and each op in the registry pushes them through its jvp rule. Outside every jvp an op pays one
// branch (`depth === 0`); the tangents live in one WeakMap per level, so nothing outlives its call.
import { markLibraryCode } from './callSite.js';
import { DTypeError } from './dtype.js';
import { fmt, ShapeError, sameShape } from './shape.js';
// Types only: forward.ts must not import tensor.ts at runtime. The ops call differentiable as they load,
// and with no runtime imports but these three leaves, this module has always finished loading by then
// (tensor.ts → tape.ts → forward.ts would otherwise be a cycle that can leave it half-loaded).
import type { Tensor } from './tensor.js';

// Where this module's code starts, so that its frames are known for core's in any bundle (callSite.ts).
const codeStart = new Error();

/** One jvp call's tangents, keyed by the tensors they belong to. A tensor absent has a zero tangent. */
interface Level {
  readonly tangents: WeakMap<Tensor, Tensor>;
}

/**
 * The levels of the jvp calls running, outermost first, and how many of them the code running now
 * sees. A jvp rule at level k runs with depth k: its own ops carry the tangents of the levels outside
 * it (so a tangent has tangents of its own: jvp of jvp) and never its own level's or an inner one's,
 * which is what keeps nested jvps from confusing their perturbations.
 */
const levels: Level[] = [];
let depth = 0;

/** Whether any jvp is running (visible from here): the only question an op asks in reverse mode. */
export const isForwardActive = (): boolean => depth !== 0;

/** What an op returns. */
type Primal = Tensor | Tensor[];

/**
 * The tangents of an op's arguments, position by position: of a tensor, a tensor or null (zero); of a
 * list of tensors, a list; of anything else, null.
 */
export type Tangents<P extends readonly unknown[]> = {
  readonly [I in keyof P]-?: [P[I]] extends [readonly Tensor[]] ? readonly (Tensor | null)[] : Tensor | null;
};

/** An op's signature: tensors and plain options in, a tensor or a list of them out. */
// biome-ignore lint/suspicious/noExplicitAny: an op's arguments are whatever its signature says
export type OpFn = (...args: any[]) => Tensor | Tensor[];

/**
 * An op's jvp rule: the tangent of its output from the tangents of its arguments (at least one of them
 * non-null), the arguments and the output. Written in core ops, so that it is itself recorded and
 * forward-differentiable.
 */
export type JvpRule<F extends OpFn> = (
  tangents: Tangents<Parameters<F>>,
  args: Parameters<F>,
  out: ReturnType<F>,
) => ReturnType<F>;

/** An op of the registry: the function, its name, and its jvp rule. */
export type Differentiable<F extends OpFn> = F & { readonly opName: string; readonly jvp: JvpRule<F> };

/**
 * Makes impl an op of the registry: outside every jvp it is impl, behind one branch; inside, the
 * tangents of its arguments go through jvp. Ops take at most four arguments.
 */
export function differentiable<F extends OpFn>(
  opName: string,
  impl: F,
  jvp: NoInfer<JvpRule<F>>,
): Differentiable<F> {
  const op = (a?: unknown, b?: unknown, c?: unknown, d?: unknown): Tensor | Tensor[] =>
    depth === 0
      ? impl(a, b, c, d)
      : pushForward(
          opName,
          [a, b, c, d],
          () => impl(a, b, c, d),
          (tangents, out) =>
            jvp(
              tangents as unknown as Tangents<Parameters<F>>,
              [a, b, c, d] as Parameters<F>,
              out as ReturnType<F>,
            ),
        );
  Object.defineProperty(op, 'name', { value: opName });
  return Object.assign(op as F, { opName, jvp });
}

/** A tensor argument's tangent, or a list's; anything else has none (WeakMap.get of a number is undefined). */
function tangentOf(level: Level, arg: unknown): Tensor | null | (Tensor | null)[] {
  if (Array.isArray(arg)) return arg.map((a) => level.tangents.get(a) ?? null);
  return level.tangents.get(arg as Tensor) ?? null;
}

const present = (t: Tensor | null | (Tensor | null)[]): boolean =>
  Array.isArray(t) ? t.some((u) => u !== null) : t !== null;

/**
 * Runs primal with forward mode out of sight (its own ops see no level: the op's rule accounts for
 * them), then, level by level from the outermost, the rule over the arguments' tangents at that level,
 * which it attaches to the outputs. Used by the registry's ops and by customOp's jvp.
 */
export function pushForward<T extends Primal>(
  op: string,
  args: readonly unknown[],
  primal: () => T,
  rule: (tangents: readonly (Tensor | null | (Tensor | null)[])[], out: T) => Primal,
): T {
  const active = depth;
  depth = 0;
  let out: T;
  try {
    out = primal();
  } finally {
    depth = active;
  }
  // Outermost first: a rule at level k may read the output's own tangents at the levels outside it
  // (tanh's reads y), which must be attached before it runs.
  for (let k = 0; k < active; k++) {
    const level = levels[k]!;
    const tangents = args.map((a) => tangentOf(level, a));
    if (!tangents.some(present)) continue;
    depth = k;
    let tangent: Primal;
    try {
      tangent = rule(tangents, out);
    } finally {
      depth = active;
    }
    attach(op, level, out, tangent);
  }
  return out;
}

/** Checks a rule's tangent against the output it belongs to (the one place that does) and keeps it. */
function attach(op: string, level: Level, out: Primal, tangent: Primal): void {
  const outs = Array.isArray(out) ? out : [out];
  const tangents = Array.isArray(tangent) ? tangent : [tangent];
  if (Array.isArray(out) !== Array.isArray(tangent) || outs.length !== tangents.length) {
    throw new Error(`jvp: '${op}' returned ${tangents.length} tangent(s) for ${outs.length} output(s)`);
  }
  for (let i = 0; i < outs.length; i++) {
    const o = outs[i]!;
    const t = tangents[i];
    if (typeof t !== 'object' || t === null || !('dtype' in t)) {
      throw new TypeError(`jvp: '${op}' returned ${String(t)} as tangent ${i}`);
    }
    if (t.dtype !== o.dtype) {
      throw new DTypeError(`jvp: '${op}' returned a ${t.dtype} tangent for its ${o.dtype} output ${i}`);
    }
    if (!sameShape(t.shape, o.shape)) {
      throw new ShapeError(
        `jvp: '${op}' returned a tangent of shape ${fmt(t.shape)} for its output ${i} of shape ${fmt(o.shape)}`,
      );
    }
    level.tangents.set(o, t);
  }
}

/** Whether any of the tensors has a tangent at a level the code running now sees. */
export function hasTangent(tensors: readonly Tensor[]): boolean {
  for (let k = 0; k < depth; k++) {
    for (const t of tensors) if (levels[k]!.tangents.has(t)) return true;
  }
  return false;
}

/**
 * @internal Gives `to` the tangents that `from` has at every level visible now: for a fresh leaf that
 * stands for an argument (grad called inside a jvp), so that the argument's tangents reach its grad.
 */
export function shareTangents(from: Tensor, to: Tensor): void {
  for (let k = 0; k < depth; k++) {
    const t = levels[k]!.tangents.get(from);
    if (t) levels[k]!.tangents.set(to, t);
  }
}

/**
 * @internal Runs f inside a new level. seed runs first, outside it (so that the primals it makes carry
 * the outer levels' tangents), and gives each primal its tangent at the new level with attach; f then
 * runs with the level visible, reading its outputs' tangents with tangentOf. Levels that a caller at a
 * lower depth hid (a jvp called inside a rule) stay hidden until it returns.
 */
export function withLevel<S, T>(
  seed: (attach: (primal: Tensor, tangent: Tensor | null) => void) => S,
  f: (seeded: S, tangentOf: (t: Tensor) => Tensor | null) => T,
): T {
  const outer = depth;
  const hidden = levels.splice(outer);
  const level: Level = { tangents: new WeakMap() };
  try {
    const seeded = seed((primal, tangent) => {
      if (tangent !== null) level.tangents.set(primal, tangent);
    });
    levels.push(level);
    depth = outer + 1;
    return f(seeded, (t) => level.tangents.get(t) ?? null);
  } finally {
    levels.length = outer;
    levels.push(...hidden);
    depth = outer;
  }
}

markLibraryCode(codeStart, new Error()); // and where it ends
