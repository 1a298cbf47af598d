// Shared-memory frames (FRAME_READY / SLOT_RELEASE) through the real server,
// over a real Unix socket, with real POSIX shared-memory objects under
// /dev/shm (made here the way shm_open + ftruncate make them: a file under
// /dev/shm; the C client test makes them with shm_open itself). The frame
// handler is a stand-in for the ML pipeline only, except where a real
// Preprocessor reads the slot in place.
import t from 'tap';
import { closeSync, existsSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes as cryptoRandom } from 'node:crypto';
import type { Message } from '../../src/protocol/codec.js';
import { Flag, MessageType } from '../../src/protocol/constants.js';
import { WireError } from '../../src/protocol/errors.js';
import { msg, parseConfigureReply, parseError, parseResult, parseSlotRelease, type ConfigureStream, type RingRequest } from '../../src/protocol/messages.js';
import { encodeRingHeader, ringBytes, slotOffset } from '../../src/protocol/ring.js';
import { Preprocessor } from '../../src/preprocess/index.js';
import { SocketClient, RemoteError } from '../../src/transport/socket-client.js';
import { SocketServer, type FrameHandler } from '../../src/transport/socket-server.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-shm-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const W = 64;
const H = 48;
const FRAME = W * H;
const SLOT = 4096;

/** A ring as firmware makes it: the object, its header, and pwrite into slots. */
function firmwareRing(slots = 4, slotBytes = SLOT, o: { header?: Buffer; size?: number } = {}) {
  const name = `/sonoedge-test-${process.pid}-${cryptoRandom(4).toString('hex')}`;
  const file = `/dev/shm${name}`;
  const fd = openSync(file, 'wx+', 0o600);
  ftruncateSync(fd, o.size ?? ringBytes(slots, slotBytes));
  const header = o.header ?? encodeRingHeader({ slots, slotBytes });
  writeSync(fd, header, 0, header.length, 0);
  t.teardown(() => { closeSync(fd); rmSync(file, { force: true }); });
  return {
    name, file, slots, slotBytes,
    write(slot: number, fill: number) { writeSync(fd, Buffer.alloc(FRAME, fill), 0, FRAME, slotOffset(slot, slotBytes)); },
    writeBytes(slot: number, bytes: Uint8Array) { writeSync(fd, bytes, 0, bytes.length, slotOffset(slot, slotBytes)); },
  };
}

const mapped = (name: string) => readFileSync('/proc/self/maps', 'utf8').includes(`/dev/shm${name}`);
const geometry = (ring?: RingRequest, stream = 0): ConfigureStream => ({ stream, width: W, height: H, format: 'GRAY8', spacing: [0.3, 0.3], fps: 30, ring });
const standIn: FrameHandler = async (f) => ({ view: 'A4C', confidence: 0.9, quality: 0.8, lvAreaMm2: f.pixels[0], flags: 4 });

async function start(handler: FrameHandler = standIn, opts: Partial<ConstructorParameters<typeof SocketServer>[0]> = {}) {
  const server = new SocketServer({ path: path.join(dir, `s${n++}.sock`), handler, ...opts });
  await server.listen();
  t.teardown(() => server.close());
  return server;
}

/** A connected, HELLO'd client that records every unsolicited message. */
async function client(server: SocketServer) {
  const c = await SocketClient.connect(server.path);
  t.teardown(() => c.close());
  await c.hello('shm-test');
  const got: Message[] = [];
  const waiters: Array<() => void> = [];
  c.on('message', (m: Message) => { got.push(m); for (const w of waiters.splice(0)) w(); });
  const until = async (pred: () => boolean, what: string, ms = 3000) => {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`Expected ${what} within ${ms} ms but received ${got.map((m) => m.header.type).join(',')}`);
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 20); });
    }
  };
  const of = (type: number) => got.filter((m) => m.header.type === type);
  const frameReady = (stream: number, seq: number, slot: number) => c.send(msg.frameReady(c.nextSeq(), { stream, seq, t: seq * 10, slot }));
  return { c, got, until, of, frameReady };
}

