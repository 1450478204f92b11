// What tapegrad adds to a browser app: esbuild bundles (--bundle --minify --format=esm, platform
// browser) of an entry that re-exports all of @tapegrad/core, and one that re-exports core and
// @tapegrad/nn, from the packages' built dist/ as users install them. Prints minified and gzip
// (level 9) bytes. Run: pnpm bundle-size (it builds the packages first).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
for (const pkg of ['core', 'nn']) {
  if (!existsSync(`${root}packages/${pkg}/dist/index.js`)) {
    console.error(`bundle-size: packages/${pkg}/dist is missing: run pnpm build first`);
    process.exit(2);
  }
}

// Every export kept (no tree-shaking of the API), so the numbers are the whole package's.
const entries = {
  '@tapegrad/core': "export * from '@tapegrad/core';",
  '@tapegrad/core + @tapegrad/nn': "export * from '@tapegrad/core'; export * from '@tapegrad/nn';",
};

console.log('entry                          minified   gzip -9');
for (const [name, contents] of Object.entries(entries)) {
  const { outputFiles } = await build({
    // bench depends on both packages, so they resolve from there as from an app's node_modules.
    stdin: { contents, resolveDir: `${root}bench`, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'error',
  });
  const bytes = outputFiles[0].contents;
  const gzip = gzipSync(bytes, { level: 9 }).length;
  console.log(`${name.padEnd(30)} ${String(bytes.length).padStart(8)}  ${String(gzip).padStart(8)}`);
}
