// The device wire protocol: pure code, imports nothing of ours outside this folder.
export * from './close-codes.js';
export * from './codec.js';
export * from './frame-types.js';
export * from './frames.js';
export * from './hello-auth.js';
export * from './limits.js';
export * from './protocol-error.js';
