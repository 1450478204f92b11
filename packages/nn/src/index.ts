export { gruCell, gruCellOp, gruCellReference } from './cells/gru.js';
export { lstmCell, lstmCellOp, lstmCellReference } from './cells/lstm.js';
export {
  type RnnCellOptions,
  type RnnNonlinearity,
  rnnCell,
  rnnCellReference,
  rnnReluCell,
  rnnTanhCell,
} from './cells/rnn.js';
export * as stepByStep from './stepByStep.js';
