// After `pnpm build`: each package's built entry loads and works, by import and by require() (the
// packages are ESM-only: Node >= 20.19 requires an ES module as it is, docs/packaging.md), outside the
// `source` condition that tests use, so a build that only typechecks cannot pass CI.
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const root = new URL('../packages/', import.meta.url);
for (const [name, file] of [
  ['core', 'index'],
  ['core/kernels', 'kernels'],
  ['nn', 'index'],
  ['gradcheck', 'index'],
]) {
  const entry = new URL(`${name.split('/')[0]}/dist/${file}.js`, root).pathname;
  // require() of an ES module gives its namespace object, the one import() gives: one instance.
  if ((await import(entry)) !== require(entry) || Object.keys(require(entry)).length === 0) {
    throw new Error(`@tapegrad/${name}: require() and import give different modules`);
  }
}
// The subpath shares the root's module state (one Tensor class, one pool, one tape): tsup splits both
// into a common chunk, so a subpath hook accepts a root tensor, whichever way each was loaded.
for (const way of ['import', 'require']) {
  const load = (file) => (way === 'require' ? require(file) : import(file));
  const rootEntry = await load(new URL('core/dist/index.js', root).pathname);
  const subpath = await load(new URL('core/dist/kernels.js', root).pathname);
  const leaf = rootEntry.tensor([1, 2]);
  subpath.replaceLeafData(leaf, rootEntry.tensor([3, 4]));
  if (leaf.data.join() !== '3,4' || 'kernels' in rootEntry || 'allocate' in rootEntry)
    throw new Error(`@tapegrad/core/kernels (${way}): not wired to the root entry`);
}
const core = require(new URL('core/dist/index.js', root).pathname);
const nn = require(new URL('nn/dist/index.js', root).pathname);
const x = core.tensor([[1, 2]], { requiresGrad: true });
core.sum(core.tanh(x)).backward();
const lstm = new nn.LSTM(2, 3);
const { output } = lstm.forward(core.tensor(new Float32Array(2 * 1 * 2), { shape: [2, 1, 2] }));
if (x.grad?.shape.join() !== '1,2' || output.shape.join() !== '2,1,3')
  throw new Error('built packages misbehave');
// Checkpoints through Node's file system, which the built nn reaches at call time (no node: import).
const dir = await mkdtemp(join(tmpdir(), 'tapegrad-smoke-'));
{
  const path = join(dir, 'lstm.safetensors');
  const model = new nn.LSTM(2, 3);
  await nn.save(path, model);
  const copy = new nn.LSTM(2, 3);
  copy.loadStateDict(await nn.load(path));
  if (copy.stateDict().weight_ih_l0?.data.join() !== model.stateDict().weight_ih_l0?.data.join())
    throw new Error('built save / load lose weights');
}
await rm(dir, { recursive: true });
// The wasm kernels' worker thread from the built code (its program is a string in the bundle): a
// product big enough to split gives the one-thread answer, and the process still exits (unref'd).
{
  const kernels = await import(new URL('core/dist/kernels.js', root).pathname);
  const [m, n, k] = [256, 256, 64];
  const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
  const product = () => {
    const c = new Float32Array(m * n);
    kernels.gemm({ a, b, c, m, n, k });
    return c.join();
  };
  kernels.setThreads(1);
  const one = product();
  kernels.setThreads(2);
  await kernels.threadsReady();
  if (product() !== one) throw new Error('the built kernels differ on two threads');
}
console.log(
  'built packages and core/kernels load by import and require() and run, checkpoints and threads included',
);
