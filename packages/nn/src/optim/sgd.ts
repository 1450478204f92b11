// SGD with momentum, dampening, Nesterov and L2 weight decay: PyTorch's torch.optim.SGD rule.
import { add, mul, sub, type Tensor } from '@tapegrad/core';
import type { Parameter } from '../module.js';
import { Optimizer, type ParamState } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class SGD extends Optimizer {
  /** Hyperparameters are plain fields, so a schedule may change them between steps. */
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
  protected readonly slots = ['momentum_buffer'];
  protected readonly countsSteps = false;

  constructor(params: Iterable<Parameter>, options: SGDOptions) {
    super(params);
    const { lr, momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 } = options;
    if (!(lr >= 0)) throw new RangeError(`SGD: lr must be ≥ 0, got ${lr}`);
    if (!(momentum >= 0)) throw new RangeError(`SGD: momentum must be ≥ 0, got ${momentum}`);
    if (!(weightDecay >= 0)) throw new RangeError(`SGD: weightDecay must be ≥ 0, got ${weightDecay}`);
    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      throw new RangeError('SGD: nesterov needs momentum > 0 and dampening 0');
    }
    this.lr = lr;
    this.momentum = momentum;
    this.dampening = dampening;
    this.nesterov = nesterov;
    this.weightDecay = weightDecay;
  }

  // g += λ·p; b = g on the first step, else μ·b + (1 - τ)·g; g = nesterov ? g + μ·b : b; p -= lr·g
  protected update(param: Parameter, grad: Tensor, state: ParamState): Tensor {
    let g = this.weightDecay !== 0 ? add(grad, mul(param, this.weightDecay)) : grad;
    if (this.momentum !== 0) {
      const previous = state.buffers.get('momentum_buffer');
      const buffer = previous ? add(mul(previous, this.momentum), mul(g, 1 - this.dampening)) : g;
      state.buffers.set('momentum_buffer', buffer);
      g = this.nesterov ? add(g, mul(buffer, this.momentum)) : buffer;
    }
    return sub(param, mul(g, this.lr));
  }
}
