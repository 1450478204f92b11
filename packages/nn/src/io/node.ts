// Node file helpers for safetensors checkpoints: an atomic save (temp file, fsync, rename) and a load.
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import type { Module, StateDict } from '../module.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';

/**
 * Writes a checkpoint so that `path` holds either the old file or the whole new one, never a torn
 * write: the bytes go to a temp file beside it, are flushed to disk, then renamed over it.
 */
export async function save(
  path: string,
  source: Module | StateDict,
  metadata: Record<string, string> = {},
): Promise<void> {
  const bytes = saveSafetensors(source, metadata);
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const file = await open(temp, 'wx');
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Reads and checks a checkpoint: name → Tensor (load it into a module with loadStateDict). */
export async function load(path: string): Promise<StateDict> {
  return loadSafetensors(await readFile(path));
}
