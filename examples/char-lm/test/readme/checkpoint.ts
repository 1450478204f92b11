import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RandomState } from '@tapegrad/core';
import { LSTM, load, save } from '@tapegrad/nn';

const lstm = new LSTM(8, 32, { numLayers: 2, rng: new RandomState(0) });
const path = join(tmpdir(), 'lstm.safetensors');
await save(path, lstm, { note: 'any string metadata' }); // atomic: temp file, fsync, rename
const restored = new LSTM(8, 32, { numLayers: 2 });
restored.loadStateDict(await load(path)); // every name, shape and dtype is checked before anything changes
console.log(Object.keys(restored.stateDict())); // torch.nn.LSTM's names: weight_ih_l0, weight_hh_l0, ...