const remote = async (p: Promise<unknown>) => {
  try { await p; } catch (e) { return e as RemoteError; }
  throw new Error('Expected an ERROR reply but received success');
};
const gate = () => { let open!: () => void; const p = new Promise<void>((r) => { open = r; }); return { p, open }; };

t.test('frames through a firmware ring: read in place, every slot comes back', async (t) => {
  const ring = firmwareRing(4);
  const seen: Array<{ seq: number; first: number; offset: number; bufferBytes: number }> = [];
  const server = await start(async (f) => {
    seen.push({ seq: f.seq, first: f.pixels[0], offset: f.pixels.byteOffset, bufferBytes: f.pixels.buffer.byteLength });
    t.equal(f.pixels.length, FRAME, 'the view is one frame long');
    return standIn(f, async (_n, fn) => fn());
  });
  const { c, until, of, frameReady } = await client(server);
  const reply = parseConfigureReply((await c.configure(geometry({ name: ring.name, slots: 4, slotBytes: SLOT }))).body);
  t.same(reply, { stream: 0, frameBytes: FRAME, ring: { name: ring.name, slots: 4, slotBytes: SLOT } });
  t.ok(mapped(ring.name), 'the runtime mapped the ring');
  await c.subscribe({ streams: [0] });
  for (let i = 1; i <= 12; i++) {
    const slot = (i - 1) % 4;
    ring.write(slot, i);
    frameReady(0, i, slot);
    await until(() => of(MessageType.SLOT_RELEASE).length === i, `SLOT_RELEASE ${i}`);
  }
  await until(() => of(MessageType.RESULT).length === 12, '12 results');
  t.same(of(MessageType.SLOT_RELEASE).map((m) => parseSlotRelease(m.body)),
    Array.from({ length: 12 }, (_, k) => ({ stream: 0, slot: k % 4, seq: k + 1 })), 'one SLOT_RELEASE per frame, in order');
  t.ok(of(MessageType.SLOT_RELEASE).every((m) => m.header.flags === 0), 'SLOT_RELEASE is not a reply');
  t.same(of(MessageType.RESULT).map((m) => parseResult(m.body).lvAreaMm2), Array.from({ length: 12 }, (_, k) => k + 1), 'each result saw its frame');
  t.same(seen.map((s) => s.offset), Array.from({ length: 12 }, (_, k) => slotOffset(k % 4, SLOT)), 'pixels are views at the slot offsets');
  t.ok(seen.every((s) => s.bufferBytes === ringBytes(4, SLOT)), 'of the one mapping of the whole ring (no copy)');
  t.equal(server.stats.framesIn, 12);
  t.equal(server.stats.framesProcessed, 12);
});

t.test('the frame is the live mapping, and a real Preprocessor reads it in place', async (t) => {
  const ring = firmwareRing(2);
  const pre = new Preprocessor({ input: { width: W, height: H, format: 'GRAY8' }, output: { width: 32, height: 32 }, resize: 'area' });
  const viaSlot: Array<ArrayLike<number>> = [];
  const late: number[] = [];
  const hold = gate();
  const server = await start(async (f) => {
    viaSlot.push(await pre.runAsync(f.pixels, pre.createOutput()));
    await hold.p;
    late.push(f.pixels[0]);
    return {};
  });
  const { c, until, of, frameReady } = await client(server);
  await c.configure(geometry({ name: ring.name, slots: 2, slotBytes: SLOT }));
  const pattern = Buffer.from(Array.from({ length: FRAME }, (_, i) => (i * 7) & 0xff));
  writeSync(openSync(ring.file, 'r+'), pattern, 0, FRAME, slotOffset(1, SLOT));
  frameReady(0, 1, 1);
  await until(() => viaSlot.length === 1, 'the handler ran');
  t.same(viaSlot[0], pre.run(pattern, pre.createOutput()), 'preprocessing the slot equals preprocessing a copy');
  ring.write(1, 99); // a misbehaving firmware writing a held slot: the runtime sees it, proof the view is the shared page
  hold.open();
  await until(() => of(MessageType.SLOT_RELEASE).length === 1, 'the release');
  t.same(late, [99]);
});

