// Child process of bench/protocol.ts: the real socket server with a handler
// that does no work (so the measured time is the transport's alone).
import { SocketServer } from '../src/transport/socket-server.js';

const server = new SocketServer({ path: process.argv[2], handler: async () => ({ view: 'A4C', confidence: 0.9, quality: 0.8, flags: 0 }) });
await server.listen();
process.stdout.write('ready\n');
process.on('SIGTERM', () => { void server.close().then(() => process.exit(0)); });
