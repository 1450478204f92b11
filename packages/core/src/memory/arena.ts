// Arenas: how buffers are lent by the allocator (allocator.ts), each arena with an explicit lifetime
// after which its buffers go back: one kernel call, one backward pass, one graph's saved values, one
// tidy scope. A buffer is never lent twice at once: an arena holds what it took until its lifetime ends.
import { type DType, DTypeError, isDType, type TypedArray } from '../dtype.js';
import { checkBytes, MAX_BUFFER_BYTES } from '../shape.js';
import type { Tensor } from '../tensor.js';
import {
  arenaPlace,
  emptyPool as emptyFreeLists,
  giveBack,
  lentAgain,
  type Place,
  takeBuffer,
} from './allocator.js';

/** What an arena's buffers live for, and so when they go back to the allocator. */
export type Lifetime = 'call' | 'pass' | 'graph' | 'scope';

/** When each lifetime ends, for the error that a closed arena gives. */
const ENDS: Record<Lifetime, string> = {
  call: 'its kernel call returned',
  pass: 'its backward pass ended',
  graph: "its graph's saved values were freed, or its forward recorded nothing",
  scope: 'its tidy scope ended',
};

/** Float64 values within MAX_BUFFER_BYTES: any request up to it is within the limit for either dtype. */
const MAX_FLOAT64S = MAX_BUFFER_BYTES / 8;

/** Checks a request for `size` values of `dtype`, naming `who` in the error. */
export function checkRequest(who: string, dtype: DType, size: number): void {
  if (Number.isSafeInteger(size) && size >= 0 && size <= MAX_FLOAT64S && isDType(dtype)) return;
  if (!isDType(dtype)) {
    throw new DTypeError(`${who}: unknown dtype ${String(dtype)} (expected 'float32' or 'float64')`);
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`${who}: size must be a whole number of values ≥ 0, got ${size}`);
  }
  checkBytes(who, [size], dtype);
}

/** What a closed arena whose buffers went to a newer one of its name is left holding. */
const NO_BUFFERS: TypedArray[] = [];
const NO_PLACES: Place[] = [];

/**
 * Buffers lent for one lifetime: take() hands out buffers that no other arena holds, and when the
 * lifetime ends they are the next arena of the same name's to take (see lastOfName), or go back to the
 * allocator's free lists for any arena. Float32 ones live in the wasm
 * kernels' memory where it is shared, so the kernels use them in place. Never hold a buffer (or a view
 * of it) past the arena's end: the next arena may be given it and write into it.
 */
export class Arena {
  /**
   * The buffers this arena holds, in the order taken, and the place each was taken for. The first
   * `taken` are lent; the rest are the last set of the arena's name (see lastOfName), lent one by one
   * while the asks match.
   */
  private held: TypedArray[];
  private places: Place[];
  /** How many of `held` this arena has lent. */
  protected taken = 0;
  private open = true;

  constructor(
    /** Who the arena is for (an op's name), named in its errors. */
    readonly name: string,
    /** What the buffers live for: when they go back to the allocator. */
    readonly lifetime: Lifetime,
  ) {
    const last = lastOfName.get(name);
    if (last === undefined) {
      this.held = [];
      this.places = [];
    } else {
      // Its lists become this arena's (no new ones: arenas are made on every call); it keeps none, and
      // being closed it never adds to the shared empty ones it is left with.
      lastOfName.set(name, undefined);
      this.held = last.held;
      this.places = last.places;
      last.held = NO_BUFFERS;
      last.places = NO_PLACES;
    }
  }

  /** The arena as its errors name it, made when first asked for (arenas are made on every call). */
  private whoText: string | undefined;
  private get who(): string {
    this.whoText ??= `${this.lifetime} arena '${this.name}'`;
    return this.whoText;
  }

  /** Whether the arena still lends and holds its buffers. */
  get isOpen(): boolean {
    return this.open;
  }

  /** The buffers lent so far, in the order taken. */
  protected get lent(): readonly TypedArray[] {
    return this.taken === this.held.length ? this.held : this.held.slice(0, this.taken);
  }

