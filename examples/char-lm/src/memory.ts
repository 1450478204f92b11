// How much memory a training step (or sampling) needs, estimated from the sizes before anything is
// allocated, so that a run that cannot fit is refused in a second rather than dying mid-training.
import { totalmem } from 'node:os';
import { UsageError } from './errors.js';
import type { ModelConfig } from './model.js';
import { parameterBytes } from './schema.js';

/**
 * What the kernels' wasm memory can hold: wasm32's 4 GiB (the memory's maximum in core's
 * kernels/wasm/module.ts). The estimate below is conservative: at --hidden 256 on lines of 8
 * characters it refuses --batch 30000, while 33000 ran and 36000 could not grow the memory.
 */
export const WASM_LIMIT = 4 * 2 ** 30;
/** crossEntropyOf's batch: the held-out and training losses are measured in groups of this many lines. */
const EVAL_BATCH = 256;
const GiB = 2 ** 30;

export interface Sizes {
  batch: number;
  /** Characters in the longest line (a batch is as long as its longest line, plus one). */
  longest: number;
  model: ModelConfig;
}

/**
 * Bytes one training step needs (float32: model.ts builds every layer in float32), in the wasm
 * memory and in all. With R = B·T rows (T = longest + 1), hidden H, L layers, V characters, E:
 *  wasm: each layer's saved gates 4RH, cells, tanh(cells) and states 3RH (a workspace lent to the
 *    graph), and the grad it passes down RH; the backward's gate grads 4RH and the loss's input grads
 *    and output (scratch) 3RH; logits, their softmax and grads 2RV; one call's weights, packed, 8H² + HV;
 *    the activations and grads of the embedding 2RE; and the evaluation (groups of 256 lines: 7·256·T·H
 *    a layer and 256·T·V), whose workspaces sit beside the training step's.
 *  JS heap: parameters, grads, Adam's two moments and the step's new values of all three (7 floats a
 *    parameter); logits, their rows, softmax and grads 4RV; each layer's output and grads 3RH; 2RE.
 * Measured (the wasm memory's peak over a 1-2 step run and its evaluation, lines of 12 characters,
 * MB) against the estimate: hidden 512 × batch 512: 251 (252); 512 × 2048: 782 (846); 1024 × 1024:
 * 837 (909); 512 × 512 × 3 layers: 466 (551); 256 × 8192: 1390 (1633); 256 × 11800: 2002 (2341);
 * 2,001 characters, 256 × 1024: 382 (454). So the estimate is 0-19% high.
 */
export function trainingBytes({ batch, longest, model }: Sizes): { wasm: number; total: number } {
  const { hidden: H, layers: L, vocabSize: V, embedding: E } = model;
  const T = longest + 1;
  const R = batch * T;
  const Re = EVAL_BATCH * T;
  const wasm =
    4 * (L * 8 * R * H + 7 * R * H + 2 * R * V + 8 * H * H + H * V + 2 * R * E + L * 7 * Re * H + Re * V);
  const js = 7 * parameterBytes(model) + 4 * (4 * R * V + L * 3 * R * H + 2 * R * E);
  return { wasm, total: wasm + js };
}

/** Bytes sampling needs: the parameters, and one step of one line (8H² + HV in wasm memory). */
export function samplingBytes(model: ModelConfig): { wasm: number; total: number } {
  const { hidden: H, vocabSize: V } = model;
  const wasm = 4 * (8 * H * H + 2 * H * V);
  return { wasm, total: wasm + parameterBytes(model) };
}

const gib = (bytes: number): string => `${(bytes / GiB).toFixed(bytes < 10 * GiB ? 1 : 0)} GB`;

/** Refuses `need` beyond the wasm memory or the machine; `what` names the sizes, `lower` the remedy. */
function refuseBeyond(
  need: { wasm: number; total: number },
  what: string,
  purpose: string,
  lower: string,
): void {
  if (need.wasm > WASM_LIMIT) {
    throw new UsageError(
      `${what} would need about ${gib(need.wasm)} ${purpose}; this program can use at most ${gib(WASM_LIMIT)} (wasm memory): ${lower}`,
    );
  }
  const machine = totalmem();
  if (need.total > machine) {
    throw new UsageError(
      `${what} would need about ${gib(need.total)} ${purpose}; this machine has ${gib(machine)}: ${lower}`,
    );
  }
}

const layersText = (layers: number) => (layers === 1 ? '1 layer' : `${layers} layers`);

/** The memory check of a training run's sizes (the model, the batch and the corpus's lines). */
export function checkTrainingMemory(sizes: {
  batch: number;
  lines: readonly string[];
  model: ModelConfig;
}): void {
  const { batch, model } = sizes;
  let longest = 0;
  for (const line of sizes.lines) longest = Math.max(longest, [...line].length);
  const what =
    `--batch ${batch} --hidden ${model.hidden} (${layersText(model.layers)}, ${model.vocabSize} characters, ` +
    `lines up to ${longest} long)`;
  refuseBeyond(
    trainingBytes({ batch, longest, model }),
    what,
    'for one training step',
    'lower --batch or --hidden',
  );
}

/** The memory check of sampling from a model (the sizes in config.json). */
export function checkSamplingMemory(config: { model: ModelConfig }, checkpoint: string): void {
  const { hidden, layers } = config.model;
  refuseBeyond(
    samplingBytes(config.model),
    `${checkpoint} (hidden ${hidden}, ${layersText(layers)})`,
    'to sample',
    'sample from a smaller model',
  );
}
