// Adam (Kingma & Ba) with PyTorch's defaults and its exact update rule, bias correction included.
import { add, div, mul, sqrt, sub, type Tensor, zerosLike } from '@tapegrad/core';
import type { Parameter } from '../module.js';
import { Optimizer, type ParamState } from './optimizer.js';

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  /** L2 penalty added to the grad (Adam's, not AdamW's decoupled decay). */
  weightDecay?: number;
}

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

  // m = β₁m + (1-β₁)g; v = β₂v + (1-β₂)g²; p -= lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε)
  protected update(param: Parameter, grad: Tensor, state: ParamState): Tensor {
    const [beta1, beta2] = this.betas;
    const step = ++state.step;
    const g = this.weightDecay !== 0 ? add(grad, mul(param, this.weightDecay)) : grad;
    const expAvg = add(mul(state.buffers.get('exp_avg') ?? zerosLike(param), beta1), mul(g, 1 - beta1));
    const expAvgSq = add(
      mul(state.buffers.get('exp_avg_sq') ?? zerosLike(param), beta2),
      mul(mul(g, g), 1 - beta2),
    );
    state.buffers.set('exp_avg', expAvg);
    state.buffers.set('exp_avg_sq', expAvgSq);
    const stepSize = this.lr / (1 - beta1 ** step);
    const denom = add(div(sqrt(expAvgSq), Math.sqrt(1 - beta2 ** step)), this.eps);
    return sub(param, mul(div(expAvg, denom), stepSize));
  }
}
