// A saved set of a training run: the checkpoint (safetensors, PyTorch's names), the optimizer's state,
// and config.json (vocabulary, hyper-parameters, progress and the RNG's state) that make it resumable.
// How sets are written and found in a run folder is store.ts; a set in one file (the web page's
// download) is bundle.ts, and is read here wherever a checkpoint is.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CheckpointError, decodeSafetensors, type Safetensors, safetensorsLimits } from '@tapegrad/nn';
import { isOneFileSet, splitSet } from './bundle.js';
import { FILES, type RunConfig } from './config.js';
import { UsageError } from './errors.js';
import { readRegularFile } from './files.js';
import type { CharModel } from './model.js';
import { expectedParameters, parameterBytes, validateConfig } from './schema.js';
import { modelOf } from './session.js';

/** config.json holds a loss per step: about 20 bytes each, 200 MB at the most steps (RANGES.steps). */
const CONFIG_MAX_BYTES = 256 * 2 ** 20;
/** Room for a safetensors header beyond its tensors' bytes (a few KB for 16 layers). */
export const HEADER_MAX_BYTES = 2 ** 20;

/**
 * The metadata of a safetensors file and its header's length, read without its tensors; null when the
 * path is not a regular file or does not start as safetensors does (readSafetensors then says why).
 */
function headerOf(path: string): { metadata: Record<string, string>; headerBytes: number } | null {
  let fd: number;
  try {
    // Non-blocking, and a regular file only: a FIFO would block the open, a device never end.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    if (!fstatSync(fd).isFile()) return null;
    const prefix = Buffer.alloc(8);
    if (readSync(fd, prefix, 0, 8, 0) !== 8) return null;
    const length = prefix.readBigUInt64LE(0);
    if (length > BigInt(safetensorsLimits.headerBytes)) return null;
    const header = Buffer.alloc(Number(length));
    if (readSync(fd, header, 0, header.length, 8) !== header.length) return null;
    const metadata = (JSON.parse(header.toString('utf8')) as { __metadata__?: unknown }).__metadata__;
    if (typeof metadata !== 'object' || metadata === null) return null;
    return { metadata: metadata as Record<string, string>, headerBytes: 8 + header.length };
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** Whether a checkpoint file is a set in one file (config.json and Adam's state inside: bundle.ts). */
export function isOneFile(checkpoint: string): boolean {
  const header = headerOf(checkpoint);
  return header !== null && isOneFileSet(header.metadata);
}

/**
 * config.json of a checkpoint, checked field by field (schema.ts) before anything is built from it:
 * the one in its metadata for a set in one file, else the file beside it.
 */
export function readConfig(checkpoint: string): RunConfig {
  const header = headerOf(checkpoint);
  if (header && isOneFileSet(header.metadata)) {
    const where = `${checkpoint} (config.json in its metadata)`;
    try {
      return validateConfig(JSON.parse(header.metadata.config!), where);
    } catch (error) {
      if (error instanceof SyntaxError) throw new UsageError(`${where}: not valid JSON`);
      throw error;
    }
  }
  const path = join(dirname(checkpoint), FILES.config);
  const bytes = readRegularFile(
    path,
    path,
    CONFIG_MAX_BYTES,
    'missing (it is written beside the checkpoint)',
  );
  let config: unknown;
  try {
    config = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new UsageError(`${path}: not valid JSON`);
  }
  return validateConfig(config, path);
}

/** The tensors and metadata of a safetensors file of at most `maxBytes`; a missing or corrupt file is a UsageError. */
export function readSafetensors(path: string, maxBytes: number): ReturnType<typeof decodeSafetensors> {
  const bytes = readRegularFile(path, path, maxBytes);
  try {
    return decodeSafetensors(bytes);
  } catch (error) {
    if (error instanceof CheckpointError)
      throw new UsageError(`${path}: not a valid checkpoint: ${error.message}`);
    throw new UsageError(`${path}: not a valid checkpoint`);
  }
}

/**
 * The model of a checkpoint and its config (read here unless the caller read it already), with every
 * parameter's name, shape and dtype checked; for a set in one file, also the optimizer state it holds
 * (unchecked: schema.ts's checkOptimizerState is the caller's).
 */
export function loadModel(
  checkpoint: string,
  config: RunConfig = readConfig(checkpoint),
): { model: CharModel; config: RunConfig; step: number; optimizerState?: Safetensors } {
  const header = headerOf(checkpoint);
  if (header && isOneFileSet(header.metadata)) {
    // The weights, Adam's two moments of each (3 × the parameters) and a float64 step count for each.
    const tensorBytes = 3 * parameterBytes(config.model) + 8 * expectedParameters(config.model).length;
    const set = splitSet(readSafetensors(checkpoint, header.headerBytes + tensorBytes));
    const model = modelOf(checkpoint, set.checkpoint, config);
    return { model, config, step: config.progress.step, optimizerState: set.optimizer };
  }
  const file = readSafetensors(checkpoint, parameterBytes(config.model) + HEADER_MAX_BYTES);
  return { model: modelOf(checkpoint, file, config), config, step: config.progress.step };
}
