// Entry point of `pnpm gradcheck`: runs the gradient checks of every core op and nn override, plus
// those of any module given with --module, prints the table, and exits 1 when one fails (2: bad input).
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultNumRuns } from '@tapegrad/gradcheck';
import { builtinChecks, type Check, type GradcheckEntry } from './checks.js';
import { formatWitnesses, runCheck, tableLayout } from './report.js';

const HELP = `Property-based gradient checks of every core op and nn cell, as a table.

Usage: pnpm gradcheck [--module FILE]... [--only NAME]... [--runs N]

  --module FILE  also check the entries of FILE's \`gradchecks\` export: a record of
                 { op, args, options? } where op is a customOp (checked against its reference
                 and finite differences) or any function of tensors (finite differences), and
                 args a fast-check arbitrary of its argument list. FILE may be TypeScript.
  --only NAME    check only these names (repeatable)
  --runs N       cases per check (default ${defaultNumRuns()}; TAPEGRAD_DEEP=1 gives more)
  --help         this text

Exit code 0 when every check passes, 1 when any fails (its smallest witness is printed), 2 on bad input.`;

class UsageError extends Error {}

export interface Io {
  write(text: string): void;
  error(text: string): void;
}

const isEntry = (value: unknown): value is GradcheckEntry =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as GradcheckEntry).op === 'function' &&
  typeof (value as { args?: { generate?: unknown } }).args?.generate === 'function';

/** The checks a user's module exports as `gradchecks: Record<name, { op, args, options? }>`. */
export async function loadModuleChecks(path: string): Promise<Check[]> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ERR_MODULE_NOT_FOUND' ? 'not found' : (error as Error).message.split('\n')[0];
    throw new UsageError(`--module ${path}: cannot load it (${why})`);
  }
  const entries = module.gradchecks;
  if (typeof entries !== 'object' || entries === null) {
    throw new UsageError(`--module ${path}: it has no \`gradchecks\` export (a record of { op, args })`);
  }
  return Object.entries(entries).map(([name, entry]) => {
    if (!isEntry(entry)) {
      throw new UsageError(
        `--module ${path}: gradchecks.${name} is not { op: a function or customOp, args: a fast-check arbitrary }`,
      );
    }
    return { ...entry, name, group: basename(path) };
  });
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  try {
    const { values } = (() => {
      try {
        return parseArgs({
          args: [...argv],
          options: {
            module: { type: 'string', multiple: true },
            only: { type: 'string', multiple: true },
            runs: { type: 'string' },
            help: { type: 'boolean', short: 'h' },
          },
          strict: true,
        });
      } catch (error) {
        throw new UsageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
      }
    })();
    if (values.help) {
      io.write(`${HELP}\n`);
      return 0;
    }
    const runs = values.runs === undefined ? defaultNumRuns() : Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1 || runs > 100_000) {
      throw new UsageError(`--runs must be an integer in [1, 100000], got '${values.runs}'`);
    }
    let checks = builtinChecks();
    for (const path of values.module ?? []) checks.push(...(await loadModuleChecks(path)));
    if (values.only) {
      const unknown = values.only.filter((name) => !checks.some((c) => c.name === name));
      if (unknown.length > 0) throw new UsageError(`--only: no check named ${unknown.join(', ')}`);
      checks = checks.filter((c) => values.only!.includes(c.name));
    }
    io.write(`checking ${checks.length} ops, ${runs} drawn cases each\n\n`);
    const table = tableLayout(checks);
    io.write(`${table.header}\n`);
    const rows = checks.map((check) => {
      const row = runCheck(check, runs);
      io.write(`${table.row(row)}\n`);
      return row;
    });
    const failed = rows.filter((r) => !r.ok);
    io.write(
      '\nworst rel. error: the largest |analytic − numeric| / max(|analytic|, |numeric|, atol) over the Jacobian\n' +
        'entries of the passing cases, or at the witness of a failure (central differences in float64, atol 1e-5\n' +
        'unless the op sets its own: below it an entry counts by its absolute error, as gradcheck judges it).\n',
    );
    if (failed.length === 0) {
      io.write(`\nall ${rows.length} checks pass\n`);
      return 0;
    }
    io.write(
      `\n${formatWitnesses(failed)}\n\n${failed.length} of ${rows.length} checks FAILED: ${failed.map((r) => r.name).join(', ')}\n`,
    );
    return 1;
  } catch (error) {
    if (error instanceof UsageError) {
      io.error(`gradcheck: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  process.exitCode = await main(process.argv.slice(2), {
    write: (text) => process.stdout.write(text),
    error: (text) => process.stderr.write(text),
  });
}
