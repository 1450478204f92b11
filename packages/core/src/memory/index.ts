// Core's memory: the buffer pool and allocate (pool.ts), tidy scopes that hand buffers back to it
// (tidy.ts), and the scratch a backward pass lends to grads in flight (scratch.ts). Core's own modules
// import the file they need; this is what memory offers outside it.
export { allocate, emptyPool, poisonRecycled } from './pool.js';
export { backwardScratch } from './scratch.js';
export { keep, type MemoryInfo, memory, tidy } from './tidy.js';
