// Node file helpers for safetensors checkpoints: an atomic save (temp file, fsync, rename, fsync of the
// directory), a load that reads regular files only, and the atomic write under save for other files.
// Node's modules are fetched when called (process.getBuiltinModule), not imported, so that nn's entry
// imports nothing from node: and bundles for a browser, where these throw and the bytes of
// saveSafetensors / loadSafetensors are the way. Every error names the file it is about.
import { markLibraryCode } from '@tapegrad/core/kernels';
import { CheckpointError, type Module, type StateDict } from '../module.js';
import { decodeAs, encodeAs, safetensorsLimits } from './safetensors.js';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

// Node's own declarations, as types only: nothing of node: is loaded until a function here runs.
type Fs = typeof import('node:fs/promises');
type FileHandle = import('node:fs/promises').FileHandle;
type Stats = import('node:fs').Stats;
type Crypto = typeof import('node:crypto');
type Path = typeof import('node:path');

interface NodeIo {
  fs: Fs;
  path: Path;
  randomBytes: Crypto['randomBytes'];
  pid: number;
  platform: string;
}

/** Node's file system, or a clear error where there is none (a browser). */
function nodeIo(op: string): NodeIo {
  const process = (
    globalThis as {
      process?: { pid: number; platform: string; getBuiltinModule?: (name: string) => unknown };
    }
  ).process;
  const builtin = process?.getBuiltinModule;
  if (!process || !builtin) {
    throw new Error(
      `${op}: needs Node's file system (Node ≥ 20.16); elsewhere use saveSafetensors / loadSafetensors with the bytes`,
    );
  }
  return {
    fs: builtin('node:fs/promises') as Fs,
    path: builtin('node:path') as Path,
    randomBytes: (builtin('node:crypto') as Crypto).randomBytes,
    pid: process.pid,
    platform: process.platform,
  };
}

function checkPath(op: string, path: unknown): asserts path is string {
  if (typeof path !== 'string' || path === '') {
    throw new TypeError(`${op}: expected a file path, got ${path === '' ? 'an empty string' : typeof path}`);
  }
}

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

// Said in words, since Node's own messages repeat the path (or a temp file's) and the syscall.
const REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is too long',
  ENXIO: 'no such device or address',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  EXDEV: 'the temp file and the target are on different devices',
  EBUSY: 'the file is busy',
};

/** What a failed system call means, in words, with the code for a search. */
function reasonOf(error: unknown): string {
  const code = codeOf(error);
  if (code && REASONS[code]) return `${REASONS[code]} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

/** What a file that is not a regular one is, said so that a refusal explains itself. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'a special file';
}

/** load's refusal of a file that is not a regular one, with what reading it would have done. */
function notRegular(stats: Stats): string {
  const why = stats.isFIFO()
    ? ': reading it could block forever'
    : stats.isCharacterDevice()
      ? ': reading it may never end'
      : '';
  return `is ${kindOf(stats)}, not a regular file${why}`;
}

/** stat(path) (links followed), or null when there is nothing there to describe. */
async function statOrNull(fs: Fs, path: string): Promise<Stats | null> {
  try {
    return await fs.stat(path);
  } catch {
    return null;
  }
}

/** The error a write throws: its message names the path; the system error, if any, is its cause. */
type MakeError = (message: string, cause?: unknown) => Error;

const checkpointError: MakeError = (message, cause) =>
  new CheckpointError(message, cause === undefined ? undefined : { cause });

// writeFileAtomic is not about checkpoints, so it throws what fs throws: an Error with the code.
const fileError: MakeError = (message, cause) => {
  const error = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code?: string };
  const code = codeOf(cause);
  if (code) error.code = code;
  return error;
};

/**
 * The whole of a regular file. What is not one is refused before a byte is read: a FIFO would block,
 * a device such as /dev/zero would never end, a directory or socket has no bytes to give. It is
 * opened non-blocking (so opening a FIFO does not wait for a writer) and checked again by fstat on
 * the descriptor, so a file swapped in between the two checks is refused too.
 */
async function readRegularFile(fs: Fs, path: string, maxBytes: number): Promise<Uint8Array> {
  const fail = (message: string, cause?: unknown): never => {
    throw new CheckpointError(`${path}: ${message}`, cause === undefined ? undefined : { cause });
  };
  const before = await statOrNull(fs, path);
  if (before && !before.isFile()) fail(notRegular(before));
  let handle: FileHandle;
  try {
    handle = await fs.open(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (error) {
    return fail(reasonOf(error), error);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) fail(notRegular(stats));
    if (stats.size > maxBytes) fail(`${stats.size} bytes, more than the ${maxBytes} load reads`);
    const bytes = new Uint8Array(stats.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) {
        fail(`ended at byte ${filled} of the ${bytes.length} it had (changed while read?)`);
      }
      filled += bytesRead;
    }
    const { bytesRead: more } = await handle.read(new Uint8Array(1), 0, 1, bytes.length);
    if (more > 0) fail(`grew past its ${bytes.length} bytes while read`);
    return bytes;
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    return fail(reasonOf(error), error); // a read that failed (EIO)
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` with `data` so that it holds either the old file or the whole new one, never a torn
 * write: the bytes go to a temp file in the same directory, are flushed to disk, renamed over `path`,
 * and the directory is flushed so that the rename survives a crash too. A symbolic link is followed
 * (the file it points to is replaced, the link kept); an existing file's permissions are kept. On any
 * failure the temp file is removed and `path` is as it was. Errors name `path` and carry the system
 * error's code (`error.code === 'ENOENT'`), as fs's own do. A string is written as UTF-8.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  checkPath('writeFileAtomic', path);
  const io = nodeIo('writeFileAtomic');
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`writeFileAtomic: ${path}: expected a Uint8Array or a string`);
  }
  await writeAtomic(io, path, bytes, fileError);
}

