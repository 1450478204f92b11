// Core's memory: allocate and the buffer pool (pool.ts), tidy scopes (tidy.ts) and backward scratch
// (scratch.ts). Core's modules import the file they need; its entry points import from here.
export { allocate, emptyPool, poisonRecycled } from './pool.js';
export { backwardScratch } from './scratch.js';
export { keep, type MemoryInfo, memory, tidy } from './tidy.js';
