// After `pnpm build`: each package's built ESM and CJS entry loads and works, outside the `source`
// condition that tests use, so a build that only typechecks cannot pass CI.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = new URL('../packages/', import.meta.url);
for (const name of ['core', 'nn', 'gradcheck']) {
  const entry = new URL(`${name}/dist/index`, root).pathname;
  const esm = await import(`${entry}.js`);
  const cjs = require(`${entry}.cjs`);
  const exportsOf = (m) => Object.keys(m).sort().join(',');
  if (exportsOf(esm) !== exportsOf(cjs) || Object.keys(esm).length === 0) {
    throw new Error(`@tapegrad/${name}: ESM and CJS builds export different names`);
  }
}
const core = require(new URL('core/dist/index.cjs', root).pathname);
const nn = require(new URL('nn/dist/index.cjs', root).pathname);
const x = core.tensor([[1, 2]], { requiresGrad: true });
core.sum(core.tanh(x)).backward();
const lstm = new nn.LSTM(2, 3);
const { output } = lstm.forward(core.tensor(new Float32Array(2 * 1 * 2), { shape: [2, 1, 2] }));
if (x.grad?.shape.join() !== '1,2' || output.shape.join() !== '2,1,3')
  throw new Error('built packages misbehave');
console.log('built packages load as ESM and CJS and run');