t.test('latest wins: a replaced frame is released without being processed', async (t) => {
  const ring = firmwareRing(4);
  const hold = gate();
  const ran: number[] = [];
  const server = await start(async (f) => { ran.push(f.seq); if (f.seq === 1) await hold.p; return {}; });
  const { c, until, of, frameReady } = await client(server);
  await c.configure(geometry({ name: ring.name, slots: 4, slotBytes: SLOT }));
  await c.subscribe({ streams: [0] });
  frameReady(0, 1, 0);
  frameReady(0, 2, 1);
  frameReady(0, 3, 2);
  await until(() => of(MessageType.SLOT_RELEASE).length === 1, 'the replaced frame\'s slot');
  t.same(parseSlotRelease(of(MessageType.SLOT_RELEASE)[0].body), { stream: 0, slot: 1, seq: 2 }, 'frame 2 (slot 1) was replaced by frame 3');
  t.equal(of(MessageType.RESULT).length, 0, 'released before any result, while frame 1 still runs');
  hold.open();
  await until(() => of(MessageType.SLOT_RELEASE).length === 3 && of(MessageType.RESULT).length === 2, 'the rest');
  t.same(ran, [1, 3]);
  t.same(of(MessageType.SLOT_RELEASE).map((m) => parseSlotRelease(m.body).slot), [1, 0, 2]);
  t.equal(server.stats.framesDropped, 1);
  const order = of(MessageType.SLOT_RELEASE).concat(of(MessageType.RESULT)).map((m) => m.header.seq).sort((a, b) => a - b);
  t.ok(parseSlotRelease(of(MessageType.SLOT_RELEASE)[1].body).seq === 1 && of(MessageType.SLOT_RELEASE)[1].header.seq < of(MessageType.RESULT)[0].header.seq,
    `a slot comes back before its frame's RESULT (${order.join(',')})`);
});

t.test('FRAME_READY errors: no stream, no ring, slot out of range, slot already held, SLOT_RELEASE from a client', async (t) => {
  const ring = firmwareRing(4);
  const hold = gate();
  const server = await start(async () => { await hold.p; return {}; });
  const { c } = await client(server);
  const fr = (stream: number, slot: number) => remote(c.request((seq) => msg.frameReady(seq, { stream, seq: 1, t: 0, slot })));
  let e = await fr(0, 0);
  t.same([e.wireCode, e.message], [WireError.UNKNOWN_STREAM, 'Expected a stream configured on this connection but received stream 0']);
  await c.configure(geometry(undefined, 1));
  e = await fr(1, 0);
  t.same([e.wireCode, e.code, e.message], [WireError.RING, 'ERR_SONOEDGE_REMOTE_RING',
    'Expected a stream configured with CONFIGURE_STREAM.ring for FRAME_READY but received stream 1, which has no ring']);
  await c.configure(geometry({ name: ring.name, slots: 4, slotBytes: SLOT }));
  e = await fr(0, 4);
  t.same([e.wireCode, e.code, e.message], [WireError.SLOT, 'ERR_SONOEDGE_REMOTE_SLOT', 'Expected a slot 0..3 of stream 0 but received 4']);
  c.send(msg.frameReady(c.nextSeq(), { stream: 0, seq: 1, t: 0, slot: 2 }));
  e = await fr(0, 2);
  t.same([e.wireCode, e.message], [WireError.SLOT,
    'Expected a slot the firmware owns for FRAME_READY on stream 0 but received slot 2, which the runtime holds until its SLOT_RELEASE']);
  e = await remote(c.request((seq) => msg.slotRelease(seq, { stream: 0, slot: 2, seq: 1 })));
  t.same([e.wireCode, e.message], [WireError.UNSUPPORTED, 'Expected a request but received SLOT_RELEASE, which only the runtime sends']);
  e = await remote(c.request((seq) => msg.frameReady(seq, { stream: 0, seq: 1, t: 0, slot: -1 as number })));
  t.equal(e.wireCode, WireError.BAD_FIELD);
  hold.open();
});

