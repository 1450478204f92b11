// Initialisation: bounds and draw order equal numpy's RandomState streams, so a seed fixes the weights.
import { RandomState } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import { GRU, Linear, LSTM, LSTMCell, manualSeed, RNN } from '../src/index.js';
import { expectClose, fixture } from './assertClose.js';

const { init } = fixture<{ init: { lstm_seed11: Record<string, number[]> } }>('nn_layers.json');

describe('init', () => {
  it('LSTM parameters are uniform(±1/√H) in PyTorch registration order (numpy RandomState(11))', () => {
    const lstm = new LSTM(3, 2, { numLayers: 2, rng: new RandomState(11), dtype: 'float64' });
    const state = lstm.stateDict();
    expect(Object.keys(state)).toEqual(Object.keys(init.lstm_seed11));
    for (const [name, values] of Object.entries(init.lstm_seed11))
      expectClose(state[name]!, values, { atol: 0, rtol: 0 });
  });

  it('a seed gives the same weights every time; float32 rounds the same draws', () => {
    const make = (dtype?: 'float64') => new GRU(4, 3, { numLayers: 2, rng: new RandomState(5), dtype });
    const [a, b] = [make().stateDict(), make().stateDict()];
    const wide = make('float64').stateDict();
    for (const name of Object.keys(a)) {
      expect(a[name]!.dtype).toBe('float32');
      expect(Array.from(a[name]!.data)).toEqual(Array.from(b[name]!.data));
      expect(Array.from(a[name]!.data)).toEqual(Array.from(Float32Array.from(wide[name]!.data)));
      expect(Math.max(...Array.from(wide[name]!.data, Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(3));
    }
  });

  it('modules without an rng draw from the shared stream that manualSeed resets', () => {
    manualSeed(42);
    const first = [new RNN(2, 3).stateDict().weight_ih_l0!, new LSTMCell(2, 3).stateDict().weight_ih!];
    manualSeed(42);
    const again = [new RNN(2, 3).stateDict().weight_ih_l0!, new LSTMCell(2, 3).stateDict().weight_ih!];
    expect(Array.from(again[0]!.data)).toEqual(Array.from(first[0]!.data));
    expect(Array.from(again[1]!.data)).toEqual(Array.from(first[1]!.data));
    // Two modules in a row get different weights: the stream moves on.
    expect(Array.from(first[1]!.data.slice(0, 6))).not.toEqual(Array.from(first[0]!.data));
  });

  it('Linear: bound 1/√in for weight and bias, as torch (Glorot √(6 / (in + out)) with init glorot)', () => {
    const layer = new Linear(30, 20, { rng: new RandomState(1), dtype: 'float64' });
    const bound = 1 / Math.sqrt(30);
    for (const values of [Array.from(layer.weight.data), Array.from(layer.bias!.data)]) {
      expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...values.map(Math.abs))).toBeGreaterThan(0.8 * bound);
    }
    const glorot = new Linear(30, 20, { rng: new RandomState(1), dtype: 'float64', init: 'glorot' });
    const values = Array.from(glorot.weight.data);
    expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 50));
    expect(Math.max(...values.map(Math.abs))).toBeGreaterThan(0.95 * Math.sqrt(6 / 50));
  });
});
