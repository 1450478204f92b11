// The packages as a user gets them: `pnpm -r pack` (prepack builds each one), then publint and
// arethetypeswrong on every tarball, then a throwaway project outside the workspace that installs the
// tarballs with plain npm and uses them from ESM, CommonJS, both at once, TypeScript (node16, bundler,
// and the CommonJS settings docs/packaging.md names) and esbuild. Any problem fails the run (exit 1).
// Needs the npm registry (typescript and fast-check are installed from it). Usage: node scripts/pack/check.mjs
import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as consumer from './consumer.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TYPESCRIPT = '5.9.3';
const packages = ['core', 'nn', 'gradcheck'];
const failures = [];
const fail = (what) => {
  failures.push(what);
  console.log(`FAIL ${what}`);
};

/** Runs a command; returns its output, or records a failure naming the step (with the output) and returns null. */
function run(step, cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0) {
    fail(`${step}: ${[cmd, ...args].join(' ')} exited ${result.status ?? result.signal}\n${output}`);
    return null;
  }
  console.log(`ok   ${step}`);
  return output;
}

const work = mkdtempSync(join(tmpdir(), 'tapegrad-pack-'));
const tarballDir = join(work, 'tarballs');
console.log(`pack check in ${work}`);

// 1. Pack: private workspace packages (examples, bench) are skipped by pnpm.
run('pack', 'npx', ['-y', 'pnpm@12.4.2', '-r', 'pack', '--pack-destination', tarballDir], { cwd: root });
const tarballs = Object.fromEntries(
  packages.map((name) => {
    const file = readdirSync(tarballDir).find((f) => f.startsWith(`tapegrad-${name}-`) && f.endsWith('.tgz'));
    if (!file) fail(`pack: no tarball for @tapegrad/${name} in ${tarballDir}`);
    return [name, file && join(tarballDir, file)];
  }),
);
if (failures.length) finish();

