// A bounded fuzz run of the socket server over a real Unix socket: random
// bytes, mutated golden messages, truncations, disconnects mid-frame and a
// client that never reads, all while a well-behaved client streams frames and
// must keep getting every result. Shared memory too: fuzz connections
// configure a ring and send FRAME_READY for random (often bad) slots and
// streams, and disconnect holding slots, while a good client streams through
// its own ring and must get every slot back. The frame handler is a stand-in
// for the ML pipeline only. SONOEDGE_FUZZ_LONG=1 runs 50 times longer
// (overnight mode).
import t from 'tap';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildVectors } from '../../scripts/gen-protocol-fixtures.js';
import { encodeMessage, type Message } from '../../src/protocol/codec.js';
import { MessageType } from '../../src/protocol/constants.js';
import { msg, parseResult, parseSlotRelease } from '../../src/protocol/messages.js';
import { encodeRingHeader, ringBytes, slotOffset } from '../../src/protocol/ring.js';
import { SocketClient } from '../../src/transport/socket-client.js';
import { SocketServer } from '../../src/transport/socket-server.js';

const LONG = process.env.SONOEDGE_FUZZ_LONG === '1';
const ROUNDS = LONG ? 10000 : 200;
let seed = 0x5eed;
const rand = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
const vectors = buildVectors().filter((v) => v.kind === 'socket').map((v) => v.bytes);
const hello = encodeMessage(msg.hello(1, { versions: [1], client: 'fuzz' }));

/** A 4-slot ring of 4096-byte slots under /dev/shm, as firmware makes it. */
function makeRing(tag: string) {
  const name = `/sonoedge-fuzz-${process.pid}-${tag}`;
  const fd = openSync(`/dev/shm${name}`, 'w+', 0o600);
  ftruncateSync(fd, ringBytes(4, 4096));
  writeSync(fd, encodeRingHeader({ slots: 4, slotBytes: 4096 }), 0, 4096, 0);
  t.teardown(() => { closeSync(fd); rmSync(`/dev/shm${name}`, { force: true }); });
  return { name, fd };
}

function mutate(): Buffer {
  const kind = rand(5);
  if (kind === 0) return Buffer.from(Array.from({ length: 1 + rand(300) }, () => rand(256)));
  const v = Buffer.from(vectors[rand(vectors.length)]);
  if (kind === 1) { for (let k = 0, n = 1 + rand(4); k < n; k++) v[rand(v.length)] = rand(256); return v; }
  if (kind === 2) return v.subarray(0, rand(v.length));
  if (kind === 3) { v.writeUInt32LE(rand(2) ? 0xffffffff : rand(1 << 20), 8 + 4 * rand(2)); return v; }
  return Buffer.concat([v.subarray(0, rand(v.length)), vectors[rand(vectors.length)]]);
}

