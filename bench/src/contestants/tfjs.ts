// TensorFlow.js 4.22 on its cpu (plain JS) or wasm (XNNPACK, SIMD) backend, written as a tfjs user
// would: functional ops, tf.valueAndGrads over the parameters, tf.tidy so nothing leaks.
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { type Contestant, type Runner, summarize } from '../contestant.js';
import { type ParamName, type Problem, paramNames } from '../workloads.js';

type Backend = 'cpu' | 'wasm';

let wasmPathsSet = false;
/** What the wasm backend found it could use, for the legend. */
let wasmFeatures = '';

async function useBackend(backend: Backend): Promise<void> {
  if (backend === 'wasm' && !wasmPathsSet) {
    // The .wasm files ship inside the package; point the loader at them instead of a CDN.
    const wasmFile = createRequire(import.meta.url).resolve(
      '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm',
    );
    setWasmPaths(`${path.dirname(wasmFile)}/`);
    wasmPathsSet = true;
  }
  // PROD silences the "install tfjs-node" banner; tfjs-node is native and not what is measured here.
  tf.env().set('PROD', true);
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs: backend ${backend} failed to initialise`);
  await tf.ready();
  if (backend === 'wasm') {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    wasmFeatures = ` (${simd ? 'SIMD' : 'no SIMD'}, ${threads ? 'multithreaded' : 'one thread'})`;
  }
}

type Cell = (x: tf.Tensor2D, state: tf.Tensor2D[], p: tf.Tensor[]) => tf.Tensor2D[];

// p = [weightIh, weightHh, biasIh, biasHh]; PyTorch's gate order and layout, W stored [G·H, in].
const cells: Record<Problem['workload']['cell'], Cell> = {
  rnn: (x, [h], [wIh, wHh, bIh, bHh]) => [
    tf.tanh(
      tf.add(tf.add(tf.matMul(x, wIh!, false, true), tf.matMul(h!, wHh!, false, true)), tf.add(bIh!, bHh!)),
    ) as tf.Tensor2D,
  ],
  lstm: (x, [h, c], [wIh, wHh, bIh, bHh]) => {
    const gates = tf.add(
      tf.add(tf.matMul(x, wIh!, false, true), tf.matMul(h!, wHh!, false, true)),
      tf.add(bIh!, bHh!),
    );
    const [i, f, g, o] = tf.split(gates, 4, 1);
    const cNext = tf.add(tf.mul(tf.sigmoid(f!), c!), tf.mul(tf.sigmoid(i!), tf.tanh(g!))) as tf.Tensor2D;
    return [tf.mul(tf.sigmoid(o!), tf.tanh(cNext)) as tf.Tensor2D, cNext];
  },
  gru: (x, [h], [wIh, wHh, bIh, bHh]) => {
    const [xr, xz, xn] = tf.split(tf.add(tf.matMul(x, wIh!, false, true), bIh!), 3, 1);
    const [hr, hz, hn] = tf.split(tf.add(tf.matMul(h!, wHh!, false, true), bHh!), 3, 1);
    const r = tf.sigmoid(tf.add(xr!, hr!));
    const z = tf.sigmoid(tf.add(xz!, hz!));
    const n = tf.tanh(tf.add(xn!, tf.mul(r, hn!)));
    // h' = (1 - z)·n + z·h = n + z·(h - n)
    return [tf.add(n, tf.mul(z, tf.sub(h!, n))) as tf.Tensor2D];
  },
};

function tfjs(backend: Backend): Contestant {
  return {
    name: `tfjs-${backend}`,
    describe: () =>
      `TensorFlow.js ${tf.version_core}, ${backend} backend${backend === 'wasm' ? wasmFeatures : ''}`,
    async create(problem: Problem): Promise<Runner> {
      await useBackend(backend);
      const { steps: T, batch: B, input: I, hidden: H, output: O, cell } = problem.workload;
      const params = paramNames.map((name) =>
        tf.tensor(problem.params[name].data, problem.params[name].shape),
      );
      const xs = tf.tidy(() => tf.unstack(tf.tensor3d(problem.inputs, [T, B, I])) as tf.Tensor2D[]);
      const labels = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(problem.targets, 'int32'), O), 'float32'));
      const step = cells[cell];

      const loss = (...p: tf.Tensor[]): tf.Scalar => {
        let state: tf.Tensor2D[] =
          cell === 'lstm' ? [tf.zeros([B, H]), tf.zeros([B, H])] : [tf.zeros([B, H])];
        const hs: tf.Tensor2D[] = [];
        for (let t = 0; t < T; t++) {
          state = step(xs[t]!, state, p);
          hs.push(state[0]!);
        }
        const logits = tf.add(tf.matMul(tf.concat(hs, 0), p[4]!, false, true), p[5]!);
        return tf.losses.softmaxCrossEntropy(labels, logits, undefined, 0, tf.Reduction.SUM) as tf.Scalar;
      };
      const valueAndGrads = tf.valueAndGrads(loss);
      const iterate = () => tf.tidy(() => valueAndGrads(params));

      const checkBackend = () => {
        if (tf.getBackend() !== backend)
          throw new Error(`tfjs-${backend}: the active backend is ${tf.getBackend()}`);
      };
      return {
        step() {
          checkBackend();
          const { value, grads } = iterate();
          const lossValue = value.dataSync()[0]!;
          tf.dispose([value, ...grads]);
          return lossValue;
        },
        async check() {
          await tf.setBackend(backend);
          const { value, grads } = iterate();
          const byName = Object.fromEntries(paramNames.map((name, i) => [name, grads[i]!.dataSync()]));
          const result = summarize(value.dataSync()[0]!, byName as Record<ParamName, Float32Array>);
          tf.dispose([value, ...grads]);
          return result;
        },
        dispose() {
          tf.dispose([...params, ...xs, labels]);
        },
      };
    },
  };
}

export const tfjsCpu = tfjs('cpu');
export const tfjsWasm = tfjs('wasm');