  /**
   * A buffer of `size` values held until the arena ends: zero-filled, or with `zeroed: false` whatever
   * an earlier holder left in it (for a caller that writes every value before it reads one).
   */
  take(dtype: DType, size: number, { zeroed = true }: { zeroed?: boolean } = {}): TypedArray {
    if (!this.open) {
      throw new Error(
        `${this.who}: asked for ${size} ${String(dtype)} values after it closed (${ENDS[this.lifetime]})`,
      );
    }
    // The request's checks, with the arena's name made only for an error (take runs on every call).
    if (!(Number.isSafeInteger(size) && size >= 0 && size <= MAX_FLOAT64S && isDType(dtype))) {
      checkRequest(this.who, dtype, size);
    }
    const i = this.taken++;
    if (i < this.held.length) {
      const last = this.held[i]!;
      if (last.length === size && last instanceof Float64Array === (dtype === 'float64')) {
        return lentAgain(last, zeroed);
      }
      // The asks have changed (another shape): what is left of the last set goes to the free lists.
      this.giveBackFrom(i);
    }
    const place = arenaPlace(dtype);
    const data = takeBuffer(this.name, dtype, size, place, zeroed); // within MAX_BUFFER_BYTES: checked
    this.held.push(data);
    this.places.push(place);
    return data;
  }

  /** Whether data is (a view of) a buffer the arena has lent. */
  holds(data: TypedArray): boolean {
    for (let i = 0; i < this.taken; i++) {
      const b = this.held[i]!;
      if (
        data.buffer === b.buffer &&
        data.byteOffset < b.byteOffset + b.byteLength &&
        b.byteOffset < data.byteOffset + data.byteLength
      ) {
        return true;
      }
    }
    return false;
  }

  /**
   * Ends the lifetime: take() refuses from now on, and the buffers are kept as this name's last set,
   * for the next arena of the name (see lastOfName); the set it replaces goes to the free lists.
   */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.giveBackFrom(this.taken);
    lastOfName.get(this.name)?.giveBackFrom(0);
    lastOfName.set(this.name, this);
  }

  /** Gives the buffers held from the i-th on back to the allocator's free lists. */
  protected giveBackFrom(from: number): void {
    const { held, places } = this;
    if (held.length <= from) return;
    for (let k = held.length - 1; k >= from; k--) giveBack(held[k]!, places[k]!);
    held.length = from;
    places.length = from;
  }
}

/**
 * The last closed arena of each name, with the buffers it held. An op asks for the same sizes step
 * after step, so the next arena of the name is lent that set again, buffer by buffer in the order taken,
 * while its asks match (dtype and length), with none of the free lists' bookkeeping; from the first ask
 * that differs, the rest of the set goes to the free lists. An arena of the name opened while another is
 * open (nested calls) takes from the free lists. emptyPool forgets the sets too. An entry taken is set to
 * undefined rather than deleted: the names are few and fixed, and a delete and a set on every call cost
 * more than a set.
 */
const lastOfName = new Map<string, Arena | undefined>();

/** Empties the free buffers and the arenas' last sets, handing them to the garbage collector. */
export function emptyPool(): void {
  lastOfName.clear();
  emptyFreeLists();
}

/**
 * Runs fn with an arena for one call's scratch (staging, per-step state, a backward's intermediate
 * grads: what a kernel or a customOp's forward or backward needs only while it runs) and closes it
 * when fn returns or throws, so the next call is lent the same memory. Nothing fn returns may view its
 * buffers: copy what outlives the call.
 */
export function callArena<T>(name: string, fn: (arena: Arena) => T): T {
  const arena = new Arena(name, 'call');
  try {
    return fn(arena);
  } finally {
    arena.close();
  }
}

// ---- pass: one backward pass ----

/**
 * The running backward passes, innermost last: a backward may run a pass of its own (grad in a vjp).
 * null: a pass that lends nothing (one that builds a graph, whose grads outlive it).
 */
