// The one error the command line turns into a message and exit code 2: bad input, not a bug.
export class UsageError extends Error {
  override name = 'UsageError';
}
