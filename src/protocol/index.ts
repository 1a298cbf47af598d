export * from './constants.js';
export * from './crc.js';
export * from './errors.js';
export * from './codec.js';
export * from './messages.js';
export * from './serial.js';
export * from './ring.js';