const passes: (Arena | null)[] = [];

/**
 * @internal Begins a backward pass: the buffers backwardScratch lends from now on are held by it; with
 * lend false it lends none (backwardScratch gives null within it).
 */
export function beginPass(lend = true): void {
  passes.push(lend ? new Arena('backward', 'pass') : null);
}

/** @internal Ends the innermost pass: its buffers go back, for the next pass to take. */
export function endPass(): void {
  passes.pop()?.close();
}

/** @internal Whether a backward pass is running. */
export const inBackwardPass = (): boolean => passes.length > 0;

/** @internal Whether data is (a view of) a buffer that a running pass holds. */
export function isScratch(data: TypedArray): boolean {
  for (const pass of passes) if (pass?.holds(data)) return true;
  return false;
}

/**
 * A buffer for a grad that a backward hands on to the backward of an input's producer, lent by the
 * running backward pass's arena: valid until the pass ends, after which later passes reuse it; null
 * outside a pass (and for no values).
 * Zero-filled unless `zeroed` is false, for a caller that writes every value (a gemm without
 * accumulate): then it holds what an earlier pass left, as torch.empty's memory does.
 * Meant for an intermediate's grad (an input that is not a leaf), large and consumed within the pass,
 * as the grad nn's layers hand to the layer below: it is not allocated afresh every pass (memory the C
 * allocator may have given back, whose pages then fault in again, a cost paid every pass: bench/README),
 * and float32 ones live in the wasm kernels' memory, where the kernels read and write them without
 * copies. The tape copies such a grad before it becomes a leaf's (passed through by reshape, say), so no
 * caller of backward, grad or vjp ever holds one; in turn a backward copies any output grad it keeps
 * past its return.
 */
export function backwardScratch(dtype: DType, size: number, zeroed = true): TypedArray | null {
  checkRequest('backwardScratch', dtype, size);
  const pass = passes[passes.length - 1];
  if (!pass || size === 0) return null;
  return pass.take(dtype, size, { zeroed });
}

// ---- graph: one graph's saved values ----

/**
 * The buffers a forward saves for its backward (saved activations that are never tensors), lent to its
 * graph: they go back to the allocator when the tape frees the graph's saved values (a backward without
 * retainGraph), or at once when the forward recorded nothing. A graph dropped without a backward keeps
 * them until it is collected. Keep the arena in the op's residuals and read the buffers from it in the
 * backward: reading them from a closed arena is refused.
 */
export class GraphArena extends Arena {
  /** An output of the forward, once lent: its node says whether the graph still needs the buffers. */
  private owner: Tensor | null = null;

  constructor(name: string) {
    super(name, 'graph');
  }

  /** The buffers taken so far, in the order taken; refused once the arena has closed. */
  get buffers(): readonly TypedArray[] {
    if (!this.isOpen) {
      throw new Error(`graph arena '${this.name}': its buffers were read after it closed (${ENDS.graph})`);
    }
    return this.lent;
  }

  /**
   * Lends the buffers to the graph of `outputs` (the forward's outputs) when `recording`, else gives
   * them back at once. Call it last in the forward, once every buffer is taken.
   */
  lendTo(outputs: readonly Tensor[], recording: boolean): void {
    this.giveBackFrom(this.taken); // what the last set had beyond this forward's asks
    if (!recording || outputs.length === 0) {
      this.close();
      return;
    }
    this.owner = outputs[0]!;
    if (lentGraphs.length >= LENT_GRAPHS_MAX) lentGraphs.shift();
    lentGraphs.push(this);
  }

  /** Gives the buffers back, and lets go of the graph (through its output) that it watched. */
  override close(): void {
    super.close();
    this.owner = null;
  }

  /** Whether the graph lent the buffers no longer needs them (the tape's mark: its backward is null). */
  get savedValuesFreed(): boolean {
    const node = this.owner?.node;
    return node === null || node === undefined || node.backward === null;
  }
}

