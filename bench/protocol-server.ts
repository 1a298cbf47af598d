// Child process of bench/protocol.ts: the real socket server with a handler
// that does no work (so the measured time is the transport's alone) beyond
// echoing pixel 0 as lvAreaMm2, which lets the benchmark check the pixels.
import { SocketServer } from '../src/transport/socket-server.js';

const server = new SocketServer({ path: process.argv[2], handler: async (f) => ({ view: 'A4C', confidence: 0.9, quality: 0.8, lvAreaMm2: f.pixels[0], flags: 0 }) });
await server.listen();
process.stdout.write('ready\n');
process.on('SIGTERM', () => { void server.close().then(() => process.exit(0)); });
