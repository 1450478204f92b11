import { checkOverride } from '@tapegrad/gradcheck';
import { it } from 'vitest';
import { leakyCell, leakyCellArgs } from './fixtures/leakyCell.js';

it('leakyCell: the hand-written backward agrees with the tape of its reference and finite differences', () => {
  checkOverride(leakyCell, leakyCellArgs); // throws, naming the smallest failing inputs, if it does not
});
