// The JS backend: the plain loops of kernels/, any dtype. The reference every other backend is held to.
import { gemmJs } from '../kernels/matmul.js';
import {
  gruGatesBackward,
  gruGatesForward,
  gruSequenceBackward,
  gruSequenceForward,
  lstmGatesBackward,
  lstmGatesForward,
  lstmSequenceBackward,
  lstmSequenceForward,
  rnnGatesBackward,
  rnnGatesForward,
  rnnSequenceBackward,
  rnnSequenceForward,
} from '../kernels/recurrent.js';
import { sumRowsJs } from '../kernels/reduce.js';
import { adamStep, sgdStep, softmaxCrossEntropy, softmaxCrossEntropyBackward } from '../kernels/training.js';
import type { Backend } from './backend.js';

export const jsBackend: Backend = {
  name: 'js',
  gemm: (args) => gemmJs(args.a, args.b, args.c, args),
  rnnGatesForward,
  rnnGatesBackward,
  lstmGatesForward,
  lstmGatesBackward,
  gruGatesForward,
  gruGatesBackward,
  rnnSequenceForward,
  rnnSequenceBackward,
  lstmSequenceForward,
  lstmSequenceBackward,
  gruSequenceForward,
  gruSequenceBackward,
  softmaxCrossEntropy,
  softmaxCrossEntropyBackward,
  sumRows: sumRowsJs,
  adamStep,
  sgdStep,
};
