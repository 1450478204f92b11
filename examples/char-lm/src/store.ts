// A run folder on disk: each save is a complete set (checkpoint, optimizer state, config.json) in its
// own step folder, written under a temporary name, flushed, then renamed into place, so a kill at any
// instant leaves the previous set whole. The newest step folder is the run's current checkpoint.
import { readdirSync, rmSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Adam, type Module, save, writeFileAtomic } from '@tapegrad/nn';
import { FILES, FORMAT, type RunConfig, stepFolder } from './config.js';
import { SaveError, UsageError } from './errors.js';

/** How many complete sets a run keeps: the newest, and the one before in case the newest is damaged. */
const KEEP = 2;

const STEP = /^step-(\d{8,})$/;
/**
 * What a killed save leaves: a set being written (`.step-N.PID.tmp`) or a file nn's atomic writer had
 * not yet renamed (`NAME.PID.HEX.tmp`). Never read as a checkpoint.
 */
const TEMP = /^(\..+\.\d+|.+\.\d+\.[0-9a-f]{8})\.tmp$/;

/** The complete sets in a run folder, oldest first. */
export function stepsIn(dir: string): { step: number; path: string }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => ({ match: STEP.exec(name), name }))
    .filter(({ match }) => match !== null)
    .map(({ match, name }) => ({ step: Number(match![1]), path: join(dir, name) }))
    .sort((a, b) => a.step - b.step);
}

/**
 * The checkpoint file a user's path means: a run folder (its newest set), a step folder, or a
 * checkpoint.safetensors itself (also a run written before step folders, its files side by side).
 */
export function resolveCheckpoint(path: string, option: string): string {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${option} ${path}: cannot read it (${code === 'ENOENT' ? 'no such file' : code})`);
  }
  if (!isDirectory) return path;
  const newest = stepsIn(path).at(-1);
  if (newest) return join(newest.path, FILES.checkpoint);
  const flat = join(path, FILES.checkpoint);
  try {
    statSync(flat);
    return flat;
  } catch {
    throw new UsageError(
      `${option} ${path}: holds no checkpoint (no step-NNNNNNNN folder, no ${FILES.checkpoint})`,
    );
  }
}

/** The run folder a checkpoint file belongs to: a step folder's parent, or the file's own folder. */
export function runFolderOf(checkpoint: string): string {
  const folder = dirname(checkpoint);
  return STEP.test(basename(folder)) ? dirname(folder) : folder;
}

/** Flushes a folder's entries (a rename in it) to the disk; where folders cannot be opened, skipped. */
async function syncFolder(path: string): Promise<void> {
  let folder: Awaited<ReturnType<typeof open>>;
  try {
    folder = await open(path, 'r');
  } catch {
    return;
  }
  try {
    await folder.sync();
  } catch (error) {
    // Some file systems refuse fsync on a folder; the rename is then as durable as they make it.
    if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP'].includes((error as NodeJS.ErrnoException).code ?? ''))
      throw error;
  } finally {
    await folder.close();
  }
}

/**
 * Saves a complete set for the config's step and makes it the run's newest; returns its folder.
 * Each file is written by nn's atomic writers (flushed to disk, folder flushed) into a temporary
 * folder, which is then renamed into place: a set is there whole or not at all.
 */
export async function saveSet(
  dir: string,
  model: Module,
  optimizer: Adam,
  config: RunConfig,
): Promise<string> {
  const step = config.progress.step;
  const final = join(dir, stepFolder(step));
  const temp = join(dir, `.${stepFolder(step)}.${process.pid}.tmp`);
  const metadata = { format: FORMAT, step: String(step) };
  try {
    await mkdir(temp, { recursive: true });
    await save(join(temp, FILES.checkpoint), model, metadata);
    await save(join(temp, FILES.optimizer), optimizer.stateDict(), metadata);
    await writeFileAtomic(join(temp, FILES.config), `${JSON.stringify(config)}\n`);
    await rename(temp, final);
    await syncFolder(dir);
  } catch (error) {
    // A full disk, a folder removed under us: the sets saved before are untouched, and the run
    // stops here with one line rather than training on with nowhere to save.
    await rm(temp, { recursive: true, force: true }).catch(() => {});
    const { code, message } = error as NodeJS.ErrnoException;
    const last = stepsIn(dir).at(-1);
    throw new SaveError(
      `cannot save the checkpoint of step ${step} in ${dir} (${code ?? message}); ` +
        (last ? `the last one saved, step ${last.step}, is intact` : 'none was saved before'),
    );
  }
  await prune(dir);
  return final;
}

/** Drops the sets older than the newest KEEP, and temporary folders that saves left behind. */
async function prune(dir: string): Promise<void> {
  const sets = stepsIn(dir);
  for (const old of sets.slice(0, Math.max(0, sets.length - KEEP))) {
    await rm(old.path, { recursive: true, force: true });
  }
  removeStale(dir);
}

/** Removes what saves killed before they finished left behind. */
export function removeStale(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (TEMP.test(name)) rmSync(join(dir, name), { recursive: true, force: true });
  }
}
