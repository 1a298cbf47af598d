// The live viewer and the streams it shows, over a real WebSocket with the
// runtime's StreamManager (no pipeline, no browser): a stream that closes
// leaves every page's status at once, not at the next periodic status.
import t from 'tap';
import { WebSocket } from 'ws';
import { frameBytes, type ConfigureStream } from '../../src/protocol/messages.js';
import { StreamManager } from '../../src/runtime/streams.js';
import { ViewerServer } from '../../src/viewer/server.js';
import { until } from '../helpers/wait.js';

t.test('a stream that closes is gone from the next status, sent as it closes (not a second later)', async (t) => {
  const streams = new StreamManager({ handler: () => Promise.reject(new Error('no frames in this test')) });
  const viewer = await ViewerServer.start({ publisher: streams.publisher, streams, observeFrames: () => () => undefined }, { port: 0 });
  t.teardown(() => viewer.close());
  const owner = { closed: false, frameFailed: () => undefined };
  const config: ConfigureStream = { stream: 3, width: 64, height: 48, format: 'GRAY8', spacing: [0.3, 0.3], fps: 30 };
  await new Promise<void>((resolve, reject) => streams.configure(owner, config, frameBytes(config), undefined, (err) => (err === undefined ? resolve() : reject(err))));

  const ws = new WebSocket(`ws://127.0.0.1:${viewer.port}/ws`);
  t.teardown(() => ws.terminate());
  const messages: { type: string; streams: { id: number }[]; clients: number }[] = [];
  ws.on('message', (data, binary) => { if (!binary) messages.push(JSON.parse(String(data))); });
  const hello = await until(() => messages.find((m) => m.type === 'hello'), 'the hello');
  t.same(hello.streams.map((s) => s.id), [3], 'the open stream is shown');

  // Only a status sent from the close on counts: the periodic one (every 1000 ms) may come before it and still list 3.
  const before = messages.length;
  const t0 = performance.now();
  await streams.close(3);
  const status = await until(() => messages.slice(before).find((m) => m.type === 'status'), 'a status', 5000);
  const ms = performance.now() - t0;
  t.same({ streams: status.streams, clients: status.clients }, { streams: [], clients: 1 }, 'the closed stream is gone from it');
  t.ok(ms < 500, `sent as the stream closed (${ms.toFixed(0)} ms), not at the periodic status (every 1000 ms)`);
});
