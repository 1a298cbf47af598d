// The live viewer and the streams it shows, over a real WebSocket with the
// runtime's StreamManager (no pipeline, no browser): a stream that closes
// leaves every page's status at once, not at the next periodic status; the
// viewer listens for that only while someone watches; results for a stream
// the StreamManager does not have are not kept.
import t from 'tap';
import { WebSocket } from 'ws';
import { frameBytes, type ConfigureStream, type ResultBody } from '../../src/protocol/messages.js';
import { StreamManager, type ServerFrame } from '../../src/runtime/streams.js';
import type { FrameResult } from '../../src/transport/types.js';
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

t.test("the viewer's 'streamClosed' listener is on the StreamManager only while a page is connected", async (t) => {
  const streams = new StreamManager({ handler: () => Promise.reject(new Error('no frames in this test')) });
  const viewer = await ViewerServer.start({ publisher: streams.publisher, streams, observeFrames: () => () => undefined }, { port: 0 });
  t.teardown(() => viewer.close());
  t.equal(streams.listenerCount('streamClosed'), 0, 'none before a page connects');

  const open = async (): Promise<WebSocket> => {
    const ws = new WebSocket(`ws://127.0.0.1:${viewer.port}/ws`);
    t.teardown(() => ws.terminate());
    await new Promise<void>((resolve, reject) => { ws.once('message', () => resolve()); ws.once('error', reject); });
    return ws;
  };
  const a = await open();
  t.equal(streams.listenerCount('streamClosed'), 1, 'one while a page is connected');
  const b = await open();
  t.equal(streams.listenerCount('streamClosed'), 1, 'still one with two pages');
  a.close();
  await until(() => viewer.stats.clients === 1, 'the first page gone');
  t.equal(streams.listenerCount('streamClosed'), 1, 'kept while the second page is connected');
  b.close();
  await until(() => viewer.stats.clients === 0, 'the last page gone');
  t.equal(streams.listenerCount('streamClosed'), 0, 'removed when the last page left');

  await open();
  t.equal(streams.listenerCount('streamClosed'), 1, 'added again for the next page');
  await viewer.close();
  t.equal(streams.listenerCount('streamClosed'), 0, 'removed when the viewer closes with a page connected');
});

t.test('results for a stream the StreamManager does not have are not kept: a stream configured later with its id starts a clean curve', async (t) => {
  let observe: ((f: ServerFrame, r: FrameResult) => void) | undefined;
  const area = (seq: number) => 1000 + seq;
  const streams = new StreamManager({
    handler: async (f) => {
      const r: FrameResult = { view: 'A4C', confidence: 0.9, quality: 0.8, lvAreaMm2: area(f.seq) };
      observe?.(f, r); // as the Runtime does: the observers see the frame before its result is published
      return r;
    },
  });
  const viewer = await ViewerServer.start({
    publisher: streams.publisher, streams,
    observeFrames: (fn) => { observe = fn; return () => { observe = undefined; }; },
  }, { port: 0 });
  t.teardown(() => viewer.close());

  const ws = new WebSocket(`ws://127.0.0.1:${viewer.port}/ws`);
  t.teardown(() => ws.terminate());
  const frames: { stream: number; seq: number; samples: [number, number | null, number | null, number, number | null][] }[] = [];
  let hello = false;
  ws.on('message', (data, binary) => {
    if (!binary) { hello ||= JSON.parse(String(data)).type === 'hello'; return; }
    const buf = data as Buffer;
    frames.push(JSON.parse(buf.subarray(4, 4 + buf.readUInt32LE(0)).toString('utf8')));
  });
  await until(() => hello, 'the hello');

  // Results from another source (ResultSink.write) for stream 5, which nothing configured.
  const result = (seq: number): ResultBody => ({
    stream: 5, seq, t: seq, view: 'PLAX', confidence: 0.5, quality: 0.4, state: 'ok', idScore: null, lvAreaMm2: 1, ef: null, efCi: null,
    edSeq: null, esSeq: null, flags: 0, latency: { queueMs: 0, totalMs: 0, stages: {} },
  });
  for (const seq of [1, 2, 3]) streams.publish(result(seq));

  const owner = { closed: false, frameFailed: () => undefined };
  const config: ConfigureStream = { stream: 5, width: 32, height: 24, format: 'GRAY8', spacing: [0.3, 0.3], fps: 30 };
  await new Promise<void>((resolve, reject) => streams.configure(owner, config, frameBytes(config), undefined, (err) => (err === undefined ? resolve() : reject(err))));
  const frame: ServerFrame = { stream: 5, config, pixels: new Uint8Array(frameBytes(config)).fill(128), seq: 10, t: 10, acquiredAt: performance.now(), clientId: 1, messageSeq: 1 };
  t.equal(streams.submit(5, frame), 'queued');
  const shown = await until(() => frames[0], 'the picture of frame 10', 10000);
  t.same({ stream: shown.stream, seq: shown.seq, samples: shown.samples }, { stream: 5, seq: 10, samples: [[10, area(10), 0.8, 0, null]] },
    "its curve holds frame 10's result only, none of the results published before stream 5 existed");
  t.equal(viewer.stats.updates, 1);
});
