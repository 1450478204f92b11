// Core's memory: one allocator (allocator.ts) that lends buffers through arenas of explicit lifetime
// (arena.ts: a kernel call, a backward pass, a graph's saved values, a tidy scope), and tidy (tidy.ts).
// Core's modules import the file they need; its entry points import from here.
export { emptyPool, poisonRecycled } from './allocator.js';
export {
  type Arena,
  allocate,
  backwardScratch,
  callArena,
  type GraphArena,
  graphArena,
  type Lifetime,
} from './arena.js';
export { keep, type MemoryInfo, memory, tidy } from './tidy.js';
