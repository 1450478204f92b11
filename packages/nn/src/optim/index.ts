// The optimizers: SGD and Adam over Parameters, with state dicts that checkpoints can hold.
export { Adam, type AdamOptions } from './adam.js';
export { Optimizer, type ParamState, type ParamUpdate } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
