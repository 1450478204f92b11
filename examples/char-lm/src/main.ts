// Entry point of `pnpm demo`: parses the command line, runs train or sample, and turns bad input
// into one line on stderr and exit code 2 (a stack trace only for a genuine bug).
import { HELP, parseCommand } from './args.js';
import { UsageError } from './errors.js';
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
    throw error;
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  const abort = new AbortController();
  process.on('SIGINT', () => {
    // A second Ctrl-C does not wait for the checkpoint.
    if (abort.signal.aborted) process.exit(130);
    abort.abort();
  });
  // A reader that goes away (`pnpm demo | head`) stops the run as Ctrl-C would, checkpoint first.
  let closed = false;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    closed = true;
    abort.abort();
  });
  const write = (text: string) => {
    if (!closed) process.stdout.write(text);
  };
  const io: Io = {
    write,
    error: (text) => process.stderr.write(text),
    signal: abort.signal,
    ...(process.stdout.isTTY ? { status: (text: string) => write(`\r\x1b[K${text}`) } : {}),
  };
  process.exitCode = await main(process.argv.slice(2), io);
}
