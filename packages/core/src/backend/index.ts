// The backend layer: the Backend interface (named-argument kernels), its JS and wasm implementations,
// and the chooser with the kernels' front doors.
export * from './backend.js';
export * from './choose.js';
export { jsBackend } from './js.js';
export { wasmBackend } from './wasm.js';
