// Micro-benchmark of the gemm backends at the LSTM's matmul shapes and 512³: GFLOP/s, medians over rounds.
// Run: npx tsx --conditions=source bench/gemm.ts [rounds]   (the LSTM is lstm-big: B 32, I 192 = H + I, 4H 512)
import * as kernels from '@tapegrad/core/kernels';

interface Case {
  name: string;
  spec: Omit<kernels.GemmArgs, 'a' | 'b' | 'c'>;
}

const cases: Case[] = [
  { name: 'forward x·Wᵀ [32,192]·[512,192]ᵀ', spec: { m: 32, n: 512, k: 192, transB: true } },
  { name: 'weight grad dGᵀ·x [32,512]ᵀ·[32,192]', spec: { m: 512, n: 192, k: 32, transA: true } },
  { name: 'input grad dG·W [32,512]·[512,192]', spec: { m: 32, n: 192, k: 512 } },
  { name: '512³ A·B', spec: { m: 512, n: 512, k: 512 } },
  { name: '512³ Aᵀ·B', spec: { m: 512, n: 512, k: 512, transA: true } },
  { name: '512³ A·Bᵀ', spec: { m: 512, n: 512, k: 512, transB: true } },
  { name: '512³ Aᵀ·Bᵀ', spec: { m: 512, n: 512, k: 512, transA: true, transB: true } },
  // Small problems, to place the threshold below which the JS loop wins (lstm-small: B 10, I 3, H 5, O 2).
  { name: '1×1×1', spec: { m: 1, n: 1, k: 1 } },
  { name: '4×4×4', spec: { m: 4, n: 4, k: 4 } },
  { name: 'lstm-small x·Wihᵀ [10,3]·[20,3]ᵀ', spec: { m: 10, n: 20, k: 3, transB: true } },
  { name: 'lstm-small h·Whhᵀ [10,5]·[20,5]ᵀ', spec: { m: 10, n: 20, k: 5, transB: true } },
  { name: 'lstm-small h·Woutᵀ [10,5]·[2,5]ᵀ', spec: { m: 10, n: 2, k: 5, transB: true } },
  { name: 'lstm-small dGᵀ·h [10,20]ᵀ·[10,5]', spec: { m: 20, n: 5, k: 10, transA: true } },
  { name: 'lstm-small dG·Whh [10,20]·[20,5]', spec: { m: 10, n: 5, k: 20 } },
  { name: '8³', spec: { m: 8, n: 8, k: 8 } },
  { name: '16³', spec: { m: 16, n: 16, k: 16 } },
  { name: '32³ Aᵀ·B', spec: { m: 32, n: 32, k: 32, transA: true } },
  { name: 'vector·matrix [1,512]·[512,512]', spec: { m: 1, n: 512, k: 512 } },
  { name: 'matrix·vector [512,512]·[512,1]', spec: { m: 512, n: 1, k: 512 } },
];

const backends: kernels.BackendChoice[] = ['js', 'wasm'];
// One thread: this measures the kernels on one core, and CPU time would count a worker's spinning too.
kernels.setThreads(1);
const rounds = Number(process.argv[2] ?? 7);

function filled(size: number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = Math.sin(i * 0.37);
  return out;
}

/**
 * Seconds per call, timed over enough calls to take about 20 ms. The process's CPU time, not the wall
 * clock: on a shared machine, time spent descheduled is not the kernel's.
 */
function secondsPerCall(run: () => void): number {
  let calls = 1;
  for (;;) {
    const start = process.cpuUsage();
    for (let i = 0; i < calls; i++) run();
    const { user, system } = process.cpuUsage(start);
    const ms = (user + system) / 1000;
    if (ms >= 20) return ms / 1000 / calls;
    calls *= ms < 2 ? 10 : 2;
  }
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;

console.log(`gemm float32, GFLOP/s of CPU time, median of ${rounds} rounds (js and wasm alternate in each)`);
console.log(`${'case'.padEnd(40)} ${'js'.padStart(7)} ${'wasm'.padStart(7)} ${'ratio'.padStart(7)}  auto`);
for (const { name, spec } of cases) {
  const { m, n, k } = spec;
  const a = filled(m * k);
  const b = filled(k * n);
  const c = new Float32Array(m * n);
  const args = { a, b, c, ...spec };
  const seconds: Record<string, number[]> = { js: [], wasm: [] };
  for (let round = 0; round <= rounds; round++) {
    for (const backend of round % 2 ? backends : [...backends].reverse()) {
      kernels.setBackend(backend);
      const s = secondsPerCall(() => kernels.gemm(args));
      if (round > 0) seconds[backend]!.push(s); // round 0 warms up both tiers of the compiler
    }
  }
  kernels.setBackend('auto');
  const gflops = (backend: string) => (2 * m * n * k) / median(seconds[backend]!) / 1e9;
  const [js, wasm] = [gflops('js'), gflops('wasm')];
  const auto = median(seconds.js!) <= median(seconds.wasm!) ? 'js' : 'wasm';
  console.log(
    `${name.padEnd(40)} ${js.toFixed(2).padStart(7)} ${wasm.toFixed(2).padStart(7)} ${(wasm / js).toFixed(2).padStart(6)}×  ${auto} faster`,
  );
}
