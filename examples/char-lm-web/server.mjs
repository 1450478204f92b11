// Serves the char-LSTM page on 127.0.0.1: bundles src/main.ts and src/worker.ts with esbuild (the
// workspace's packages from their TypeScript sources, the `source` condition) and serves them with the
// headers that make the page cross-origin isolated, so the kernels can share memory between threads.
//   node examples/char-lm-web/server.mjs [--port N] [--no-isolation]
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';

const HELP = `Serves the char-LSTM training page on 127.0.0.1.

Usage: pnpm web [--port N] [--no-isolation]

  --port N         the port (default 5173; 0 picks a free one)
  --no-isolation   serve without the Cross-Origin-Opener-Policy / -Embedder-Policy headers: no
                   SharedArrayBuffer in the page, so the kernels run on one thread
  --help           this text`;

const here = new URL('.', import.meta.url).pathname;

function options(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string', default: '5173' },
        'no-isolation': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    fail(error.message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535)
    fail(`--port must be an integer from 0 to 65535, got '${values.port}'`);
  return { port, isolated: !values['no-isolation'] };
}

function fail(message) {
  console.error(`char-lm-web: ${message}`);
  process.exit(2);
}

/** The page's two scripts, bundled in memory: { '/main.js': bytes, '/worker.js': bytes }. */
async function bundle() {
  const result = await esbuild.build({
    entryPoints: { main: `${here}src/main.ts`, worker: `${here}src/worker.ts` },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['source'],
    outdir: '/',
    write: false,
    logLevel: 'warning',
  });
  return Object.fromEntries(result.outputFiles.map((file) => [file.path, file.contents]));
}

const { port, isolated } = options(process.argv.slice(2));
const files = {
  '/': { type: 'text/html; charset=utf-8', body: readFileSync(`${here}index.html`) },
  ...Object.fromEntries(
    Object.entries(await bundle()).map(([path, body]) => [
      path,
      { type: 'text/javascript; charset=utf-8', body },
    ]),
  ),
};
// Isolation lets the page have SharedArrayBuffer (the wasm memory the kernels' threads share);
// every resource is same-origin, so require-corp costs nothing.
const isolation = isolated
  ? {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
    }
  : {};

const server = createServer((request, response) => {
  const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
  const file = files[path === '/index.html' ? '/' : path];
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { Allow: 'GET, HEAD' }).end();
  } else if (!file) {
    response.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${path}\n`);
  } else {
    response.writeHead(200, { 'Content-Type': file.type, 'Cache-Control': 'no-store', ...isolation });
    response.end(request.method === 'HEAD' ? undefined : file.body);
  }
});
server.on('error', (error) => fail(`cannot listen on 127.0.0.1:${port} (${error.code ?? error.message})`));
server.listen(port, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${server.address().port}/`;
  console.log(
    `char-lm web page: ${url} (${isolated ? 'cross-origin isolated' : 'not isolated: one thread'})`,
  );
});