t.test('CONFIGURE_STREAM ring errors are typed and change nothing', async (t) => {
  const good = firmwareRing(4);
  const server = await start();
  const { c, until, of, frameReady } = await client(server);
  await c.configure(geometry({ name: good.name, slots: 4, slotBytes: SLOT }));
  const cfg = async (ring: RingRequest | Record<string, unknown>) => remote(c.configure(geometry(ring as RingRequest)));
  const cases: Array<[string, RingRequest | Record<string, unknown>, number, string | RegExp]> = [
    ['missing', { name: '/sonoedge-test-none', slots: 4, slotBytes: SLOT }, WireError.RING,
      'Expected an existing shared-memory object for CONFIGURE_STREAM.ring.name but received "/sonoedge-test-none", not under /dev/shm '
        + '(ERR_SONOEDGE_SHM_OPEN ENOENT: shm_open /sonoedge-test-none: No such file or directory)'],
    ['slash', { name: '/a/b', slots: 4, slotBytes: SLOT }, WireError.BAD_FIELD,
      'Expected a shared-memory name "/" + 1..200 of [A-Za-z0-9._-] with no other slash for CONFIGURE_STREAM.ring.name but received "/a/b" of type string'],
    ['dot-dot', { name: '/..', slots: 4, slotBytes: SLOT }, WireError.BAD_FIELD, /CONFIGURE_STREAM\.ring\.name but received "\/\.\."/],
    ['no slash', { name: 'ring', slots: 4, slotBytes: SLOT }, WireError.BAD_FIELD, /CONFIGURE_STREAM\.ring\.name but received "ring"/],
    ['one slot', { name: good.name, slots: 1, slotBytes: SLOT }, WireError.BAD_FIELD, 'Expected integer 2..64 for CONFIGURE_STREAM.ring.slots but received 1 of type number'],
    ['unaligned', { name: good.name, slots: 4, slotBytes: 5000 }, WireError.BAD_FIELD, 'Expected a multiple of 4096 for CONFIGURE_STREAM.ring.slotBytes but received 5000 of type number'],
    ['slot too small', { name: good.name, slots: 4, slotBytes: SLOT }, WireError.BAD_FIELD, ''],
  ];
  for (const [what, ring, code, message] of cases) {
    if (what === 'slot too small') {
      const e = await remote(c.configure({ ...geometry(ring as RingRequest), width: 128 }));
      t.same([e.wireCode, e.message], [code, 'Expected at least 6144 (frameBytes) for CONFIGURE_STREAM.ring.slotBytes but received 4096 of type number'], what);
      continue;
    }
    const e = await cfg(ring);
    t.equal(e.wireCode, code, `${what}: code`);
    if (typeof message === 'string') t.equal(e.message, message, `${what}: message`);
    else t.match(e.message, message, `${what}: message`);
  }
  // msg.configure never writes both keys: send the body as a careless firmware would.
  const both = await remote(c.request((seq) => ({ ...msg.configure(seq, geometry()), body: { ...geometry(), ring: { name: good.name, create: true, slots: 4 } } })));
  t.same([both.wireCode, both.message], [WireError.BAD_FIELD, 'Expected either CONFIGURE_STREAM.ring.name or CONFIGURE_STREAM.ring.create but received both']);
  const small = firmwareRing(4, SLOT, { size: ringBytes(4, SLOT) - 1 });
  let e = await cfg({ name: small.name, slots: 4, slotBytes: SLOT });
  t.same([e.wireCode, e.message], [WireError.RING, `Expected at least ${ringBytes(4, SLOT)} bytes (4096 + slots x slotBytes) in ring "${small.name}" but received ${ringBytes(4, SLOT) - 1} (ERR_SONOEDGE_SHM_SIZE)`]);
  const badMagic = firmwareRing(4, SLOT, { header: Buffer.from('JUNK') });
  e = await cfg({ name: badMagic.name, slots: 4, slotBytes: SLOT });
  t.same([e.wireCode, e.message], [WireError.RING, `Expected magic "SONR" (0x524e4f53) in the header of ring ${badMagic.name} but received 0x4b4e554a`]);
  const other = firmwareRing(8, SLOT);
  e = await cfg({ name: other.name, slots: 4, slotBytes: SLOT });
  t.same([e.wireCode, e.message], [WireError.RING, `Expected slots 4 (as in CONFIGURE_STREAM.ring.slots) in the header of ring ${other.name} but received 8`]);
  t.notOk(mapped(other.name) || mapped(badMagic.name) || mapped(small.name), 'a refused ring is not left mapped');
  const dirName = `/sonoedge-test-dir-${process.pid}`;
  mkdirSync(`/dev/shm${dirName}`);
  t.teardown(() => rmdirSync(`/dev/shm${dirName}`));
  e = await cfg({ name: dirName, slots: 4, slotBytes: SLOT });
  t.same([e.wireCode, e.message], [WireError.RING, `Expected a regular file for CONFIGURE_STREAM.ring.name but received "${dirName}", which is not one (ERR_SONOEDGE_SHM_NOT_REGULAR)`]);
  // The stream still has its first ring and geometry.
  good.write(3, 42);
  await c.subscribe({ streams: [0] });
  frameReady(0, 1, 3);
  await until(() => of(MessageType.RESULT).length === 1, 'a result on the untouched ring');
  t.equal(parseResult(of(MessageType.RESULT)[0].body).lvAreaMm2, 42);
  t.equal(parseSlotRelease(of(MessageType.SLOT_RELEASE)[0].body).slot, 3);
});

