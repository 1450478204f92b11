// Node file helpers for safetensors checkpoints: an atomic save (temp file, fsync, rename) and a load.
// Node's modules are fetched when called (process.getBuiltinModule), not imported, so that nn's entry
// imports nothing from node: and bundles for a browser, where these two throw and the bytes of
// saveSafetensors / loadSafetensors are the way.
import type { Module, StateDict } from '../module.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';

// Node's own declarations, as types only: nothing of node: is loaded until save or load runs.
type Fs = typeof import('node:fs/promises');
type Crypto = typeof import('node:crypto');

/** Node's file system, or a clear error where there is none (a browser). */
function nodeIo(op: string): { fs: Fs; randomBytes: Crypto['randomBytes']; pid: number } {
  const process = (globalThis as { process?: { pid: number; getBuiltinModule?: (name: string) => unknown } })
    .process;
  const builtin = process?.getBuiltinModule;
  if (!process || !builtin) {
    throw new Error(
      `${op}: needs Node's file system (Node ≥ 20.16); elsewhere use saveSafetensors / loadSafetensors with the bytes`,
    );
  }
  return {
    fs: builtin('node:fs/promises') as Fs,
    randomBytes: (builtin('node:crypto') as Crypto).randomBytes,
    pid: process.pid,
  };
}

/**
 * Writes a checkpoint so that `path` holds either the old file or the whole new one, never a torn
 * write: the bytes go to a temp file beside it, are flushed to disk, then renamed over it.
 */
export async function save(
  path: string,
  source: Module | StateDict,
  metadata: Record<string, string> = {},
): Promise<void> {
  const { fs, randomBytes, pid } = nodeIo('save');
  const bytes = saveSafetensors(source, metadata);
  const temp = `${path}.${pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const file = await fs.open(temp, 'wx');
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await fs.rename(temp, path);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

/** Reads and checks a checkpoint: name → Tensor (load it into a module with loadStateDict). */
export async function load(path: string): Promise<StateDict> {
  const { fs } = nodeIo('load');
  return loadSafetensors(await fs.readFile(path));
}