async function writeAtomic(io: NodeIo, path: string, bytes: Uint8Array, make: MakeError): Promise<void> {
  const { fs, randomBytes, pid } = io;
  // Write where a link points, so that saving through it updates the file rather than the link.
  const target = await fs.realpath(path).catch(() => path);
  const existing = await statOrNull(fs, target);
  if (existing && !existing.isFile()) {
    throw make(`${path}: is ${kindOf(existing)}; only a regular file is replaced`);
  }
  const temp = `${target}.${pid}.${randomBytes(4).toString('hex')}.tmp`;
  let step = 'cannot create a temp file beside it';
  try {
    // 'wx': a file or link already at the temp name is never written through.
    const file = await fs.open(temp, 'wx');
    try {
      step = 'cannot write it';
      if (existing) await file.chmod(existing.mode & 0o7777);
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    step = 'cannot replace it';
    await fs.rename(temp, target);
  } catch (error) {
    await fs.rm(temp, { force: true }).catch(() => {});
    throw make(`${path}: ${step}: ${reasonOf(error)}`, error);
  }
  await syncDirectory(io, target, path, make);
}

// Filesystems and platforms that cannot fsync a directory: nothing more can be done there.
const NO_DIRECTORY_SYNC = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR', 'EPERM', 'EACCES']);

/** Flushes the directory entry a rename wrote; Windows cannot open a directory to flush it. */
async function syncDirectory(io: NodeIo, target: string, path: string, make: MakeError): Promise<void> {
  if (io.platform === 'win32') return;
  let dir: FileHandle | undefined;
  try {
    dir = await io.fs.open(io.path.dirname(target), 'r');
    await dir.sync();
  } catch (error) {
    if (NO_DIRECTORY_SYNC.has(codeOf(error) ?? '')) return;
    throw make(`${path}: written, but its directory could not be flushed (${reasonOf(error)})`, error);
  } finally {
    await dir?.close();
  }
}

/**
 * Writes a checkpoint atomically (see writeFileAtomic): `path` holds the old file or the whole new
 * one. Every error is a CheckpointError naming `path`; a state dict that cannot be saved is refused
 * before anything is written.
 */
export async function save(
  path: string,
  source: Module | StateDict,
  metadata: Record<string, string> = {},
): Promise<void> {
  checkPath('save', path);
  const io = nodeIo('save');
  const bytes = encodeAs(source, metadata, `${path}: nothing written`);
  await writeAtomic(io, path, bytes, checkpointError);
}

/**
 * Reads and checks a checkpoint: name → Tensor (load it into a module with loadStateDict). Every error
 * is a CheckpointError naming `path`: a missing or unreadable file, one that is not a regular file
 * (refused before reading), one larger than safetensorsLimits.fileBytes, or one that is not a valid
 * safetensors file (`<path>: not a valid safetensors file: <reason>`).
 */
export async function load(path: string): Promise<StateDict> {
  checkPath('load', path);
  const { fs } = nodeIo('load');
  const bytes = await readRegularFile(fs, path, safetensorsLimits.fileBytes);
  return decodeAs(bytes, `${path}: not a valid safetensors file`).tensors;
}

markLibraryCode(codeStart, new Error()); // and where it ends
