// The files of check.mjs's throwaway consumer project, by path: what a user of the packed packages
// writes, in each module format and TypeScript setting that docs/packaging.md says works.

// One exercise for ESM and CommonJS alike: a grad checked against its formula, one SGD step that must
// lower the loss, a gradcheck, an LSTM forward and the kernels subpath.
const exercise = `
  const x = core.tensor([0.5, -1, 2], { dtype: 'float64', requiresGrad: true });
  core.sum(core.mul(x, x)).backward();
  assert.deepEqual([...x.grad.data], [1, -2, 4]); // d/dx sum(x²) = 2x
  const rng = new core.RandomState(0);
  const layer = new nn.Linear(3, 1, { rng });
  const inputs = rng.uniform(-1, 1, [8, 3], { dtype: 'float32' });
  const targets = rng.uniform(-1, 1, [8, 1], { dtype: 'float32' });
  const optimizer = new nn.SGD(layer.parameters(), { lr: 0.1 });
  const before = nn.mse(layer.forward(inputs), targets);
  optimizer.zeroGrad();
  before.backward();
  optimizer.step();
  const after = core.noGrad(() => nn.mse(layer.forward(inputs), targets)).item();
  assert.ok(after < before.item(), \`one SGD step: loss \${before.item()} -> \${after}\`);
  gradcheck.assertGradcheck((a) => core.tanh(a), [core.tensor([0.3, -0.7], { dtype: 'float64' })]);
  const { output } = new nn.LSTM(2, 3, { rng }).forward(core.zeros([4, 1, 2]));
  assert.deepEqual(output.shape, [4, 1, 3]);
  assert.equal(typeof kernels.gemm, 'function');
`;

// TypeScript that uses each package's types; the same file serves every ESM setting.
const typed = `import { grad, sum, type Tensor, tanh, tensor } from '@tapegrad/core';
import { gemm } from '@tapegrad/core/kernels';
import { assertGradcheck } from '@tapegrad/gradcheck';
import { Linear, mse, SGD } from '@tapegrad/nn';

const x: Tensor = tensor([0.5, -1, 2], { dtype: 'float64' });
const dx: Tensor = grad((v: Tensor) => sum(tanh(v)))(x);
const layer = new Linear(3, 1);
const loss: Tensor = mse(layer.forward(tensor([[1, 2, 3]])), tensor([[1]]));
new SGD(layer.parameters(), { lr: 0.1 }).zeroGrad();
loss.backward();
assertGradcheck((a: Tensor) => tanh(a), [x]);
const c = new Float32Array(1);
gemm({ a: new Float32Array([2]), b: new Float32Array([3]), c, m: 1, n: 1, k: 1 });
if (dx.shape[0] !== 3 || c[0] !== 6 || layer.weight.grad === null) throw new Error('typed use misbehaves');
`;

const tsconfig = (compilerOptions) =>
  `${JSON.stringify(
    {
      compilerOptions: {
        strict: true,
        target: 'ES2022',
        // DOM for console only: no @types/node, so the packages' types must not need Node's.
        lib: ['ES2022', 'DOM'],
        types: [],
        rootDir: 'src',
        outDir: 'out',
        ...compilerOptions,
      },
      include: ['src'],
    },
    null,
    2,
  )}\n`;

/** readmes: each package's README text, from its tarball; their ```ts blocks run as they are. */
export function files(readmes) {
  const out = {
    'esm.mjs': `import assert from 'node:assert/strict';
import * as core from '@tapegrad/core';
import * as kernels from '@tapegrad/core/kernels';
import * as gradcheck from '@tapegrad/gradcheck';
import * as nn from '@tapegrad/nn';
${exercise}`,
    'cjs.cjs': `const assert = require('node:assert/strict');
const core = require('@tapegrad/core');
const kernels = require('@tapegrad/core/kernels');
const gradcheck = require('@tapegrad/gradcheck');
const nn = require('@tapegrad/nn');
${exercise}`,
    // The app that got two Tensor classes from a dual build: CommonJS and ESM files in one program,
    // tensors made on one side passed to nn loaded on the other.
    'mixed/model.cjs': `const { RandomState } = require('@tapegrad/core');
const nn = require('@tapegrad/nn');
module.exports = { layer: new nn.Linear(2, 3, { rng: new RandomState(0) }) };
`,
    'mixed/main.mjs': `import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as core from '@tapegrad/core';
import model from './model.cjs';

const y = model.layer.forward(core.tensor([[1, 2]])); // an imported core's tensor into a required nn
assert.ok(y instanceof core.Tensor);
core.sum(y).backward();
assert.ok(model.layer.weight.grad instanceof core.Tensor);
assert.equal(createRequire(import.meta.url)('@tapegrad/core'), core, 'require and import give one core');
`,
    'mixed/make.mjs': `import { tensor } from '@tapegrad/core';
export const input = () => tensor([[1, 2]]);
`,
    'mixed/main.cjs': `const assert = require('node:assert/strict');
const core = require('@tapegrad/core');
const nn = require('@tapegrad/nn');
const { input } = require('./make.mjs');

const y = new nn.Linear(2, 3).forward(input()); // an ES module's tensor into a required nn
assert.ok(y instanceof core.Tensor);
`,
    'ts-esm-node16/package.json': '{ "type": "module" }\n',
    'ts-esm-node16/tsconfig.json': tsconfig({ module: 'node16', moduleResolution: 'node16' }),
    'ts-esm-node16/src/typed.ts': typed,
    'ts-esm-bundler/tsconfig.json': tsconfig({ module: 'esnext', moduleResolution: 'bundler', noEmit: true }),
    'ts-esm-bundler/src/typed.ts': typed,
  };
  for (const [name, text] of Object.entries(readmes)) {
    const blocks = [...text.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
    if (!blocks.length) throw new Error(`@tapegrad/${name}: README has no \`\`\`ts example`);
    blocks.forEach((block, i) => {
      out[`ts-esm-node16/src/readme-${name}-${i + 1}.ts`] = block;
    });
  }
  // A CommonJS TypeScript project: its imports compile to require() of the ES modules.
  for (const module of ['node16', 'node20', 'nodenext']) {
    out[`ts-cjs-${module}/package.json`] = '{ "type": "commonjs" }\n';
    out[`ts-cjs-${module}/tsconfig.json`] = tsconfig({ module }); // moduleResolution: the one each module setting implies;
    out[`ts-cjs-${module}/src/index.ts`] = typed;
  }
  return out;
}
