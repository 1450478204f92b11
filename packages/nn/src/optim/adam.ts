// Adam (Kingma & Ba) with PyTorch's defaults and its exact update rule, bias correction included;
// each parameter's update is one fused loop (adamUpdate) that writes the new value and both moments.
import { customOp, Tensor } from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { allocate, markLibraryCode } from '@tapegrad/core/kernels';
import type { Parameter } from '../module.js';
import { Optimizer, type ParamState, type ParamUpdate } from './optimizer.js';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  /** L2 penalty added to the grad (Adam's, not AdamW's decoupled decay). */
  weightDecay?: number;
}

/**
 * (param, grad, [lr, β₁, β₂, ε, λ, step] float64, expAvg, expAvgSq) → [param', expAvg', expAvgSq'],
 * moments absent on the first step (zeros). An op so that anomaly mode checks it like any other.
 */
const adamUpdate = customOp<null>({
  name: 'adamUpdate',
  // g += λp; m = lerp(m, g, 1-β₁); v = β₂v + (1-β₂)g²; p -= lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε)
  forward([param, grad, hyper, expAvg, expAvgSq]) {
    const [lr, beta1, beta2, eps, weightDecay, step] = hyper!.data as unknown as number[];
    const size = param!.size;
    const value = allocate(param!.dtype, size);
    const newM = allocate(param!.dtype, size);
    const newV = allocate(param!.dtype, size);
    kernels.adamStep({
      param: param!.data,
      grad: grad!.data,
      m: expAvg?.data,
      v: expAvgSq?.data,
      value,
      newM,
      newV,
      hyper: { lr: lr!, beta1: beta1!, beta2: beta2!, eps: eps!, weightDecay: weightDecay!, step: step! },
    });
    const shape = param!.shape;
    return { outputs: [value, newM, newV].map((data) => new Tensor(data, shape)), residuals: null };
  },
  // Never differentiated: an optimizer steps under noGrad.
  backward: (_grads, _residuals, inputs) => inputs.map(() => null),
});

export class Adam extends Optimizer {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  protected readonly slots = ['exp_avg', 'exp_avg_sq'];
  protected readonly countsSteps = true;

  constructor(params: Iterable<Parameter>, options: AdamOptions = {}) {
    super(params);
    const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0 } = options;
    if (!(lr >= 0)) throw new RangeError(`Adam: lr must be ≥ 0, got ${lr}`);
    if (!(eps >= 0)) throw new RangeError(`Adam: eps must be ≥ 0, got ${eps}`);
    betas.forEach((b, i) => {
      if (!(b >= 0 && b < 1)) throw new RangeError(`Adam: betas[${i}] must be in [0, 1), got ${b}`);
    });
    if (!(weightDecay >= 0)) throw new RangeError(`Adam: weightDecay must be ≥ 0, got ${weightDecay}`);
    this.lr = lr;
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.weightDecay = weightDecay;
  }

  protected update(param: Parameter, grad: Tensor, state: Readonly<ParamState>): ParamUpdate {
    const [beta1, beta2] = this.betas;
    const hyper = new Tensor(
      Float64Array.of(this.lr, beta1, beta2, this.eps, this.weightDecay, state.step),
      [6],
    );
    const moments = ['exp_avg', 'exp_avg_sq'].flatMap((slot) => state.buffers.get(slot) ?? []);
    const [value, expAvg, expAvgSq] = adamUpdate(param, grad, hyper, ...moments) as Tensor[];
    return {
      value: value!,
      buffers: new Map([
        ['exp_avg', expAvg!],
        ['exp_avg_sq', expAvgSq!],
      ]),
    };
  }
}

markLibraryCode(codeStart, new Error()); // and where it ends
