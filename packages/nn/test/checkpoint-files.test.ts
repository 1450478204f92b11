// load, save and writeFileAtomic on a real file system: every refusal is typed, names the path and
// the reason, and comes back promptly (a FIFO or /dev/zero must be refused, never read); a save that
// fails part-way leaves the previous file whole and no temp file behind.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RandomState, tensor } from '@tapegrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckpointError,
  Linear,
  load,
  safetensorsLimits,
  save,
  saveSafetensors,
  writeFileAtomic,
} from '../src/index.js';

// Every refusal below is a stat, an open or a short read: far inside this, or it is reading what it must not.
const PROMPT_MS = 3000;

let dir = '';
let socketServer: Server | undefined;
const good = () => saveSafetensors(new Linear(3, 2, { rng: new RandomState(1) }), { step: '1' });

/** Whether the platform can make a FIFO with mkfifo (not Windows; a container may lack the binary). */
function canMkfifo(): boolean {
  if (process.platform === 'win32') return false;
  try {
    execFileSync('mkfifo', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return existsSync('/usr/bin/mkfifo') || existsSync('/bin/mkfifo');
  }
}
const fifo = canMkfifo();
const devZero = process.platform !== 'win32' && existsSync('/dev/zero');
const root = process.getuid?.() === 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tapegrad-files-'));
});
afterAll(async () => {
  socketServer?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A header-only file of `header` text, padded as the spec says. */
function headerFile(header: string, declared?: bigint): Uint8Array {
  const text = new TextEncoder().encode(header);
  const length = Math.ceil(text.length / 8) * 8;
  const out = new Uint8Array(8 + length).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(length), true);
  out.set(text, 8);
  return out;
}

interface LoadCase {
  what: string;
  /** Why the case cannot run here, or null. */
  skip: string | null;
  /** Makes the path to load. */
  make: () => Promise<string>;
  reason: RegExp;
}

const loadCases: LoadCase[] = [
  {
    what: 'a missing file',
    skip: null,
    make: async () => join(dir, 'missing.safetensors'),
    reason: /^: no such file \(ENOENT\)$/,
  },
  {
    what: 'a missing directory on the way',
    skip: null,
    make: async () => join(dir, 'nowhere', 'model.safetensors'),
    reason: /^: no such file \(ENOENT\)$/,
  },
  {
    what: 'a file where a directory should be',
    skip: process.platform === 'win32' ? 'Windows says ENOENT here' : null,
    make: async () => {
      const path = join(dir, 'plain');
      await writeFile(path, good());
      return join(path, 'model.safetensors');
    },
    reason: /^: a part of the path is not a directory \(ENOTDIR\)$/,
  },
  {
    what: 'a directory',
    skip: null,
    make: async () => {
      const path = join(dir, 'a-directory.safetensors');
      await mkdir(path);
      return path;
    },
    reason: /^: is a directory, not a regular file$/,
  },
  {
    what: 'a FIFO with no writer (reading it would block forever)',
    skip: fifo ? null : 'no mkfifo on this platform',
    make: async () => {
      const path = join(dir, 'pipe.safetensors');
      execFileSync('mkfifo', [path]);
      return path;
    },
    reason: /^: is a FIFO \(named pipe\), not a regular file: reading it could block forever$/,
  },
  {
    what: '/dev/zero (reading it would never end)',
    skip: devZero ? null : 'no /dev/zero on this platform',
    make: async () => '/dev/zero',
    reason: /^: is a character device, not a regular file: reading it may never end$/,
  },
  {
    what: 'a symbolic link to /dev/zero',
    skip: devZero ? null : 'no /dev/zero on this platform',
    make: async () => {
      const path = join(dir, 'zero.safetensors');
      await symlink('/dev/zero', path);
      return path;
    },
    reason: /^: is a character device, not a regular file: reading it may never end$/,
  },
  {
    what: 'a socket',
    skip: process.platform === 'win32' ? 'no Unix sockets in the file system on Windows' : null,
    make: async () => {
      const path = join(dir, 'socket.safetensors');
      socketServer = createServer();
      await new Promise<void>((done) => socketServer!.listen(path, done));
      return path;
    },
    reason: /^: is a socket, not a regular file$/,
  },
  {
    what: 'a file without read permission',
    skip: root ? 'running as root, which reads any file' : process.platform === 'win32' ? 'no modes' : null,
    make: async () => {
      const path = join(dir, 'secret.safetensors');
      await writeFile(path, good());
      await chmod(path, 0o000);
      return path;
    },
    reason: /^: permission denied \(EACCES\)$/,
  },
  {
    what: 'a file larger than safetensorsLimits.fileBytes (sparse: nothing is written)',
    skip: null,
    make: async () => {
      const path = join(dir, 'huge.safetensors');
      await writeFile(path, good());
      await truncate(path, safetensorsLimits.fileBytes + 1);
      return path;
    },
    reason: /^: 2147483648 bytes, more than the 2147483647 load reads$/,
  },
  {
    what: 'a truncated file (its header declares more than the file holds)',
    skip: null,
    make: async () => {
      const path = join(dir, 'truncated.safetensors');
      const bytes = good();
      await writeFile(path, bytes.subarray(0, bytes.length - 3));
      return path;
    },
    reason:
      /^: not a valid safetensors file: 'weight' ends at byte 32, past the 29 data bytes \(truncated\?\)$/,
  },
  {
    what: 'a header length past the end of the file',
    skip: null,
    make: async () => {
      const path = join(dir, 'short-header.safetensors');
      await writeFile(path, headerFile('{}', 4096n));
      return path;
    },
    reason: /^: not a valid safetensors file: header length 4096 runs past the end of the 16-byte file/,
  },
  {
    what: 'a header length over the 100 MB cap',
    skip: null,
    make: async () => {
      const path = join(dir, 'header-too-large.safetensors');
      await writeFile(path, headerFile('{}', 200_000_000n));
      return path;
    },
    reason: /^: not a valid safetensors file: header length 200000000 exceeds 100000000 bytes$/,
  },
  {
    what: 'too many metadata keys',
    skip: null,
    make: async () => {
      const path = join(dir, 'too-many-keys.safetensors');
      const keys = Array.from({ length: 20_000 }, (_, i) => `"k${i}":""`).join(',');
      await writeFile(path, headerFile(`{"__metadata__":{${keys}}}`));
      return path;
    },
    reason: /^: not a valid safetensors file: the header declares 20000 metadata keys, more than the 10000/,
  },
  {
    what: 'an empty file',
    skip: null,
    make: async () => {
      const path = join(dir, 'empty.safetensors');
      await writeFile(path, new Uint8Array(0));
      return path;
    },
    reason: /^: not a valid safetensors file: truncated: 0 bytes/,
  },
];

const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('load refuses, naming the path and the reason, without reading what is not a checkpoint', () => {
  for (const { what, skip, make, reason } of loadCases) {
    it.skipIf(skip !== null)(
      `${what}${skip ? ` (skipped: ${skip})` : ''}`,
      { timeout: PROMPT_MS },
      async () => {
        const path = await make();
        const error = await load(path).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(CheckpointError);
        expect((error as Error).message).toMatch(new RegExp(`^${literal(path)}: `));
        expect((error as Error).message.slice(path.length)).toMatch(reason);
      },
    );
  }

  it('a valid file still loads, and a link to one is followed', { timeout: PROMPT_MS }, async () => {
    const path = join(dir, 'good.safetensors');
    await writeFile(path, good());
    const link = join(dir, 'good-link.safetensors');
    await symlink(path, link);
    const model = new Linear(3, 2, { rng: new RandomState(9) });
    model.loadStateDict(await load(link));
    expect(Array.from(model.weight.data)).toEqual(
      Array.from(new Linear(3, 2, { rng: new RandomState(1) }).weight.data),
    );
  });

  it('a path that is not a string is a TypeError naming load', async () => {
    await expect(load(undefined as never)).rejects.toThrow(/^load: expected a file path, got undefined$/);
    await expect(load('')).rejects.toThrow(/^load: expected a file path, got an empty string$/);
  });
});

/**
 * Runs fn with Node's fs/promises seen by nn replaced by one that logs every call and fails the calls
 * `faults` names (nn fetches its modules with process.getBuiltinModule, so this is where to step in).
 */
async function withFs(
  faults: { writeFile?: string; sync?: string; rename?: string },
  fn: (log: string[]) => Promise<void>,
): Promise<void> {
  const host = process as { getBuiltinModule?: (name: string) => unknown };
  const real = host.getBuiltinModule!;
  const log: string[] = [];
  const failure = (code: string) => Object.assign(new Error(`${code}: injected`), { code });
  const name = (p: unknown) =>
    String(p)
      .replace(dir, '<dir>')
      .replace(/\.\d+\.[0-9a-f]{8}\.tmp$/, '.<temp>');
  host.getBuiltinModule = (id: string) => {
    const fs = real(id) as typeof import('node:fs/promises');
    if (id !== 'node:fs/promises') return fs;
    return {
      ...fs,
      rename: async (from: string, to: string) => {
        log.push(`rename ${name(from)} -> ${name(to)}`);
        if (faults.rename) throw failure(faults.rename);
        return fs.rename(from, to);
      },
      open: async (path: string, flags: string | number) => {
        const handle = await fs.open(path, flags);
        const opened = name(path);
        log.push(`open ${opened} ${flags}`);
        return new Proxy(handle, {
          get(target, key) {
            const value = Reflect.get(target, key, target);
            if (key === 'writeFile' || key === 'sync') {
              return async (...args: unknown[]) => {
                log.push(`${String(key)} ${opened}`);
                const code = faults[key];
                if (code) throw failure(code);
                return (value as (...a: unknown[]) => Promise<void>).apply(target, args);
              };
            }
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      },
    };
  };
  try {
    await fn(log);
  } finally {
    host.getBuiltinModule = real;
  }
}

describe('save and writeFileAtomic', () => {
  it('write a temp file beside the target, fsync it, rename it over the target, fsync the directory', async () => {
    const sub = await mkdtemp(join(dir, 'steps-'));
    const path = join(sub, 'model.safetensors');
    await withFs({}, async (log) => {
      await save(path, new Linear(3, 2));
      const d = sub.replace(dir, '<dir>');
      expect(log).toEqual([
        `open ${d}/model.safetensors.<temp> wx`,
        `writeFile ${d}/model.safetensors.<temp>`,
        `sync ${d}/model.safetensors.<temp>`,
        `rename ${d}/model.safetensors.<temp> -> ${d}/model.safetensors`,
        `open ${d} r`,
        `sync ${d}`,
      ]);
    });
    expect(await readdir(sub)).toEqual(['model.safetensors']);
  });

  const faults: [string, { writeFile?: string; sync?: string; rename?: string }, RegExp][] = [
    [
      'the disk fills while writing',
      { writeFile: 'ENOSPC' },
      /^: cannot write it: no space left on the device \(ENOSPC\)$/,
    ],
    ['the flush fails', { sync: 'EIO' }, /^: cannot write it: input\/output error \(EIO\)$/],
    [
      'the rename fails',
      { rename: 'EXDEV' },
      /^: cannot replace it: the temp file and the target are on different devices/,
    ],
  ];
  for (const [what, fault, reason] of faults) {
    it(`${what}: a CheckpointError naming the path, the old file whole, no temp file left`, async () => {
      const sub = await mkdtemp(join(dir, 'fault-'));
      const path = join(sub, 'model.safetensors');
      await save(path, new Linear(3, 2, { rng: new RandomState(1) }));
      const before = await readFile(path);
      await withFs(fault, async () => {
        const error = await save(path, new Linear(3, 2, { rng: new RandomState(2) })).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(CheckpointError);
        expect((error as Error).message).toMatch(new RegExp(`^${literal(path)}: `));
        expect((error as Error).message.slice(path.length)).toMatch(reason);
        expect(((error as Error).cause as { code?: string }).code).toBe(Object.values(fault)[0]);
      });
      expect(await readdir(sub)).toEqual(['model.safetensors']);
      expect(Buffer.compare(await readFile(path), before)).toBe(0);
    });
  }

  const saveCases: [string, () => Promise<string>, RegExp][] = [
    [
      'into a missing directory',
      async () => join(dir, 'nowhere', 'model.safetensors'),
      /^: cannot create a temp file beside it: no such file \(ENOENT\)$/,
    ],
    [
      'over a directory',
      async () => {
        const path = join(dir, 'save-over-dir');
        await mkdir(path);
        return path;
      },
      /^: is a directory; only a regular file is replaced$/,
    ],
  ];
  if (devZero) {
    saveCases.push([
      'through a link to /dev/zero (the device is not replaced)',
      async () => {
        const path = join(dir, 'save-zero.safetensors');
        await symlink('/dev/zero', path);
        return path;
      },
      /^: is a character device; only a regular file is replaced$/,
    ]);
  }
  for (const [what, make, reason] of saveCases) {
    it(`save ${what}: a CheckpointError naming the path`, { timeout: PROMPT_MS }, async () => {
      const path = await make();
      const error = await save(path, new Linear(3, 2)).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CheckpointError);
      expect((error as Error).message).toMatch(new RegExp(`^${literal(path)}: `));
      expect((error as Error).message.slice(path.length)).toMatch(reason);
    });
  }

  it('save of a state dict it cannot write names the path and writes nothing', async () => {
    const sub = await mkdtemp(join(dir, 'bad-'));
    const path = join(sub, 'model.safetensors');
    await expect(save(path, { 'bad name': tensor([1]) })).rejects.toThrow(
      new RegExp(`^${literal(path)}: nothing written: tensor name "bad name" is not allowed`),
    );
    expect(await readdir(sub)).toEqual([]);
  });

  it('save through a link replaces the file it points to and keeps the link', async () => {
    const sub = await mkdtemp(join(dir, 'link-'));
    const target = join(sub, 'run3.safetensors');
    const link = join(sub, 'latest.safetensors');
    await save(target, new Linear(3, 2, { rng: new RandomState(1) }));
    await symlink(target, link);
    const model = new Linear(3, 2, { rng: new RandomState(2) });
    await save(link, model);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect((await load(target)).weight!.toArray()).toEqual(model.weight.toArray());
    expect((await readdir(sub)).sort()).toEqual(['latest.safetensors', 'run3.safetensors']);
  });

  it.skipIf(process.platform === 'win32')(
    'writeFileAtomic writes text, keeps the old mode, and errors carry the code',
    async () => {
      const path = join(dir, 'config.json');
      await writeFile(path, '{}');
      await chmod(path, 0o600);
      await writeFileAtomic(path, '{"step":2}\n');
      expect(await readFile(path, 'utf8')).toBe('{"step":2}\n');
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      const missing = join(dir, 'nowhere', 'config.json');
      const error = await writeFileAtomic(missing, 'x').then(
        () => null,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(CheckpointError);
      expect(error?.message).toBe(`${missing}: cannot create a temp file beside it: no such file (ENOENT)`);
      expect(error?.code).toBe('ENOENT');
    },
  );
});
