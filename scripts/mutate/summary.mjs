// Turns reports/mutation/<scope>.json (Stryker's mutation-testing-elements report) into that scope's
// section of docs/mutation.md: the score per file, and each Survived or NoCoverage mutant with a
// classification column a person fills in. Regenerating keeps the classification and reason of every
// mutant still listed, keyed by file + line + mutator + replacement; a mutant whose line moved (an edit
// above it) keeps them too when the rows of the same file, mutator, original and replacement agree on
// one. Mutants that no longer exist drop out. Other scopes' sections are left as they are.
// Usage: node scripts/mutate/summary.mjs <scope> [time taken, e.g. '4.2 min']
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const SUMMARY = 'docs/mutation.md';
const [scope, took] = process.argv.slice(2);
if (scope === undefined) {
  console.error("usage: node scripts/mutate/summary.mjs <scope> ['4.2 min']");
  process.exit(1);
}
const report = JSON.parse(readFileSync(`reports/mutation/${scope}.json`, 'utf8'));

const HEADER = `# Mutation testing

\`pnpm mutate <scope>\` runs StrykerJS over one scope of backward code (see README, "Mutation testing")
and rewrites that scope's section below from its JSON report. Each surviving (Survived) or uncovered
(NoCoverage) mutant is listed; its classification is a person's judgement, kept across regenerations:

- **equivalent**: the mutant computes the same thing; no test can kill it.
- **performance-only**: only speed or allocation changes (a scratch buffer, a fast path).
- **message-only**: only an error message's text changes.
- **behaviour**: a result changes; a test should kill it.

Scores count Killed and Timeout as detected, over all valid mutants (Survived and NoCoverage
included; CompileError and RuntimeError left out).
`;

const cell = (s) => String(s).replaceAll('|', '\\|').replaceAll('\n', ' ').replaceAll('`', "'");
const clip = (s, n = 70) => {
  const one = String(s).replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
};
const keyOf = (file, line, mutator, replacement) => [file, line, mutator, replacement].join('\u0000');

// Classifications already written: every table row of the form | file:line | mutator | original |
// replacement | status | classification | reason |.
const kept = new Map();
// Without the line: file + mutator + original + replacement, to one classification, or null where the
// rows disagree (two mutants that read alike but were judged apart).
const keptAnyLine = new Map();
const previous = existsSync(SUMMARY) ? readFileSync(SUMMARY, 'utf8') : '';
for (const row of previous.split('\n')) {
  const cells = row
    .split(/(?<!\\)\|/)
    .slice(1, -1)
    .map((c) => c.trim());
  if (cells.length < 7) continue;
  const [where, mutator, original, replacement, , classification] = cells;
  // A reason written with a bare | spans several cells: keep it whole.
  const reason = cells.slice(6).join(' | ');
  const at = /^`?(.+):(\d+)`?$/.exec(where);
  if (!at || !classification) continue;
  const unquote = (c) => c.replace(/^`|`$/g, '');
  kept.set(keyOf(at[1], at[2], mutator, unquote(replacement)), { classification, reason });
  const anyLine = keyOf(at[1], unquote(original), mutator, unquote(replacement));
  const was = keptAnyLine.get(anyLine);
  const agrees = was === undefined || (was?.classification === classification && was?.reason === reason);
  keptAnyLine.set(anyLine, agrees ? { classification, reason } : null);
}

// The original text is cut from the source by the mutant's location; both are clipped to one table cell.
const detected = new Set(['Killed', 'Timeout']);
const undetected = new Set(['Survived', 'NoCoverage']);
const files = Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b));
const scoreRows = [];
const mutantRows = [];
let totalDetected = 0;
let totalValid = 0;
for (const [file, { source, mutants }] of files) {
  const lines = source.split('\n');
  const counts = {};
  for (const m of mutants) counts[m.status] = (counts[m.status] ?? 0) + 1;
  const det = mutants.filter((m) => detected.has(m.status)).length;
  const und = mutants.filter((m) => undetected.has(m.status)).length;
  totalDetected += det;
  totalValid += det + und;
  const score = det + und === 0 ? 'n/a' : `${((100 * det) / (det + und)).toFixed(1)}%`;
  scoreRows.push(
    `| ${file} | ${score} | ${counts.Killed ?? 0} | ${counts.Timeout ?? 0} | ${counts.Survived ?? 0} | ` +
      `${counts.NoCoverage ?? 0} | ${(counts.CompileError ?? 0) + (counts.RuntimeError ?? 0)} | ${counts.Ignored ?? 0} |`,
  );
  const sorted = mutants
    .filter((m) => undetected.has(m.status))
    .sort(
      (a, b) =>
        a.location.start.line - b.location.start.line || a.location.start.column - b.location.start.column,
    );
  for (const m of sorted) {
    const { start, end } = m.location;
    const original =
      start.line === end.line
        ? lines[start.line - 1].slice(start.column - 1, end.column - 1)
        : `${lines[start.line - 1].slice(start.column - 1)} …`;
    const replacement = cell(clip(m.replacement ?? ''));
    const was =
      kept.get(keyOf(file, start.line, m.mutatorName, replacement)) ??
      keptAnyLine.get(keyOf(file, cell(clip(original)), m.mutatorName, replacement));
    mutantRows.push(
      `| \`${file}:${start.line}\` | ${m.mutatorName} | \`${cell(clip(original))}\` | \`${replacement}\` | ` +
        `${m.status} | ${was?.classification ?? ''} | ${was?.reason ?? ''} |`,
    );
  }
}

const total = totalValid === 0 ? 'n/a' : `${((100 * totalDetected) / totalValid).toFixed(1)}%`;
const begin = `<!-- scope:${scope}:begin -->`;
const finish = `<!-- scope:${scope}:end -->`;
const section = [
  begin,
  `## Scope \`${scope}\``,
  '',
  `Generated ${new Date().toISOString().slice(0, 10)} by \`pnpm mutate ${scope}\`` +
    `${took ? ` in ${took}` : ''}; mutation score ${total}.`,
  '',
  '| file | score | killed | timeout | survived | no coverage | errors | ignored |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...scoreRows,
  '',
  mutantRows.length === 0 ? 'No surviving mutants.' : 'Surviving mutants:',
  '',
  ...(mutantRows.length === 0
    ? []
    : [
        '| where | mutator | original | replacement | status | classification | reason |',
        '| --- | --- | --- | --- | --- | --- | --- |',
        ...mutantRows,
      ]),
  finish,
].join('\n');

let text = previous === '' ? `${HEADER}\n` : previous;
const from = text.indexOf(begin);
const to = text.indexOf(finish);
text =
  from >= 0 && to > from
    ? text.slice(0, from) + section + text.slice(to + finish.length)
    : `${text.trimEnd()}\n\n${section}\n`;
mkdirSync(dirname(SUMMARY), { recursive: true });
writeFileSync(SUMMARY, text);
console.log(`${SUMMARY}: scope ${scope}, score ${total}, ${mutantRows.length} surviving mutants listed`);