t.test('a ring the runtime creates: named in the reply, unlinked when the stream closes', async (t) => {
  const server = await start();
  const { c, until, of, frameReady } = await client(server);
  const reply = parseConfigureReply((await c.configure(geometry({ create: true, slots: 3 }))).body);
  t.match(reply.ring, { slots: 3, slotBytes: 4096 });
  const name = reply.ring!.name;
  t.match(name, /^\/sonoedge-\d+-[0-9a-f]{12}$/);
  const file = `/dev/shm${name}`;
  t.same(readFileSync(file).subarray(0, 4096), encodeRingHeader({ slots: 3, slotBytes: 4096 }), 'the header is written');
  t.equal(readFileSync(file).length, ringBytes(3, 4096));
  const fd = openSync(file, 'r+');
  t.teardown(() => closeSync(fd));
  writeSync(fd, Buffer.alloc(FRAME, 77), 0, FRAME, slotOffset(2, 4096));
  await c.subscribe({ streams: [0] });
  frameReady(0, 5, 2);
  await until(() => of(MessageType.RESULT).length === 1, 'a result');
  t.equal(parseResult(of(MessageType.RESULT)[0].body).lvAreaMm2, 77);
  const closed = new Promise((r) => server.once('streamClosed', r));
  await c.request((seq) => msg.closeStream(seq, { stream: 0 }));
  await closed;
  t.notOk(existsSync(file), 'unlinked');
  t.notOk(mapped(name), 'unmapped');
});

t.test('CLOSE_STREAM with a frame in flight: its SLOT_RELEASE, then the reply; views are detached', async (t) => {
  const ring = firmwareRing(4);
  const hold = gate();
  let view: Uint8Array | undefined;
  const server = await start(async (f) => { view = f.pixels; await hold.p; return {}; });
  const { c, until, of, frameReady, got } = await client(server);
  await c.configure(geometry({ name: ring.name, slots: 4, slotBytes: SLOT }));
  ring.write(0, 5);
  frameReady(0, 1, 0);
  frameReady(0, 2, 1);
  await until(() => view !== undefined && of(MessageType.SLOT_RELEASE).length === 0 && server.stats.framesIn === 2, 'frame 1 running, 2 waiting');
  const events: string[] = [];
  server.on('ringClosed', (id: number, name: string) => events.push(`ringClosed ${id} ${name === ring.name}`));
  server.on('streamClosed', (id: number) => events.push(`streamClosed ${id}`));
  const replied = c.request((seq) => msg.closeStream(seq, { stream: 0 })).then((m) => { events.push('reply'); return m; });
  await until(() => of(MessageType.SLOT_RELEASE).length === 1, 'the waiting frame released at once');
  t.same(parseSlotRelease(of(MessageType.SLOT_RELEASE)[0].body), { stream: 0, slot: 1, seq: 2 });
  t.ok(mapped(ring.name), 'still mapped while frame 1 runs');
  t.equal(view![0], 5, 'and the running frame still reads its slot');
  hold.open();
  const reply = await replied;
  t.equal(reply.header.flags & Flag.REPLY, Flag.REPLY);
  const releases = got.filter((m) => m.header.type === MessageType.SLOT_RELEASE);
  t.same(releases.map((m) => parseSlotRelease(m.body).slot), [1, 0], 'both slots came back');
  t.same(events, ['ringClosed 0 true', 'streamClosed 0', 'reply']);
  t.notOk(mapped(ring.name), 'unmapped');
  t.equal(view!.length, 0, 'a view kept past close is detached (reads nothing), not dangling');
});

