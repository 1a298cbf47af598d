// OpenIGTLink (docs/OPENIGTLINK.md): the codec and the bridge to the runtime's streams and results.
export * from './crc64.js';
export * from './errors.js';
export * from './codec.js';
export * from './messages.js';
export * from './geometry.js';
export * from './options.js';
export * from './bridge.js';
