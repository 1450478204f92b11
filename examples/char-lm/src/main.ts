// Entry point of `pnpm demo`: parses the command line, runs train or sample, and turns bad input
// into one line on stderr and exit code 2 (a stack trace only for a genuine bug).
import { HELP, parseCommand } from './args.js';
import { SaveError, UsageError } from './errors.js';
import { STOPS, stopHandler, stoppedCode } from './stops.js';
import { type Io, sample, train } from './train.js';

export async function main(argv: readonly string[], io: Io): Promise<number> {
  try {
    const command = parseCommand(argv);
    if (command.command === 'help') {
      io.write(`${HELP}\n`);
      return 0;
    }
    return command.command === 'sample' ? sample(command, io) : await train(command, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.error(`char-lm: ${error.message}\n`);
      return 2;
    }
    if (error instanceof SaveError) {
      io.error(`char-lm: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  const abort = new AbortController();
  let closed = false;
  const write = (text: string) => {
    if (!closed) process.stdout.write(text);
  };
  const tty = process.stdout.isTTY;
  // Only training has a step to finish and a run to save; sampling stops at once, as any program.
  const training = (() => {
    try {
      return parseCommand(process.argv.slice(2)).command === 'train';
    } catch {
      return false;
    }
  })();
  const stop = stopHandler(abort, {
    write,
    exit: (code) => process.exit(code),
    now: () => performance.now(),
    clear: tty ? '\r\x1b[K' : '',
  });
  for (const signal of training ? STOPS : []) process.on(signal, () => stop(signal));
  // A reader that goes away (`pnpm demo | head`, a closed terminal) stops the run as Ctrl-C would,
  // checkpoint first.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'EIO') throw error;
    closed = true;
    if (!abort.signal.aborted) abort.abort(error.code);
  });
  const io: Io = {
    write,
    error: (text) => process.stderr.write(text),
    signal: abort.signal,
    ...(tty ? { status: (text: string) => write(`\r\x1b[K${text}`) } : {}),
  };
  const code = await main(process.argv.slice(2), io);
  // Stopped by a signal: exit as a shell expects of that signal (130 for Ctrl-C).
  process.exitCode = code === 130 ? stoppedCode(abort.signal.reason) : code;
}
