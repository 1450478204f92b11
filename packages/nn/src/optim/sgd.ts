// SGD with momentum, dampening, Nesterov and L2 weight decay: PyTorch's torch.optim.SGD rule;
// each parameter's update is one fused loop (sgdUpdate) that writes the new value and momentum buffer.
import { customOp, Tensor } from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import { allocate, markLibraryCode } from '@tapegrad/core/kernels';
import type { Parameter } from '../module.js';
import { Optimizer, type ParamState, type ParamUpdate } from './optimizer.js';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/**
 * (param, grad, [lr, μ, τ, nesterov 0|1, λ] float64, momentumBuffer) → [param', momentumBuffer'] (the
 * buffer absent on the first step), or → param' alone without momentum. An op so that anomaly mode checks it.
 */
const sgdUpdate = customOp<null>({
  name: 'sgdUpdate',
  // g += λp; b = g on the first step, else μb + (1-τ)g; g = nesterov ? g + μb : b; p -= lr·g
  forward([param, grad, hyper, previous]) {
    const [lr, momentum, dampening, nesterov, weightDecay] = hyper!.data as unknown as number[];
    const size = param!.size;
    const value = allocate(param!.dtype, size);
    const newB = momentum !== 0 ? allocate(param!.dtype, size) : null;
    kernels.sgdStep({
      param: param!.data,
      grad: grad!.data,
      momentumBuffer: previous?.data,
      value,
      newMomentumBuffer: newB,
      hyper: {
        lr: lr!,
        momentum: momentum!,
        dampening: dampening!,
        nesterov: nesterov !== 0,
        weightDecay: weightDecay!,
      },
    });
    const shape = param!.shape;
    const outputs = newB ? [new Tensor(value, shape), new Tensor(newB, shape)] : new Tensor(value, shape);
    return { outputs, residuals: null };
  },
  // Never differentiated: an optimizer steps under noGrad.
  backward: (_grads, _residuals, inputs) => inputs.map(() => null),
});

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

  protected update(param: Parameter, grad: Tensor, state: Readonly<ParamState>): ParamUpdate {
    const { lr, momentum, dampening, nesterov, weightDecay } = this;
    const hyper = new Tensor(Float64Array.of(lr, momentum, dampening, nesterov ? 1 : 0, weightDecay), [5]);
    if (momentum === 0) return { value: sgdUpdate(param, grad, hyper) as Tensor, buffers: state.buffers };
    const previous = state.buffers.get('momentum_buffer');
    const [value, buffer] = sgdUpdate(param, grad, hyper, ...(previous ? [previous] : [])) as Tensor[];
    return { value: value!, buffers: new Map([['momentum_buffer', buffer!]]) };
  }
}

markLibraryCode(codeStart, new Error()); // and where it ends
