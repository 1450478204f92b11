// Core's memory: one allocator (allocator.ts) that lends buffers through arenas of explicit lifetime
// (arena.ts: a kernel call, a backward pass, a graph's saved values, a tidy scope), and tidy (tidy.ts).
// The root entry point takes what users need from here; the kernels subpath takes the arenas from
// arena.ts, and core's modules import the file they need.
export { poisonRecycled } from './allocator.js';
export { emptyPool } from './arena.js';
export { keep, type MemoryInfo, memory, tidy } from './tidy.js';
