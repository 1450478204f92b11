// Reading the files a user names without trusting them: only regular files, never more than a cap,
// and checking an output folder before hours of training depend on writing to it.
import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  type Stats,
  statSync,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './errors.js';

const MB = 2 ** 20;

const kindOf = (stats: Stats): string =>
  stats.isDirectory()
    ? 'a directory'
    : stats.isFIFO()
      ? 'a FIFO'
      : stats.isCharacterDevice()
        ? 'a character device'
        : stats.isBlockDevice()
          ? 'a block device'
          : stats.isSocket()
            ? 'a socket'
            : stats.isFile()
              ? 'a file'
              : 'a special file';

const why = (error: unknown): string => {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code);
};

/**
 * The bytes of a regular file of at most `maxBytes`; `label` starts every message ('--text x.txt').
 * Opened non-blocking and checked on the open descriptor: a FIFO would block the open itself and a
 * device (/dev/zero) would never end, and a symlink to either is caught as what it points to.
 */
export function readRegularFile(path: string, label: string, maxBytes: number, missing?: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      `${label}: ${code === 'ENOENT' && missing ? missing : `cannot read it (${why(error)})`}`,
    );
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new UsageError(`${label}: is ${kindOf(stats)}, not a regular file`);
    if (stats.size > maxBytes) {
      const size = (n: number) => `${(n / MB).toFixed(n < 10 * MB ? 1 : 0)} MB`;
      throw new UsageError(`${label}: too large (${size(stats.size)}; at most ${size(maxBytes)} is read)`);
    }
    const bytes = Buffer.alloc(stats.size);
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return read === bytes.length ? bytes : bytes.subarray(0, read);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${label}: cannot read it (${why(error)})`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Refuses an output folder that cannot be written, before training: an existing file or special
 * file, or a folder (or the nearest existing parent of one to be made) without write permission.
 */
export function checkOutputDir(dir: string): void {
  let at = resolve(dir);
  for (;;) {
    let stats: Stats | undefined;
    try {
      stats = statSync(at);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // ENOTDIR: a parent is a file, which the walk up names.
      if (code !== 'ENOENT' && code !== 'ENOTDIR')
        throw new UsageError(`--out ${dir}: cannot use it (${why(error)})`);
    }
    if (stats) {
      const what = at === resolve(dir) ? '' : ` (its parent ${at})`;
      if (!stats.isDirectory())
        throw new UsageError(`--out ${dir}${what}: is ${kindOf(stats)}, not a folder`);
      try {
        accessSync(at, constants.W_OK | constants.X_OK);
      } catch {
        throw new UsageError(`--out ${dir}${what}: cannot write there (permission denied)`);
      }
      return;
    }
    const parent = dirname(at);
    if (parent === at) return;
    at = parent;
  }
}
