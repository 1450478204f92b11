// The corpus, one example per line: the bundled Pokémon names, or a user's UTF-8 file, read from disk.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, resolve } from 'node:path';
import { UsageError } from './errors.js';
import { readRegularFile } from './files.js';

/** The most text --text reads: far more lines than a demo-sized run sees in its steps. */
export const TEXT_MAX_BYTES = 100 * 2 ** 20;

export interface Corpus {
  /** Where the lines came from, for messages. */
  source: string;
  /** The file read (absolute), or null for the bundled list. */
  path: string | null;
  lines: string[];
}

/** The 1,025 English Pokémon names of the `pokemon` npm package (MIT, sindresorhus). */
export function defaultCorpus(): Corpus {
  const require = createRequire(import.meta.url);
  const names = JSON.parse(readFileSync(require.resolve('pokemon/data/en.json'), 'utf8')) as string[];
  return { source: 'Pokémon names', path: null, lines: names };
}

/** Reads a UTF-8 text file of one example per line; refuses what is missing, empty or not text. */
export function readCorpus(path: string): Corpus {
  // Refuses a FIFO or a device (/dev/zero) before reading, and more text than a demo can train on.
  const bytes = readRegularFile(path, `--text ${path}`, TEXT_MAX_BYTES);
  let text: string;
  try {
    // A NUL byte or invalid UTF-8 means a binary file: training on it would only learn noise.
    if (bytes.includes(0)) throw new Error('NUL byte');
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(`--text ${path}: not a UTF-8 text file (it looks binary)`);
  }
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '');
  if (lines.length === 0) throw new UsageError(`--text ${path}: the file has no non-empty lines`);
  return { source: basename(path), path: resolve(path), lines };
}