t.test(`fuzzing the server (${ROUNDS} connections) while a good client streams`, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-fuzz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = new SocketServer({
    path: path.join(dir, 'f.sock'), maxMessageSize: 1 << 20, maxErrorsPerClient: 16, resultQueueLength: 4, maxPendingWriteBytes: 16384,
    handler: async (f) => ({ view: 'A4C', confidence: 0.5, quality: 0.5, lvAreaMm2: f.pixels[0], flags: 0 }),
  });
  await server.listen();
  t.teardown(() => server.close());

  const good = await SocketClient.connect(server.path);
  t.teardown(() => good.close());
  await good.hello('good');
  await good.configure({ stream: 0, width: 64, height: 64, format: 'GRAY8', spacing: [0.2, 0.2], fps: 30 });
  await good.subscribe({ streams: [0] });
  const sleeper = await SocketClient.connect(server.path);
  await sleeper.hello('sleeper');
  await sleeper.subscribe({});
  sleeper.socket.pause();
  t.teardown(() => sleeper.socket.destroy());

  const goodRing = makeRing('good');
  const fuzzRing = makeRing('fuzz');
  const ringClient = await SocketClient.connect(server.path);
  t.teardown(() => ringClient.close());
  await ringClient.hello('good-ring');
  await ringClient.configure({ stream: 1, width: 64, height: 64, format: 'GRAY8', spacing: [0.2, 0.2], fps: 30, ring: { name: goodRing.name, slots: 4, slotBytes: 4096 } });
  await ringClient.subscribe({ streams: [1] });
  let ringSeq = 0;
  let ringResults = 0;
  let ringReleases = 0;
  ringClient.on('message', (m: Message) => { if (m.header.type === MessageType.SLOT_RELEASE && parseSlotRelease(m.body).stream === 1) ringReleases++; });
  const ringOne = async () => {
    const slot = ringSeq % 4;
    writeSync(goodRing.fd, Buffer.alloc(4096, (ringSeq + 1) & 0xff), 0, 4096, slotOffset(slot, 4096));
    const got = ringClient.next(MessageType.RESULT, 5000);
    ringClient.send(msg.frameReady(ringClient.nextSeq(), { stream: 1, seq: ++ringSeq, t: 0, slot }));
    const r = parseResult((await got).body);
    if (r.seq === ringSeq && r.lvAreaMm2 === (ringSeq & 0xff)) ringResults++;
  };

  let frameSeq = 0;
  let results = 0;
  const streamOne = async () => {
    const got = good.next(MessageType.RESULT, 5000);
    good.sendFrame(0, ++frameSeq, Buffer.alloc(4096, frameSeq & 0xff));
    const r = parseResult((await got).body);
    if (r.seq === frameSeq) results++;
  };

  const rss0 = process.memoryUsage().rss;
  for (let round = 0; round < ROUNDS; round++) {
    const s = net.createConnection(server.path);
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    if (rand(2)) s.write(hello);
    for (let k = 0, n = 1 + rand(6); k < n; k++) s.write(mutate());
    if (rand(4) === 0) {
      // disconnect in the middle of a frame
      s.write(Buffer.concat([encodeMessage(msg.configure(2, { stream: 100 + (round % 8), width: 32, height: 32, format: 'GRAY8', spacing: [1, 1], fps: 1 })),
        encodeMessage(msg.frame(3, { stream: 100 + (round % 8), seq: 1, t: 0 }, Buffer.alloc(1024))).subarray(0, 24 + rand(500))]));
    }
    if (rand(3) === 0) {
      // a ring stream, then FRAME_READY for random slots (some out of range, some held twice) and streams; often gone holding slots
      const stream = 200 + (round % 4);
      const parts = [encodeMessage(msg.configure(4, { stream, width: 32, height: 32, format: 'GRAY8', spacing: [1, 1], fps: 1,
        ring: rand(4) ? { name: fuzzRing.name, slots: 4, slotBytes: 4096 } : { name: `/sonoedge-fuzz-none-${rand(1000)}`, slots: 2 + rand(8), slotBytes: 4096 * (1 + rand(2)) } }))];
      for (let k = 0, n = 1 + rand(8); k < n; k++) {
        parts.push(encodeMessage(msg.frameReady(5 + k, { stream: rand(5) ? stream : rand(300), seq: k, t: 0, slot: rand(7) })));
      }
      if (rand(2)) parts.push(encodeMessage(msg.slotRelease(20, { stream, slot: rand(4), seq: 1 })));
      s.write(Buffer.concat(parts));
    }
    if (rand(3) === 0) s.destroy(); else s.end();
    if (round % 5 === 0) await streamOne();
    if (round % 5 === 2) await ringOne();
  }
  await streamOne();
  await ringOne();
  t.equal(ringResults, ringSeq, `the ring client got all ${ringSeq} results during the fuzz`);
  t.equal(ringReleases, ringSeq, 'and every one of its slots back');
  t.equal(results, frameSeq, `the good client got all ${frameSeq} results during the fuzz`);
  t.ok(server.stats.rejected > ROUNDS / 2, `bad inputs were rejected and counted: ${server.stats.rejected}`);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(server.stats.clients, 3, 'only the good clients and the sleeper remain');
  t.notOk(readFileSync('/proc/self/maps', 'utf8').includes(fuzzRing.name), 'every fuzz connection\'s ring was unmapped');
  t.equal((await good.request((seq) => msg.ping(seq))).header.type, MessageType.PONG);
  const grown = process.memoryUsage().rss - rss0;
  t.ok(grown < 96 * 1024 * 1024, `memory stays bounded (RSS grew ${(grown / 1048576).toFixed(1)} MiB)`);
  t.ok(server.stats.resultsDropped > 0 || server.stats.resultsSent > 0, 'the sleeper never stalled the stream');
});

t.test('a message announcing the maximum size is refused before its body arrives', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-fuzz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = new SocketServer({ path: path.join(dir, 'g.sock'), maxMessageSize: 1000, handler: async () => ({}) });
  await server.listen();
  t.teardown(() => server.close());
  const c = await SocketClient.connect(server.path);
  t.teardown(() => c.close());
  await c.hello();
  const errs: Message[] = [];
  c.on('message', (m: Message) => errs.push(m));
  const big = encodeMessage({ type: MessageType.FRAME, seq: 9, body: { stream: 0, seq: 1, t: 0 }, payload: Buffer.alloc(10) });
  big.writeUInt32LE(50_000_000, 12);
  const { crc32c } = await import('../../src/protocol/crc.js');
  big.writeUInt32LE(crc32c(big, 0, 20), 20);
  c.socket.write(big.subarray(0, 24));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(errs.length, 1, 'the ERROR comes after the 24 header bytes alone');
  t.equal(errs[0].header.type, MessageType.ERROR);
});
