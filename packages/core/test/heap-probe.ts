// Child process for gc.test.ts (run with --expose-gc): records 100,000 ops whose results are
// dropped, and prints the live heap after a full gc at op 10,000 and at op 100,000.
// With HEAP_PROBE_LEAK=1 it keeps every result, planting the leak the test must be able to see.
import { mul, tanh, tensor } from '../src/index.js';

const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('heap-probe: run with --expose-gc');

const live = (): number => {
  collect();
  collect();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

const weight = tensor(new Float64Array(64).fill(0.5), { requiresGrad: true });
const input = tensor(new Float64Array(64).fill(0.25));
const kept: unknown[] = [];
const leak = process.env.HEAP_PROBE_LEAK === '1';
let checksum = 0;
let at10k = 0;
// Two recorded ops per iteration: 50,000 iterations are 100,000 ops.
for (let i = 1; i <= 50_000; i++) {
  const out = tanh(mul(input, weight));
  checksum += out.data[0]!;
  if (leak) kept.push(out);
  if (i === 5_000) at10k = live();
}
const at100k = live();
console.log(JSON.stringify({ at10k, at100k, checksum, kept: kept.length }));