t.test('reconfigure: the same ring is kept; a new ring waits for the old one\'s slots', async (t) => {
  const a = firmwareRing(4);
  const b = firmwareRing(2);
  const hold = gate();
  const server = await start(async (f) => { if (f.seq === 1) await hold.p; return { lvAreaMm2: f.pixels[0] }; });
  const { c, until, of, frameReady } = await client(server);
  await c.configure(geometry({ name: a.name, slots: 4, slotBytes: SLOT }));
  await c.subscribe({ streams: [0] });
  a.write(0, 1);
  frameReady(0, 1, 0);
  // Same ring, new fps: answered at once, slot 0 still held.
  await c.configure({ ...geometry({ name: a.name, slots: 4, slotBytes: SLOT }), fps: 60 });
  const again = await remote(c.request((seq) => msg.frameReady(seq, { stream: 0, seq: 9, t: 0, slot: 0 })));
  t.equal(again.wireCode, WireError.SLOT, 'slot 0 is still the runtime\'s after a reconfigure that keeps the ring');
  let answered = false;
  const switched = c.configure(geometry({ name: b.name, slots: 2, slotBytes: SLOT })).then((m) => { answered = true; return m; });
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(answered, 'no reply while the old ring holds a slot');
  const early = await remote(c.request((seq) => msg.frameReady(seq, { stream: 0, seq: 2, t: 0, slot: 1 })));
  t.same([early.wireCode, early.message], [WireError.RING,
    'Expected FRAME_READY for stream 0 after the CONFIGURE_STREAM reply but received it while the old ring is being released']);
  const closedRings: string[] = [];
  server.on('ringClosed', (_id: number, name: string) => closedRings.push(name));
  hold.open();
  const reply = parseConfigureReply((await switched).body);
  t.equal(reply.ring!.name, b.name);
  t.same(of(MessageType.SLOT_RELEASE).map((m) => parseSlotRelease(m.body)), [{ stream: 0, slot: 0, seq: 1 }], 'the old slot came back before the reply');
  t.same(closedRings, [a.name]);
  t.notOk(mapped(a.name));
  b.write(1, 33);
  frameReady(0, 3, 1);
  await until(() => of(MessageType.RESULT).length === 2, 'a result from the new ring');
  t.equal(parseResult(of(MessageType.RESULT)[1].body).lvAreaMm2, 33);
});

