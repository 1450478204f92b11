// Parameter (a leaf tensor an optimizer may replace the values of) and Module (a tree of named
// parameters and children, with PyTorch's dotted names, state dicts and train/eval).
import { type DType, DTypeError, keep, ShapeError, Tensor } from '@tapegrad/core';
import { markLibraryCode, replaceLeafData } from '@tapegrad/core/kernels';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

/** A checkpoint or state dict that cannot be read or does not fit; raised before anything changes. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/**
 * A leaf tensor that requires grad. It IS a Tensor (pass it to any op, read `.grad`), as in
 * PyTorch. Tensors never mutate their buffer, so an update swaps in a new buffer instead: graphs
 * and state dicts taken earlier keep the values they saw, and nothing else can change a weight.
 * Run backward before the optimizer step, as in PyTorch (an op's backward may read its inputs).
 */
export class Parameter extends Tensor {
  constructor(value: Tensor) {
    if (!(value instanceof Tensor)) throw new TypeError('Parameter: expected a Tensor');
    super(value.data, value.shape, true);
    // A model outlives any tidy scope it is built in.
    keep(this);
  }

  /** Replaces the values (same shape and dtype); the new buffer is shared, never copied or mutated. */
  assign(value: Tensor): void {
    if (!(value instanceof Tensor)) throw new TypeError('Parameter.assign: expected a Tensor');
    const message = `Parameter.assign: expected ${describe(this)}, got ${describe(value)} (no implicit cast or reshape)`;
    if (value.dtype !== this.dtype) throw new DTypeError(message);
    if (!sameShape(value.shape, this.shape)) throw new ShapeError(message);
    // Core swaps the buffer (a Tensor's own is private) and keeps `value`: the buffer is the
    // parameter's now, so no tidy scope may dispose the tensor that brought it.
    replaceLeafData(this, value);
  }
}

export type StateDict = Record<string, Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

// Names become keys of null-prototype records and dotted paths, so keep them to identifier-like words.
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

const describe = (t: { dtype: DType; shape: readonly number[] }): string =>
  `${t.dtype} [${t.shape.join(',')}]`;

/** A tree of parameters and child modules; subclasses register them in the order PyTorch would. */
export class Module {
  training = true;
  readonly #parameters = new Map<string, Parameter>();
  readonly #children = new Map<string, Module>();

  protected registerParameter<P extends Parameter>(name: string, param: P): P {
    this.#checkName(name);
    if (!(param instanceof Parameter)) throw new TypeError(`registerParameter: '${name}' is not a Parameter`);
    this.#parameters.set(name, param);
    return param;
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    this.#checkName(name);
    if (!(module instanceof Module)) throw new TypeError(`registerModule: '${name}' is not a Module`);
    this.#children.set(name, module);
    return module;
  }

  #checkName(name: string): void {
    if (!NAME.test(name) || name in Object.prototype) {
      throw new Error(`Module: invalid name '${name}' (letters, digits and _, not starting with a digit)`);
    }
    if (this.#parameters.has(name) || this.#children.has(name)) {
      throw new Error(`Module: '${name}' is already registered`);
    }
  }

  /** Own parameters first, then each child's, depth first, as PyTorch's named_parameters. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [name, p] of this.#parameters) out.push([prefix + name, p]);
    for (const [name, child] of this.#children) out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedChildren(): [string, Module][] {
    return [...this.#children];
  }

  children(): Module[] {
    return [...this.#children.values()];
  }

  /** Sets training mode here and in every descendant (dropout-like behaviour reads `training`). */
  train(mode = true): this {
    this.training = mode;
    for (const child of this.#children.values()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Clears `.grad` of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /**
   * name → detached tensor. The tensors share the parameters' buffers, which are never mutated, so
   * the dict is a snapshot: later optimizer steps do not change it.
   */
  stateDict(): StateDict {
    const out: StateDict = Object.create(null);
    for (const [name, p] of this.namedParameters()) out[name] = p.detach();
    return out;
  }

  /**
   * Loads values by name. Every key, shape and dtype is checked first and all problems are reported
   * in one CheckpointError; only when nothing is wrong is any parameter changed. With strict off,
   * missing and unexpected keys are returned instead of refused (shapes and dtypes still must match).
   */
  loadStateDict(state: StateDict, options: { strict?: boolean } = {}): LoadResult {
    const strict = options.strict ?? true;
    if (typeof state !== 'object' || state === null) {
      throw new CheckpointError('loadStateDict: expected a record of name → Tensor');
    }
    const own = new Map(this.namedParameters());
    const keys = Object.keys(state);
    const missingKeys = [...own.keys()].filter((name) => !Object.hasOwn(state, name));
    const unexpectedKeys = keys.filter((name) => !own.has(name));
    const problems: string[] = [];
    if (strict && missingKeys.length > 0) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length > 0) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    const updates: [Parameter, Tensor][] = [];
    for (const name of keys) {
      const param = own.get(name);
      if (!param) continue;
      const value = state[name];
      if (!(value instanceof Tensor)) {
        problems.push(`'${name}' is not a Tensor`);
      } else if (value.dtype !== param.dtype || !sameShape(value.shape, param.shape)) {
        problems.push(`'${name}': expected ${describe(param)}, got ${describe(value)}`);
      } else {
        updates.push([param, value]);
      }
    }
    if (problems.length > 0) {
      throw new CheckpointError(`loadStateDict: nothing was loaded: ${problems.join('; ')}`);
    }
    for (const [param, value] of updates) param.assign(value);
    return { missingKeys, unexpectedKeys };
  }
}

markLibraryCode(codeStart, new Error()); // and where it ends
