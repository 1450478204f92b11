// The op registry: every differentiable core op, by name. gradcheck's spec table is typed
// against OpName, so an op added here without a gradient spec is a compile error there.
import {
  abs,
  add,
  astype,
  clip,
  div,
  exp,
  log,
  maximum,
  minimum,
  mul,
  neg,
  pow,
  relu,
  sigmoid,
  sqrt,
  sub,
  tanh,
  where,
} from './elementwise.js';
import { matmul } from './matmul.js';
import { logSoftmax, logSumExp, max, mean, min, softmax, sum } from './reduce.js';

export const ops = {
  add,
  sub,
  mul,
  div,
  neg,
  exp,
  log,
  sqrt,
  pow,
  tanh,
  sigmoid,
  relu,
  abs,
  maximum,
  minimum,
  clip,
  where,
  astype,
  matmul,
  sum,
  mean,
  max,
  min,
  logSumExp,
  softmax,
  logSoftmax,
} as const;

export type OpName = keyof typeof ops;
