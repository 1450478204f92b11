// Core's memory: the buffer pool and allocate (pool.ts), and tidy scopes that hand buffers back to it
// (tidy.ts). Core's own modules import the file they need; this is what memory offers outside it.
export { allocate, emptyPool, poisonRecycled } from './pool.js';
export { keep, type MemoryInfo, memory, tidy } from './tidy.js';