t.test('reconfigure to a new frame size on the same ring: a frame held before it keeps its own size and geometry', async (t) => {
  // Old 64x48 GRAY8 (3072 bytes), new 96x64 (6144 bytes), one 8192-byte ring kept across the reconfigure. Frame 1
  // runs (held by the handler) and frame 2 waits in the scheduler when CONFIGURE_STREAM arrives; frame 3, of the new
  // size, is sent while the stream's new models are still loading (prepare held). Frame 1 must be read through a view
  // of its own size and preprocessed for its own geometry, even after the ring's views were resized, with other bytes
  // past its end; frame 2, of the configuration replaced, is dropped unread and its slot comes back at once.
  const SLOT8K = 8192;
  const ring = firmwareRing(4, SLOT8K);
  const big = { width: 96, height: 64 };
  const pattern = (bytes: number, salt: number) => Uint8Array.from({ length: bytes }, (_, i) => (i * 7 + salt) & 0xff);
  const pres = new Map<number, Preprocessor>();
  const preFor = (width: number, height: number) => {
    let p = pres.get(width);
    if (!p) pres.set(width, p = new Preprocessor({ input: { width, height, format: 'GRAY8' }, output: { width: 32, height: 32 }, resize: 'area' }));
    return p;
  };
  const expected = (width: number, height: number, bytes: Uint8Array) => Array.from(preFor(width, height).run(bytes, preFor(width, height).createOutput()));
  const running = gate();
  const hold = gate();
  const loading = gate();
  const seen: Array<{ seq: number; width: number; length: number; before: number[]; after?: { length: number; out: number[] } }> = [];
  const server = await start(async (f) => {
    const pre = preFor(f.config.width, f.config.height);
    const entry: (typeof seen)[number] = { seq: f.seq, width: f.config.width, length: f.pixels.length, before: Array.from(await pre.runAsync(f.pixels, pre.createOutput())) };
    seen.push(entry);
    if (f.seq === 1) {
      running.open();
      await hold.p;
      // Read again after the reconfigure: the same view, the same size.
      entry.after = { length: f.pixels.length, out: Array.from(await pre.runAsync(f.pixels, pre.createOutput())) };
    }
    return { lvAreaMm2: f.pixels.length };
  }, { prepare: async (_stream, config) => { if (config.width === big.width) await loading.p; } });
  const { c, until, of, frameReady } = await client(server);
  const info = { name: ring.name, slots: 4, slotBytes: SLOT8K };
  await c.configure(geometry(info));
  await c.subscribe({ streams: [0] });
  const f1 = pattern(FRAME, 1);
  ring.writeBytes(0, f1);
  ring.writeBytes(1, pattern(FRAME, 2));
  frameReady(0, 1, 0);
  await running.p;
  frameReady(0, 2, 1);
  let answered = false;
  const reconfigured = c.configure({ ...geometry(info), ...big }).then((m) => { answered = true; return m; });
  await until(() => of(MessageType.SLOT_RELEASE).length === 1, 'the waiting frame\'s slot back at the reconfigure');
  t.same(parseSlotRelease(of(MessageType.SLOT_RELEASE)[0].body), { stream: 0, slot: 1, seq: 2 }, 'frame 2 dropped, slot 1 back');
  // Slot 0 is still held, written for 64x48; the firmware fills what follows that frame with bytes not its own.
  const f3 = pattern(big.width * big.height, 3);
  ring.writeBytes(2, f3);
  ring.writeBytes(0, Uint8Array.from([...f1, ...pattern(SLOT8K - FRAME, 99)]));
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(answered, 'no reply while the new models load');
  frameReady(0, 3, 2);
  hold.open();
  await until(() => of(MessageType.RESULT).length === 2, 'results of frames 1 and 3');
  loading.open();
  t.same(parseConfigureReply((await reconfigured).body), { stream: 0, frameBytes: big.width * big.height, ring: info });
  t.same(seen.map((s) => [s.seq, s.width, s.length]), [[1, W, FRAME], [3, big.width, big.width * big.height]],
    'each frame is read through a view of its own size, with its own geometry; frame 2 never');
  t.same(seen[0].before, expected(W, H, f1), 'frame 1 preprocessed as written');
  t.same(seen[0].after, { length: FRAME, out: expected(W, H, f1) }, 'and still, after the reconfigure resized the ring\'s views');
  t.same(seen[1].before, expected(big.width, big.height, f3), 'frame 3 preprocessed at the new size');
  t.same(of(MessageType.RESULT).map((m) => parseResult(m.body).lvAreaMm2), [FRAME, big.width * big.height]);
  t.same(of(MessageType.SLOT_RELEASE).map((m) => parseSlotRelease(m.body).slot), [1, 0, 2], 'every slot came back');
  t.match(server.stats, { framesIn: 3, framesProcessed: 2, framesDropped: 1 });
  t.equal(of(MessageType.ERROR).length, 0);
});

