// The optimizer base: the parameters, their per-parameter state (PyTorch's slot names), zeroGrad,
// and a state dict of tensors (`<index>.<slot>`) that saveSafetensors can write as it is.

import { type DType, DTypeError, keep, noGrad, ShapeError, Tensor } from '@tapegrad/core';
import { markLibraryCode } from '@tapegrad/core/kernels';
import { CheckpointError, Parameter } from '../module.js';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

/** One parameter's state: its step count (if the rule counts) and its buffers by slot name. */
export interface ParamState {
  step: number;
  buffers: Map<string, Tensor>;
}

/** What one update makes: the parameter's new value and its new buffers by slot (nothing is changed yet). */
export interface ParamUpdate {
  value: Tensor;
  buffers: Map<string, Tensor>;
}

const STATE_KEY = /^(0|[1-9][0-9]*)\.([a-z_]+)$/;

const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

const describe = (t: { dtype: DType; shape: readonly number[] }): string =>
  `${t.dtype} [${t.shape.join(',')}]`;

export abstract class Optimizer {
  readonly params: readonly Parameter[];
  readonly #state = new Map<Parameter, ParamState>();
  /** The buffer slots a parameter's state holds once it has been stepped. */
  protected abstract readonly slots: readonly string[];
  /** Whether the state counts steps (saved as a float64 scalar `<index>.step`). */
  protected abstract readonly countsSteps: boolean;

  constructor(params: Iterable<Parameter>) {
    if (typeof (params as Partial<Iterable<Parameter>> | null)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`${new.target.name}: expected an iterable of Parameters, got ${String(params)}`);
    }
    const list = [...params];
    list.forEach((p, i) => {
      if (!(p instanceof Parameter)) throw new TypeError(`optimizer: parameter ${i} is not a Parameter`);
    });
    if (new Set(list).size !== list.length) throw new Error('optimizer: a parameter appears more than once');
    this.params = list;
  }

  /** Applies one update to every parameter that has a grad. */
  step(): void {
    // Every grad is checked before any parameter or state changes, so a bad one leaves nothing half-stepped.
    this.params.forEach((p, i) => {
      const g = p.grad;
      if (g === null) return;
      const what = `${this.constructor.name}.step: parameter ${i} is ${describe(p)} but its grad is`;
      if (!(g instanceof Tensor)) throw new TypeError(`${what} not a Tensor`);
      if (g.dtype !== p.dtype) throw new DTypeError(`${what} ${describe(g)}`);
      if (!sameShape(g.shape, p.shape)) throw new ShapeError(`${what} ${describe(g)}`);
    });
    // Every update is computed before any is applied, so an update that throws (anomaly mode's NaN
    // check) leaves every parameter and its state as they were.
    const updates = noGrad(() =>
      this.params.flatMap((p) => {
        if (p.grad === null) return [];
        const state = this.#state.get(p);
        const next: ParamState = { step: (state?.step ?? 0) + 1, buffers: state?.buffers ?? new Map() };
        return [{ param: p, step: next.step, ...this.update(p, p.grad, next) }];
      }),
    );
    for (const { param, step, value, buffers } of updates) {
      param.assign(value);
      // The state outlives a tidy scope around the step.
      for (const t of buffers.values()) keep(t);
      this.#state.set(param, { step, buffers });
    }
  }

  /**
   * The rule: the parameter's new value and new buffers from its grad and its state, whose step is
   * already this update's (1 on the first); runs under noGrad and must not change `state`.
   */
  protected abstract update(param: Parameter, grad: Tensor, state: Readonly<ParamState>): ParamUpdate;

  /** Clears `.grad` of every parameter (PyTorch's default set_to_none). */
  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  /** `<index>.<slot>` → tensor (and `<index>.step` → float64 scalar), indices into `params`. */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = Object.create(null);
    this.params.forEach((p, i) => {
      const state = this.#state.get(p);
      if (!state) return;
      if (this.countsSteps) out[`${i}.step`] = new Tensor(Float64Array.of(state.step), []);
      for (const [slot, t] of state.buffers) out[`${i}.${slot}`] = t;
    });
    return out;
  }

  /** Replaces all state; everything is checked first and nothing changes if anything is wrong. */
  loadStateDict(dict: Record<string, Tensor>): void {
    if (typeof dict !== 'object' || dict === null) {
      throw new CheckpointError('optimizer.loadStateDict: expected a record of key → Tensor');
    }
    const loaded = new Map<number, ParamState>();
    const problems: string[] = [];
    for (const key of Object.keys(dict)) {
      const match = STATE_KEY.exec(key);
      const index = match ? Number(match[1]) : -1;
      const slot = match?.[2] ?? '';
      const param = this.params[index];
      const value = dict[key];
      if (!param || !(slot === 'step' ? this.countsSteps : this.slots.includes(slot))) {
        problems.push(`unexpected key '${key}'`);
      } else if (!(value instanceof Tensor)) {
        problems.push(`'${key}' is not a Tensor`);
      } else {
        const state = loaded.get(index) ?? { step: -1, buffers: new Map<string, Tensor>() };
        loaded.set(index, state);
        if (slot === 'step') {
          const step = value.size === 1 && value.rank === 0 ? value.data[0]! : Number.NaN;
          if (!Number.isInteger(step) || step < 0) problems.push(`'${key}' must be a scalar count ≥ 0`);
          state.step = step;
        } else if (value.dtype !== param.dtype || !sameShape(value.shape, param.shape)) {
          problems.push(`'${key}': expected ${describe(param)}, got ${describe(value)}`);
        } else {
          state.buffers.set(slot, keep(value.detach()));
        }
      }
    }
    for (const [index, state] of loaded) {
      const absent = this.slots.filter((s) => !state.buffers.has(s));
      if (this.countsSteps && state.step < 0) absent.push('step');
      if (absent.length > 0) problems.push(`parameter ${index} lacks ${absent.join(', ')}`);
    }
    if (problems.length > 0) {
      throw new CheckpointError(`optimizer.loadStateDict: nothing was loaded: ${problems.join('; ')}`);
    }
    this.#state.clear();
    for (const [index, state] of loaded) this.#state.set(this.params[index]!, state);
  }
}

markLibraryCode(codeStart, new Error()); // and where it ends
