// The harness's side of a contestant's child process: a Node worker (worker.ts, over the IPC channel)
// or numpy_rnn.py (JSON lines over stdin/stdout). Both answer the same requests with the same replies.
import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { jsContestants } from './contestants/index.js';
import type { Reply, Request } from './worker.js';
import type { Workload } from './workloads.js';

export interface Child {
  name: string;
  /** The process's id (and its main thread's). */
  pid: number;
  describe: string;
  request<R extends Reply>(req: Request): Promise<Exclude<R, { error: string }>>;
  close(): void;
}

const workerPath = fileURLToPath(new URL('./worker.ts', import.meta.url));
const pythonPath = fileURLToPath(new URL('../numpy_rnn.py', import.meta.url));

/** Whether python3 has numpy here (the numpy contestant runs only then). */
export const hasNumpy = (): boolean =>
  spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore', timeout: 30_000 }).status === 0;

/** Starts the contestant's process and waits until it has built its runner. */
export function startChild(name: string, workload: Workload, seed: number): Promise<Child> {
  let proc: ChildProcess;
  let onMessage: (handler: (msg: Record<string, unknown>) => void) => void;
  let post: (req: Request) => void;
  if (jsContestants[name]) {
    // The worker runs under the same TypeScript loader as the harness; --expose-gc lets it measure
    // heap growth after a full collection.
    proc = fork(workerPath, [name, workload.name, String(seed)], {
      execArgv: [...process.execArgv, '--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    onMessage = (handler) => proc.on('message', (msg) => handler(msg as Record<string, unknown>));
    post = (req) => proc.send(req);
  } else if (name === 'numpy') {
    proc = spawn('python3', [pythonPath, JSON.stringify(workload), String(seed)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: proc.stdout! });
    onMessage = (handler) => lines.on('line', (line) => handler(JSON.parse(line)));
    post = (req) => proc.stdin!.write(`${JSON.stringify(req)}\n`);
  } else {
    return Promise.reject(new Error(`unknown contestant ${name}`));
  }

  // Requests are answered in order, one at a time.
  const waiting: { resolve: (msg: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  let failure: Error | null = null;
  const fail = (e: Error) => {
    failure ??= e;
    for (const w of waiting.splice(0)) w.reject(failure);
  };
  proc.on('error', fail);
  proc.on('exit', (code, signal) => fail(new Error(`${name} exited (${signal ?? code})`)));
  onMessage((msg) => waiting.shift()?.resolve(msg));
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      if (failure) reject(failure);
      else waiting.push({ resolve, reject });
    });
  const unwrap = (msg: Record<string, unknown>) => {
    if (typeof msg.error === 'string') throw new Error(`${name}: ${msg.error}`);
    return msg;
  };

  return next()
    .then(unwrap)
    .then((hello) => ({
      name,
      pid: proc.pid!,
      describe: String(hello.describe),
      request<R extends Reply>(req: Request) {
        const reply = next();
        post(req);
        return reply.then(unwrap) as Promise<Exclude<R, { error: string }>>;
      },
      close() {
        if (proc.exitCode === null) proc.kill();
      },
    }));
}