/**
 * The graph arenas lent to graphs whose saved values are not known to be freed, oldest first. Their
 * count is bounded, as each holds its graph (through its owner) while listed: past the bound the oldest
 * is forgotten, and its buffers stay with its graph, to be collected with it. A strong list, not weak
 * references: a WeakRef keeps its target alive until the running job ends, which in a synchronous
 * training loop is never.
 */
const lentGraphs: GraphArena[] = [];
/** A few layers' graphs alive at once (each sequence layer and loss lends one per forward). */
const LENT_GRAPHS_MAX = 16;

/** Closes the lent graph arenas whose saved values the tape has freed. */
function closeFreedGraphs(): void {
  // Compacted in place: this runs on every forward that saves values.
  let kept = 0;
  for (const arena of lentGraphs) {
    if (arena.savedValuesFreed) arena.close();
    else lentGraphs[kept++] = arena;
  }
  if (kept < lentGraphs.length) lentGraphs.length = kept;
}

/**
 * An arena for the values a customOp's forward saves for its backward, in buffers reused across
 * iterations instead of allocated afresh (float32 ones resident in the wasm kernels' memory, where the
 * kernels write and read them in place). Ask for one per forward; take() its buffers; call lendTo(outputs,
 * needsGrad) last; keep the arena in the residuals and read `buffers` in the backward:
 *
 * ```ts
 * forward(inputs, { needsGrad }) {
 *   const saved = kernels.graphArena('myCell');
 *   const gates = saved.take(x.dtype, rows * width, { zeroed: false }); // written whole below
 *   // ... kernels write gates, then the outputs (fresh buffers: never a view of gates) ...
 *   saved.lendTo(outputs, needsGrad);
 *   return { outputs, residuals: needsGrad ? { saved } : null };
 * },
 * backward(grads, { saved }) { const [gates] = saved.buffers; ... }
 * ```
 *
 * The buffers are the graph's until the tape frees its saved values (a backward without retainGraph),
 * or given back at once when nothing was recorded; a graph dropped without a backward keeps them until
 * it is collected. An output must never view them: the next forward may be lent them. Asking first
 * closes the arenas of graphs freed since, so a forward of the same sizes takes their buffers.
 */
export function graphArena(name: string): GraphArena {
  closeFreedGraphs();
  return new GraphArena(name);
}

// ---- scope: one tidy scope ----

/** Buffers shorter than this many bytes are left to the garbage collector (malloc reuses small blocks well). */
const SCOPE_MIN_BYTES = 16384;

/**
 * @internal One tidy scope's arena: the tensor buffers allocate made while it was the innermost scope.
 * At its end tidy gives back those that only disposed tensors viewed, and hands the rest to the
 * enclosing scope (tidy.ts decides which, as only it knows the tensors).
 */
export class ScopeArena {
  readonly lifetime: Lifetime = 'scope';
  /** The buffers allocate made while this scope was innermost (only those ever go back). */
  allocated: Set<ArrayBufferLike> | null = null;

  constructor(
    /** The epoch at which the scope began: what was free before it and is still free at its end is forgotten. */
    readonly began: number,
  ) {}
}

let scope: ScopeArena | null = null;

/** @internal Makes `next` the innermost scope, whose arena owns what allocate makes from now on. */
export function setScope(next: ScopeArena | null): void {
  scope = next;
}

/**
 * A zero-filled buffer of `size` elements for a tensor: a free one of that length when the allocator
 * has one, owned by the innermost tidy scope. With `zero: false` a recycled buffer keeps the values it
 * had (torch.empty), for a caller that writes every value before reading any. More than
 * MAX_BUFFER_BYTES is refused (a RangeError), before allocating.
 */
export function allocate(dtype: DType, size: number, { zero = true }: { zero?: boolean } = {}): TypedArray {
  if (size * (dtype === 'float64' ? 8 : 4) < SCOPE_MIN_BYTES) {
    return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
  }
  const data = takeBuffer('allocate', dtype, size, 'tensor', zero);
  if (scope !== null) {
    scope.allocated ??= new Set();
    scope.allocated.add(data.buffer);
  }
  return data;
}