// 2. Each tarball's contents and manifest, and its sizes.
const license = readFileSync(join(root, 'LICENSE'), 'utf8');
const coreVersion = JSON.parse(readFileSync(join(root, 'packages/core/package.json'), 'utf8')).version;
const sizes = [];
for (const name of packages) {
  const unpacked = join(work, 'unpacked', name);
  mkdirSync(unpacked, { recursive: true });
  run(`unpack ${name}`, 'tar', ['-xzf', tarballs[name], '-C', unpacked]);
  const dir = join(unpacked, 'package');
  const files = walk(dir).map((f) => f.slice(dir.length + 1));
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const entries = Object.values(pkg.exports ?? {});
  const where = `@tapegrad/${name} tarball`;
  for (const needed of ['README.md', 'LICENSE', 'package.json', 'dist/index.js', 'dist/index.d.ts'])
    if (!files.includes(needed)) fail(`${where}: no ${needed} (has ${files.join(', ')})`);
  if (files.includes('LICENSE') && readFileSync(join(dir, 'LICENSE'), 'utf8') !== license)
    fail(`${where}: LICENSE differs from the repository's`);
  for (const file of entries.flatMap((entry) => Object.values(entry)))
    if (!files.includes(file.replace(/^\.\//, '')))
      fail(`${where}: exports names ${file}, not in the tarball`);
  // The workspace's `source` condition points at src/, which is not shipped: pack drops it.
  if (entries.some((entry) => 'source' in entry)) fail(`${where}: exports keep the source condition`);
  if (JSON.stringify(pkg).includes('workspace:')) fail(`${where}: a workspace: range was not rewritten`);
  for (const field of ['description', 'keywords', 'repository', 'engines', 'homepage'])
    if (!pkg[field]) fail(`${where}: no ${field}`);
  if (pkg.license !== 'MIT') fail(`${where}: license ${pkg.license}, not MIT`);
  if (pkg.repository?.directory !== `packages/${name}`)
    fail(`${where}: repository.directory is not packages/${name}`);
  if (pkg.publishConfig?.access !== 'public') fail(`${where}: publishConfig.access is not public`);
  if (pkg.type !== 'module' || pkg.engines?.node !== '>=20.19')
    fail(`${where}: not ESM-only for node >=20.19`);
  if (name !== 'core') {
    if (pkg.peerDependencies?.['@tapegrad/core'] !== `^${coreVersion}`)
      fail(`${where}: @tapegrad/core is not a peer dependency ^${coreVersion}`);
    if (pkg.dependencies?.['@tapegrad/core'])
      fail(`${where}: @tapegrad/core is a dependency as well as a peer`);
  }
  const unpackedBytes = walk(dir).reduce((sum, f) => sum + statSync(f).size, 0);
  sizes.push({ name, files: files.length, packed: statSync(tarballs[name]).size, unpacked: unpackedBytes });

  // publint (warnings count as errors; its suggestions are printed and fail too) and attw.
  // attw's esm-only profile: these packages are ESM-only on purpose, so the node10 and node16-from-CJS
  // resolutions (which model TypeScript's module node16, where require of ESM is TS1479) are not
  // checked; docs/packaging.md says which settings a CommonJS TypeScript project uses, tested below.
  const lint = run(`publint ${name}`, join(root, 'node_modules/.bin/publint'), [
    'run',
    tarballs[name],
    '--strict',
  ]);
  if (lint !== null && !lint.includes('All good!')) fail(`publint ${name}: it has remarks\n${lint}`);
  run(`attw ${name}`, join(root, 'node_modules/.bin/attw'), [
    tarballs[name],
    '--profile',
    'esm-only',
    '--no-color',
  ]);
}

// 3. A throwaway project outside the workspace, with plain npm.
const app = mkdtempSync(join(tmpdir(), 'tapegrad-consumer-'));
const npm = (step, args) => run(step, 'npm', args, { cwd: app });
const installed =
  npm('npm init', ['init', '-y']) !== null &&
  npm('npm install', [
    'install',
    '--no-audit',
    '--no-fund',
    ...packages.map((name) => tarballs[name]),
    `typescript@${TYPESCRIPT}`,
  ]) !== null;
if (!installed) finish(app);
const copies = walk(join(app, 'node_modules')).filter((f) => f.endsWith('/@tapegrad/core/package.json'));
if (copies.length !== 1) fail(`install: ${copies.length} copies of @tapegrad/core:\n${copies.join('\n')}`);

const readmes = Object.fromEntries(
  packages.map((name) => [name, readFileSync(join(work, 'unpacked', name, 'package/README.md'), 'utf8')]),
);
for (const [path, text] of Object.entries(consumer.files(readmes))) {
  mkdirSync(dirname(join(app, path)), { recursive: true });
  writeFileSync(join(app, path), text);
}
const node = (step, args, options = {}) => run(step, process.execPath, args, { cwd: app, ...options });
const tsc = (step, project) =>
  run(step, process.execPath, ['node_modules/typescript/bin/tsc', '-p', project], { cwd: app });

node('ESM import', ['esm.mjs']);
node('CommonJS require', ['cjs.cjs']);
node('mixed app, ESM main', ['mixed/main.mjs']);
node('mixed app, CommonJS main', ['mixed/main.cjs']);
// A consumer's own `source` condition (tsx, vitest and tsc setups use it) must not reach for files that
// are not in the tarball.
node('node --conditions=source', ['--conditions=source', 'esm.mjs']);
const esbuild = createRequire(realpathSync(join(root, 'node_modules/tsup/package.json')))('esbuild');
for (const [format, entry] of [
  ['esm', 'esm.mjs'],
  ['cjs', 'cjs.cjs'],
]) {
  const outfile = join(app, `bundle/${entry}`);
  try {
    // sideEffects: false lets esbuild drop the modules an app does not use; the bundle must still work.
    esbuild.buildSync({
      entryPoints: [join(app, entry)],
      bundle: true,
      platform: 'node',
      format,
      outfile,
      conditions: ['source'],
      logLevel: 'silent',
    });
    node(`esbuild --conditions=source bundle (${format}), run`, [outfile]);
  } catch (error) {
    fail(`esbuild --conditions=source (${format}): ${error.message}`);
  }
}
// TypeScript, tsc --strict: node16 and bundler resolution for an ESM project (the node16 one is emitted
// and run: it holds the READMEs' examples), node20 and nodenext for a CommonJS one (emitted and run).
if (tsc('tsc ESM node16', 'ts-esm-node16') !== null) {
  for (const file of readdirSync(join(app, 'ts-esm-node16/out')))
    node(`ts-esm-node16/out/${file}`, [join('ts-esm-node16/out', file)]);
}
tsc('tsc ESM bundler', 'ts-esm-bundler');
for (const project of ['ts-cjs-node20', 'ts-cjs-nodenext'])
  if (tsc(`tsc CommonJS ${project}`, project) !== null)
    node(`${project}/out/index.js`, [join(project, 'out/index.js')]);
// And what the doc says of module node16 in a CommonJS project: TS1479, require of an ES module.
const node16 = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'ts-cjs-node16'], {
  cwd: app,
  encoding: 'utf8',
});
if (node16.status === 0 || !node16.stdout.includes('TS1479'))
  fail(`tsc CommonJS module node16: expected TS1479 (docs/packaging.md says so), got:\n${node16.stdout}`);
else console.log('ok   tsc CommonJS module node16 gives TS1479, as docs/packaging.md says');

console.log('\npackage              files   packed (bytes)   unpacked (bytes)');
for (const s of sizes)
  console.log(
    `@tapegrad/${s.name.padEnd(11)}${String(s.files).padStart(6)}${String(s.packed).padStart(17)}${String(s.unpacked).padStart(19)}`,
  );
finish(app);

function finish(app) {
  if (failures.length) {
    console.log(
      `\npack check: ${failures.length} problem(s); files kept in ${[work, app].filter(Boolean).join(' and ')}`,
    );
    process.exit(1);
  }
  for (const dir of [work, app]) if (dir) rmSync(dir, { recursive: true, force: true });
  console.log(
    '\npack check: tarballs complete, publint and attw clean, ESM/CJS/mixed/TypeScript/esbuild consumers pass',
  );
  process.exit(0);
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}
