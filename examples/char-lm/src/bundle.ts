// A saved set in one file, as the web page downloads it: the model's tensors under their PyTorch names,
// Adam's state under `optimizer.`, and config.json in the safetensors metadata. The command line reads
// it wherever it reads a checkpoint (`--checkpoint`, `--resume`), as it reads a step folder's three files.
import type { Adam, Module, Safetensors } from '@tapegrad/nn';
import { saveSafetensors } from '@tapegrad/nn';
import { FORMAT, type RunConfig } from './config.js';

/** Names of Adam's tensors in a one-file set; no model parameter's name starts so. */
const OPTIMIZER = 'optimizer.';
/** The metadata key that holds config.json's text. */
const CONFIG = 'config';

/** The bytes of a one-file set. */
export function encodeSet(model: Module, optimizer: Adam, config: RunConfig): Uint8Array {
  const tensors = { ...model.stateDict() };
  for (const [name, value] of Object.entries(optimizer.stateDict())) tensors[`${OPTIMIZER}${name}`] = value;
  const metadata = { format: FORMAT, step: String(config.progress.step), [CONFIG]: JSON.stringify(config) };
  return saveSafetensors(tensors, metadata);
}

/** Whether a file's metadata carries config.json, which makes it a one-file set. */
export const isOneFileSet = (metadata: Record<string, string>): boolean =>
  typeof metadata[CONFIG] === 'string';

/**
 * A one-file set as a step folder's three parts: config.json's text, and the checkpoint and optimizer
 * state (each with the file's format and step), to be checked as the files of a step folder are.
 */
export function splitSet(file: Safetensors): {
  config: string;
  checkpoint: Safetensors;
  optimizer: Safetensors;
} {
  const { format, step } = file.metadata;
  const metadata: Record<string, string> = {};
  if (format !== undefined) metadata.format = format;
  if (step !== undefined) metadata.step = step;
  const model: Safetensors['tensors'] = {};
  const adam: Safetensors['tensors'] = {};
  for (const [name, value] of Object.entries(file.tensors)) {
    if (name.startsWith(OPTIMIZER)) adam[name.slice(OPTIMIZER.length)] = value;
    else model[name] = value;
  }
  return {
    config: file.metadata[CONFIG] ?? '',
    checkpoint: { tensors: model, metadata },
    optimizer: { tensors: adam, metadata: { ...metadata } },
  };
}
