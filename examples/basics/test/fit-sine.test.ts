import { describe, expect, it } from 'vitest';
import { fitSine } from '../fit-sine.js';

describe('examples/basics fit-sine', () => {
  it('drives the mean squared error of a sine fit down by two orders of magnitude', () => {
    const { initialLoss, finalLoss } = fitSine(3000, 16, 0.05, 0);
    expect(finalLoss).toBeLessThan(initialLoss / 100);
    expect(finalLoss).toBeLessThan(1e-2);
  });
});
