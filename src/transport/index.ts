export * from './types.js';
export * from './socket-server.js';
export * from './socket-client.js';
export * from './serial-link.js';