t.test('a client that disconnects with slots held: the ring is unmapped after its frame; others are served', async (t) => {
  const ring = firmwareRing(4);
  const other = firmwareRing(2);
  const hold = gate();
  let running = false;
  const server = await start(async (f) => { if (f.stream === 0) { running = true; await hold.p; } return { lvAreaMm2: f.pixels[0] }; });
  const x = await client(server);
  await x.c.configure(geometry({ name: ring.name, slots: 4, slotBytes: SLOT }));
  x.frameReady(0, 1, 0);
  x.frameReady(0, 2, 1);
  await x.until(() => running, 'frame 1 running');
  const closed = new Promise((r) => server.once('streamClosed', r));
  x.c.socket.destroy();
  const y = await client(server);
  await y.c.configure(geometry({ name: other.name, slots: 2, slotBytes: SLOT }, 1));
  await y.c.subscribe({ streams: [1] });
  other.write(0, 8);
  y.frameReady(1, 1, 0);
  await y.until(() => y.of(MessageType.RESULT).length === 1, 'the other client\'s result');
  t.ok(mapped(ring.name), 'the disconnected client\'s ring stays mapped while its frame runs');
  hold.open();
  await closed;
  t.notOk(mapped(ring.name), 'then it is unmapped');
  t.equal(server.stats.clients, 1);
});

t.test('a client that reuses slots it does not own, never reading: SLOT errors, then dropped; memory stays bounded', async (t) => {
  const ring = firmwareRing(4);
  const good = firmwareRing(2);
  const server = await start(async (f) => ({ lvAreaMm2: f.pixels[0] }), { maxErrorsPerClient: 16, maxPendingWriteBytes: 4096 });
  const bad = await client(server);
  await bad.c.configure(geometry({ name: ring.name, slots: 4, slotBytes: SLOT }));
  bad.c.socket.pause(); // never reads its SLOT_RELEASEs
  const dropped = new Promise((r) => server.once('disconnect', r));
  const rss0 = process.memoryUsage().rss;
  for (let i = 1; i <= 400; i++) bad.frameReady(0, i, i % 4);
  await dropped;
  t.ok(server.stats.disconnectedForErrors >= 1, 'disconnected for errors');
  const g = await client(server);
  await g.c.configure(geometry({ name: good.name, slots: 2, slotBytes: SLOT }, 1));
  await g.c.subscribe({ streams: [1] });
  for (let i = 1; i <= 10; i++) {
    good.write(i % 2, i);
    g.frameReady(1, i, i % 2);
    await g.until(() => g.of(MessageType.SLOT_RELEASE).length === i, `release ${i}`);
  }
  t.equal(g.of(MessageType.RESULT).length >= 9, true, 'the well-behaved client is served');
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(mapped(ring.name), 'the dropped client\'s ring is unmapped');
  t.ok(process.memoryUsage().rss - rss0 < 64 * 1024 * 1024, 'memory bounded');
  t.equal(g.of(MessageType.ERROR).length, 0);
  const errs = bad.of(MessageType.ERROR).map((m) => parseError(m.body).code);
  t.ok(errs.every((code) => code === WireError.SLOT), 'only SLOT errors were sent to the bad client (those it read)');
});

t.test('FRAME_READY for a stopped stream: the slot comes back at once, one ERROR STREAM_STOPPED per stop, nothing runs', async (t) => {
  const ring = firmwareRing(4);
  let handled = 0;
  const server = await start(async (f) => { handled++; return standIn(f, async (_n, fn) => fn()); });
  const { c, until, of, frameReady } = await client(server);
  await c.configure(geometry({ name: ring.name, slots: 4, slotBytes: SLOT }));
  server.setStreamStopped(0, true);
  for (let i = 1; i <= 6; i++) {
    const slot = (i - 1) % 4;
    ring.write(slot, i);
    frameReady(0, i, slot);
    await until(() => of(MessageType.SLOT_RELEASE).length === i, `SLOT_RELEASE ${i}`);
  }
  t.same(of(MessageType.SLOT_RELEASE).map((m) => parseSlotRelease(m.body).slot), [0, 1, 2, 3, 0, 1], 'each slot back at once');
  t.same(of(MessageType.ERROR).map((m) => parseError(m.body).name), ['STREAM_STOPPED']);
  t.same([handled, server.stats.framesIn, server.stats.framesDropped], [0, 6, 6]);
});
