// Child process of bench/protocol.ts: the OpenIGTLink bridge on a real
// StreamManager with a handler that does no work beyond echoing pixel 0 as
// lvAreaMm2 (and a fixed contour, so the label map has an LV to fill), so the
// measured time is the transport's alone. argv[2]: JSON IgtlOptions.
import { StreamManager } from '../src/runtime/streams.js';
import { IgtlBridge } from '../src/transport/igtl/bridge.js';

const options = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
const streams = new StreamManager({
  handler: async (f) => ({ view: 'A4C', confidence: 0.9, quality: 0.8, lvAreaMm2: f.pixels[0], flags: 0, contour: [300, 200, 700, 220, 650, 600, 320, 560] }),
});
const bridge = new IgtlBridge({ streams, port: 0, ...options });
await bridge.start();
process.stdout.write(`${bridge.port}\n`);
process.on('SIGTERM', () => { void bridge.close().then(() => process.exit(0)); });
