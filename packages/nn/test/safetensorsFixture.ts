// The checkpoint that scripts/fixtures/safetensors.py reads back with its own reader (it runs this
// file through tsx): an LSTM and a float64 Linear from fixed seeds, saved by saveSafetensors.
// Usage: npx tsx --conditions=source packages/nn/test/safetensorsFixture.ts <out.safetensors>
import { writeFileSync } from 'node:fs';
import { RandomState } from '@tapegrad/core';
import { Linear, LSTM, saveSafetensors } from '../src/index.js';

export function fixtureCheckpoint(): Uint8Array {
  const lstm = new LSTM(3, 2, { rng: new RandomState(0) });
  const head = new Linear(2, 4, { rng: new RandomState(1), dtype: 'float64' });
  const state = { ...lstm.stateDict() };
  for (const [name, t] of Object.entries(head.stateDict())) state[`head.${name}`] = t;
  return saveSafetensors(state, { format: 'pt', source: 'tapegrad' });
}

// Only when run as a script (the test imports fixtureCheckpoint).
const out = import.meta.url === `file://${process.argv[1]}` ? process.argv[2] : undefined;
if (out) writeFileSync(out, fixtureCheckpoint());
