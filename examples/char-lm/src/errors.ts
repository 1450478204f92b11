// The errors the command line turns into one line: bad input (exit code 2), and a checkpoint that
// could not be written (exit code 1). Anything else is a bug and keeps its stack trace.
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A save that failed (disk full, folder gone); the sets saved before it are intact. */
export class SaveError extends Error {
  override name = 'SaveError';
}
