// The socket server over a real Unix domain socket, with real clients.
// The frame handler here is a stand-in for the ML pipeline ONLY (it returns a
// fixed RESULT); the transport under test is the real one: framing, HELLO,
// streams, subscriptions, queues, errors.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { decodeMessage, encodeMessage, type Message } from '../../src/protocol/codec.js';
import { Flag, HEADER_SIZE, MessageType, Offset, RuntimeState } from '../../src/protocol/constants.js';
import { crc32c } from '../../src/protocol/crc.js';
import { WireError } from '../../src/protocol/errors.js';
import {
  msg, parseConfigureReply, parseError, parseHelloReply, parseModelReply, parseResult, parseStatsReply, parseStatusReply,
  type ConfigureStream, type OutboxStatus,
} from '../../src/protocol/messages.js';
import { SocketClient, RemoteError } from '../../src/transport/socket-client.js';
import { SocketServer, type FrameHandler } from '../../src/transport/socket-server.js';
import { within } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-sock-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const sockPath = () => path.join(dir, `s${n++}.sock`);

/** Stand-in for the ML pipeline only: a fixed result, LV area = first pixel. */
const standIn: FrameHandler = (f, stage) => stage('standin', () => ({
  view: 'A4C', confidence: 0.9, quality: 0.8, lvAreaMm2: f.pixels[0], ef: null, flags: 4,
  mask: { width: 2, height: 2, data: Uint8Array.from([0, 1, 1, 0]) },
}));

const geometry = (stream: number, width = 16, height = 8): ConfigureStream => ({ stream, width, height, format: 'GRAY8', spacing: [0.3, 0.3], fps: 30 });

async function start(opts: Partial<ConstructorParameters<typeof SocketServer>[0]> = {}) {
  const server = new SocketServer({ path: sockPath(), handler: standIn, ...opts });
  await server.listen();
  t.teardown(() => server.close());
  return server;
}
async function client(server: SocketServer, hello = true) {
  const c = await SocketClient.connect(server.path);
  t.teardown(() => c.close());
  if (hello) await c.hello('test');
  return c;
}
const errorOf = async (p: Promise<unknown>) => {
  try { await p; } catch (e) { return e as RemoteError; }
  throw new Error('Expected an ERROR reply but received success');
};

t.test('socket file mode defaults to 0660 and is configurable', async (t) => {
  const s = await start();
  t.equal(statSync(s.path).mode & 0o777, 0o660);
  const s2 = await start({ mode: 0o600 });
  t.equal(statSync(s2.path).mode & 0o777, 0o600);
  t.throws(() => new SocketServer({ handler: standIn, tcp: { port: 0, host: '0.0.0.0' } }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_SOCKET_OPTION', message: 'Expected a loopback address (127.x.x.x, ::1 or localhost) for tcp.host but received "0.0.0.0" of type string',
  });
  t.throws(() => new SocketServer({ handler: standIn, tcp: { port: 0, host: '127.300.0.1' } }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_SOCKET_OPTION', message: 'Expected a loopback address (127.x.x.x, ::1 or localhost) for tcp.host but received "127.300.0.1" of type string',
  }, 'a malformed 127 address is refused here, not at listen');
  t.equal(s.tcpPort, undefined, 'TCP is off by default');
});

t.test('tcp.host of another type than string: the RangeError a malformed host gets, naming tcp.host and the type received, refused at construction', async (t) => {
  const refused: [host: unknown, received: string][] = [
    [18944, '18944 of type number'],
    [true, 'true of type boolean'],
    [null, 'null'],
    [{ host: '127.0.0.1' }, 'object {"host":"127.0.0.1"}'],
    // Arrays that print as a loopback host: neither a Node TypeError from net's BlockList nor taken and listened on.
    [['127.0.0.1'], 'array of length 1'],
    [['localhost'], 'array of length 1'],
  ];
  for (const [host, received] of refused) {
    const err = (() => { try { new SocketServer({ path: sockPath(), handler: standIn, tcp: { port: 0, host: host as string } }); return undefined; } catch (e) { return e as Error; } })();
    t.equal(err?.constructor, RangeError, `${JSON.stringify(host)}: a RangeError`);
    t.equal((err as { code?: string } | undefined)?.code, 'ERR_SONOEDGE_SOCKET_OPTION', `${JSON.stringify(host)}: code`);
    t.equal(err?.message, `Expected a loopback address (127.x.x.x, ::1 or localhost) for tcp.host but received ${received}`, JSON.stringify(host));
  }
});

t.test('handler, streams and mode: a TypeError or RangeError ERR_SONOEDGE_SOCKET_OPTION at construction, nothing listening', async (t) => {
  // Before, these were bare TypeErrors and RangeErrors: no code named the socket's options.
  const refused: [options: unknown, cls: ErrorConstructor, message: string][] = [
    [{ path: sockPath() }, TypeError, 'Expected function for handler but received undefined'],
    [{ path: sockPath(), handler: 'standIn' }, TypeError, 'Expected function for handler but received string'],
    [{ path: sockPath(), handler: standIn, streams: new SocketServer({ path: sockPath(), handler: standIn }).streams }, TypeError,
      'Expected handler and prepare on the stream manager given as streams but received them on the server too'],
    [{ path: sockPath(), handler: standIn, mode: 0o1000 }, RangeError, 'Expected permission bits 0..0o777 for mode but received 512 of type number'],
    [{ path: sockPath(), handler: standIn, mode: -1 }, RangeError, 'Expected permission bits 0..0o777 for mode but received -1 of type number'],
    [{ path: sockPath(), handler: standIn, mode: 0.5 }, RangeError, 'Expected permission bits 0..0o777 for mode but received 0.5 of type number'],
  ];
  for (const [options, cls, message] of refused) {
    const o = options as ConstructorParameters<typeof SocketServer>[0];
    t.throws(() => new SocketServer(o), { name: cls.name, code: 'ERR_SONOEDGE_SOCKET_OPTION', message }, message);
    t.notOk(existsSync(o.path!), `${message}: no socket file`);
  }
});

t.test('a port that is not one: SocketClient.connect rejects (1..65535) and SocketServer throws for tcp.port (0..65535), RangeError ERR_SONOEDGE_SOCKET_OPTION', async (t) => {
  // Before, Node's own RangeError ERR_SOCKET_BAD_PORT (connect; the server's at listen), or a connection to port 0.
  const bad: [port: unknown, received: string][] = [
    [-1, '-1 of type number'], [65536, '65536 of type number'], [1.5, '1.5 of type number'], [Number.NaN, 'NaN of type number'],
    ['7070', '"7070" of type string'], [undefined, 'undefined'], [null, 'null'],
  ];
  for (const [port, received] of [[0, '0 of type number'], ...bad] as [unknown, string][]) {
    await t.rejects(SocketClient.connect({ port: port as number }), {
      name: 'RangeError', code: 'ERR_SONOEDGE_SOCKET_OPTION', message: `Expected an integer 1..65535 for port but received ${received}`,
    }, `connect, port ${received}`);
  }
  for (const [port, received] of bad) {
    const p = sockPath();
    t.throws(() => new SocketServer({ path: p, handler: standIn, tcp: { port: port as number } }), {
      name: 'RangeError', code: 'ERR_SONOEDGE_SOCKET_OPTION', message: `Expected an integer 0..65535 for tcp.port but received ${received}`,
    }, `server, tcp.port ${received}`);
    t.notOk(existsSync(p), `server, tcp.port ${received}: no socket file`);
  }
});

t.test('SocketServer tcp that is neither false nor {port, host}: a TypeError ERR_SONOEDGE_SOCKET_OPTION before anything listens', async (t) => {
  // Before, null, 0 and '' were taken as "no TCP" (host: null is refused everywhere), and true, 'x' and an array were
  // refused as "Expected an integer 0..65535 for tcp.port but received undefined", about a port nobody gave.
  const cases: [tcp: unknown, received: string][] = [
    [null, 'null'], [0, '0 of type number'], ['', '"" of type string'], [true, 'true of type boolean'],
    ['7070', '"7070" of type string'], [[7070], 'array of length 1'],
  ];
  for (const [tcp, received] of cases) {
    const p = sockPath();
    t.throws(() => new SocketServer({ path: p, handler: standIn, tcp: tcp as false }), {
      name: 'TypeError', code: 'ERR_SONOEDGE_SOCKET_OPTION', message: `Expected false or {port, host} for tcp but received ${received}`,
    }, `tcp ${received}`);
    t.notOk(existsSync(p), `tcp ${received}: no socket file`);
  }
  // Taken: false and a missing tcp (no TCP listener).
  for (const tcp of [false, undefined] as const) {
    const s = await start({ tcp });
    t.equal(s.tcpPort, undefined, `tcp ${tcp}: no TCP`);
  }
});

t.test('SocketServer path or mode null or of another type: a TypeError ERR_SONOEDGE_SOCKET_OPTION before anything listens', async (t) => {
  // Before, path: null and mode: null fell back to their defaults through ?? (tcp: null and host: null are refused),
  // a numeric path reached Node's listen, and mode '0660' was a RangeError "... for mode but received 0660".
  const cases: [options: Record<string, unknown>, cls: ErrorConstructor, message: string][] = [
    [{ path: null }, TypeError, 'Expected a socket file path (string) for path but received null'],
    [{ path: 7070 }, TypeError, 'Expected a socket file path (string) for path but received 7070 of type number'],
    [{ path: [sockPath()] }, TypeError, 'Expected a socket file path (string) for path but received array of length 1'],
    [{ path: '' }, RangeError, 'Expected a non-empty socket file path for path but received "" of type string'],
    [{ path: sockPath(), mode: null }, TypeError, 'Expected permission bits 0..0o777 (number) for mode but received null'],
    [{ path: sockPath(), mode: '0660' }, TypeError, 'Expected permission bits 0..0o777 (number) for mode but received "0660" of type string'],
    [{ path: sockPath(), mode: true }, TypeError, 'Expected permission bits 0..0o777 (number) for mode but received true of type boolean'],
  ];
  const defaultPath = path.join(os.tmpdir(), 'sonoedge.sock');
  const existedBefore = existsSync(defaultPath);
  for (const [options, cls, message] of cases) {
    t.throws(() => new SocketServer({ handler: standIn, ...options } as ConstructorParameters<typeof SocketServer>[0]), {
      name: cls.name, code: 'ERR_SONOEDGE_SOCKET_OPTION', message,
    }, message);
    if (typeof options.path === 'string' && options.path !== '') t.notOk(existsSync(options.path), `${message}: no socket file`);
  }
  t.equal(existsSync(defaultPath), existedBefore, 'nothing made at the default path');
  // Taken: absent (or undefined, as a config spread gives it) is the default; the serve config always passes both.
  const d = new SocketServer({ handler: standIn, path: undefined, mode: undefined });
  t.same([d.path, d.mode], [defaultPath, 0o660], 'absent: the defaults');
  const s = await start({ mode: undefined });
  t.equal(statSync(s.path).mode & 0o777, 0o660, 'mode undefined: 0660 on the socket file');
});

t.test('a target that is no socket path nor {port, host}: SocketClient.connect rejects (never throws), ERR_SONOEDGE_SOCKET_OPTION', async (t) => {
  // Before, null and undefined threw Node's TypeError "Cannot read properties of null (reading 'host')" at the call,
  // '' was Node's RangeError ERR_SOCKET_BAD_PORT, and 42 was refused as a port "received undefined".
  const cases: [target: unknown, name: string, received: string][] = [
    [null, 'TypeError', 'null'], [undefined, 'TypeError', 'undefined'], [42, 'TypeError', '42 of type number'],
    [['/tmp/s.sock'], 'TypeError', 'array of length 1'], ['', 'RangeError', '"" of type string'],
  ];
  for (const [target, name, received] of cases) {
    let connecting: Promise<SocketClient> | undefined;
    t.doesNotThrow(() => { connecting = SocketClient.connect(target as string); }, `${received}: no throw at the call`);
    await t.rejects(connecting!, {
      name, code: 'ERR_SONOEDGE_SOCKET_OPTION', message: `Expected a socket path or {port, host} for target but received ${received}`,
    }, `${received}: rejected`);
  }
});

t.test('a string target is always a socket path, even one that looks like a port (\'7070\'): never TCP', async (t) => {
  // Before, Node took a numeric-looking string as a TCP port on localhost: '<port>' reached the TCP listener, not the
  // socket file of that name, and a name no file has was ECONNREFUSED from a port instead of ENOENT.
  const tcp = await start({ tcp: { port: 0 } });
  const port = String(tcp.tcpPort);
  const unix = await start({ path: path.join(dir, port) });
  const cwd = process.cwd();
  process.chdir(dir);
  let c: SocketClient;
  try {
    c = await SocketClient.connect(port);
  } finally {
    process.chdir(cwd);
  }
  t.teardown(() => c.close());
  t.equal(parseHelloReply((await c.hello()).body).version, 1);
  t.equal(c.socket.remoteAddress, undefined, 'a Unix socket (a TCP one has a remote address)');
  t.same([unix.stats.clients, tcp.stats.clients], [1, 0], 'the server on the socket file named ' + port + ' took it');
  const missing = path.join(dir, 'no-such');
  await t.rejects(SocketClient.connect(String(tcp.tcpPort)), { code: 'ENOENT', address: port }, 'no file of that name here: ENOENT for the path');
  await t.rejects(SocketClient.connect(missing), { code: 'ENOENT', address: missing });
});

t.test('TCP on loopback when asked', async (t) => {
  const s = await start({ tcp: { port: 0 } });
  t.ok(s.tcpPort! > 0);
  const c = await SocketClient.connect({ port: s.tcpPort! });
  t.teardown(() => c.close());
  const reply = parseHelloReply((await c.hello()).body);
  t.equal(reply.version, 1);
  // Any of 127/8 is loopback, as for the viewer and the metrics endpoint.
  const s2 = await start({ tcp: { port: 0, host: '127.0.0.2' } });
  const c2 = await SocketClient.connect({ port: s2.tcpPort!, host: '127.0.0.2' });
  t.teardown(() => c2.close());
  t.equal(parseHelloReply((await c2.hello()).body).version, 1, 'tcp.host 127.0.0.2');
  // Every spelling of a loopback host is taken and bound as given.
  for (const [host, connect] of [['LOCALHOST', '127.0.0.1'], ['0:0:0:0:0:0:0:1', '::1'], ['::ffff:127.0.0.1', '127.0.0.1']] as const) {
    const s3 = await start({ tcp: { port: 0, host } });
    const c3 = await SocketClient.connect({ port: s3.tcpPort!, host: connect });
    t.teardown(() => c3.close());
    t.equal(parseHelloReply((await c3.hello()).body).version, 1, `tcp.host ${host}`);
  }
  // A port in use: Node's bare EADDRINUSE named neither sonoedge's part nor the key; the unix socket is closed again.
  const taken = s.tcpPort!;
  const unixPath = sockPath();
  const busy = new SocketServer({ path: unixPath, handler: standIn, tcp: { port: taken } });
  await t.rejects(busy.listen(), {
    name: 'Error', code: 'ERR_SONOEDGE_LISTEN',
    message: `Expected to listen for the socket's TCP (socket.tcp) on 127.0.0.1:${taken} but could not: listen EADDRINUSE: address already in use 127.0.0.1:${taken}`,
  });
  await busy.close();
  const again = await start({ path: unixPath });
  t.ok(again, 'the unix path is free again');
});

t.test('HELLO negotiation', async (t) => {
  const s = await start({ maxMessageSize: 1 << 20 });
  const c = await client(s, false);
  const m = await c.hello('firmware');
  t.equal(m.header.type, MessageType.HELLO);
  t.equal(m.header.flags & Flag.REPLY, Flag.REPLY);
  const h = parseHelloReply(m.body);
  t.same({ version: h.version, maxMessageSize: h.maxMessageSize }, { version: 1, maxMessageSize: 1 << 20 });
  t.match(h.server, /^sonoedge /);
  const c2 = await client(s, false);
  const e = await errorOf(c2.request((seq) => msg.hello(seq, { versions: [2, 3], client: 'future' })));
  t.equal(e.code, 'ERR_SONOEDGE_REMOTE_UNSUPPORTED_VERSION');
  t.equal(e.message, 'Expected one of versions 1 in HELLO.versions but received [2,3]');
  t.equal(e.fatal, true);
  await new Promise((r) => c2.once('close', r));
  t.pass('the server closes after a failed negotiation');
  const c3 = await client(s, false);
  const e3 = await errorOf(c3.request((seq) => msg.status(seq)));
  t.equal(e3.wireCode, WireError.HELLO_REQUIRED);
  t.equal(e3.message, 'Expected HELLO before STATUS but received STATUS first');
  t.equal((await c3.request((seq) => msg.ping(seq, 5))).header.type, MessageType.PONG, 'PING works before HELLO');
});

t.test('configure, subscribe, frame, result', async (t) => {
  const s = await start();
  const c = await client(s);
  const cr = parseConfigureReply((await c.configure(geometry(3))).body);
  t.same(cr, { stream: 3, frameBytes: 128 });
  await c.subscribe({ streams: [3], masks: true });
  const pixels = Buffer.alloc(128, 42);
  const got = c.next(MessageType.RESULT);
  c.sendFrame(3, 77, pixels, 1000.5);
  const r = parseResult((await got).body);
  t.same({ stream: r.stream, seq: r.seq, t: r.t, view: r.view, confidence: r.confidence, quality: r.quality, lvAreaMm2: r.lvAreaMm2, ef: r.ef, flags: r.flags },
    { stream: 3, seq: 77, t: 1000.5, view: 'A4C', confidence: 0.9, quality: 0.8, lvAreaMm2: 42, ef: null, flags: 4 });
  t.same([...r.mask!.data], [0, 1, 1, 0]);
  t.same(Object.keys(r.latency.stages), ['standin']);
  t.ok(r.latency.totalMs >= r.latency.stages.standin);
  const st = parseStatusReply((await c.request((seq) => msg.status(seq))).body);
  t.same({ state: st.state, streams: st.streams, model: st.model }, { state: 'ready', streams: [3], model: null });
  const stats = parseStatsReply((await c.request((seq) => msg.stats(seq))).body);
  t.same({ framesIn: stats.framesIn, framesProcessed: stats.framesProcessed, resultsSent: stats.resultsSent, clients: stats.clients },
    { framesIn: 1, framesProcessed: 1, resultsSent: 1, clients: 1 });
  const sub2 = await client(s);
  await sub2.subscribe({ results: ['quality'] });
  const got2 = sub2.next(MessageType.RESULT);
  const got1 = c.next(MessageType.RESULT);
  c.sendFrame(3, 78, pixels);
  const r2 = parseResult((await got2).body);
  t.same({ seq: r2.seq, view: r2.view, quality: r2.quality, mask: r2.mask }, { seq: 78, view: null, quality: 0.8, mask: undefined }, 'a second subscriber gets only what it asked for');
  t.equal(parseResult((await got1).body).seq, 78);
});

t.test('STATUS.outbox: nil without the outbox option; with it, what it returns when each STATUS is asked', async (t) => {
  const plain = await client(await start());
  t.equal(parseStatusReply((await plain.request((seq) => msg.status(seq))).body).outbox, null, 'no outbox option: nil');
  let now: OutboxStatus | null = null;
  const c = await client(await start({ outbox: () => now }));
  const status = async () => parseStatusReply((await c.request((seq) => msg.status(seq))).body).outbox;
  t.equal(await status(), null, 'the option returns null (no PACS): nil');
  now = { pending: 3, held: 1, failed: 2, inFailed: 4, lastTryFailed: true, lastErrorCode: 'ENOSPC' };
  t.same(await status(), now, 'read at this STATUS');
  now = { pending: 0, held: 0, failed: 2, inFailed: 0, lastTryFailed: false, lastErrorCode: null };
  t.same(await status(), now, 'and at the next: failed still counts the moves since start, inFailed what failed/ holds now');
  // A runtime that predates inFailed (no key in the map): read as 0.
  const old = { state: 'ready', stateCode: RuntimeState.ready, uptimeS: 1, streams: [], outbox: { pending: 0, held: 0, failed: 1, lastTryFailed: false } };
  t.same(parseStatusReply(old).outbox, { pending: 0, held: 0, failed: 1, inFailed: 0, lastTryFailed: false, lastErrorCode: null }, 'an older runtime: inFailed 0');
});

t.test('bad requests get an ERROR with a code and the connection goes on', async (t) => {
  const s = await start();
  const c = await client(s);
  const other = await client(s);
  await c.configure(geometry(0));
  const inUse = await errorOf(other.configure(geometry(0)));
  t.equal(inUse.code, 'ERR_SONOEDGE_REMOTE_STREAM_IN_USE');
  const bad = await errorOf(c.configure({ ...geometry(1), width: 0 }));
  t.equal(bad.message, 'Expected integer 1..16384 for CONFIGURE_STREAM.width but received 0 of type number');
  const errs: Message[] = [];
  c.on('message', (m: Message) => { if (m.header.type === MessageType.ERROR) errs.push(m); });
  const seq1 = c.sendFrame(0, 1, Buffer.alloc(10));
  const seq2 = c.sendFrame(9, 1, Buffer.alloc(10));
  const fr = await errorOf(c.request((seq) => msg.frameReady(seq, { stream: 0, seq: 1, t: 0, slot: 0 })));
  t.equal(fr.code, 'ERR_SONOEDGE_REMOTE_RING', 'FRAME_READY on a stream without a ring (socket.shm.test.ts covers rings)');
  t.same(errs.map((m) => [m.header.seq, parseError(m.body).name, parseError(m.body).message]), [
    [seq1, 'FRAME_SIZE', 'Expected 128 payload bytes for FRAME of stream 0 but received 10'],
    [seq2, 'UNKNOWN_STREAM', 'Expected a stream configured on this connection but received stream 9'],
  ]);
  t.equal((await c.request((seq) => msg.ping(seq))).header.type, MessageType.PONG, 'still served');
  t.ok(s.stats.rejected >= 5);
});

t.test('CONFIGURE_STREAM.spacing outside 1e-6..1000 mm (SPACING_RANGE_MM) or not finite: BAD_FIELD naming the element; the stream keeps its geometry, the connection and other streams go on', async (t) => {
  const s = await start();
  const c = await client(s);
  const other = await client(s);
  await c.configure(geometry(0));
  await other.configure(geometry(5));
  await c.subscribe({ streams: [0] });
  await other.subscribe({ streams: [5] });
  const refused: [spacing: [number, number], message: string][] = [
    [[2000, 0.3], 'Expected number in [0.000001, 1000] (mm per pixel) for CONFIGURE_STREAM.spacing[0] but received 2000 of type number'],
    [[0.3, 1e-7], 'Expected number in [0.000001, 1000] (mm per pixel) for CONFIGURE_STREAM.spacing[1] but received 1e-7 of type number'],
    [[0, 0.3], 'Expected number in [0.000001, 1000] (mm per pixel) for CONFIGURE_STREAM.spacing[0] but received 0 of type number'],
    [[0.3, NaN], 'Expected finite number for CONFIGURE_STREAM.spacing[1] but received NaN of type number'],
    [[Infinity, 0.3], 'Expected finite number for CONFIGURE_STREAM.spacing[0] but received Infinity of type number'],
  ];
  for (const [spacing, message] of refused) {
    // Stream 0 reconfigured (to 32x8: another frame size) and a new stream 1: both refused whole.
    for (const g of [{ ...geometry(0, 32, 8), spacing }, { ...geometry(1), spacing }]) {
      const e = await errorOf(c.configure(g));
      t.same({ code: e.code, wireCode: e.wireCode, fatal: e.fatal, message: e.message },
        { code: 'ERR_SONOEDGE_REMOTE_BAD_FIELD', wireCode: WireError.BAD_FIELD, fatal: false, message }, `stream ${g.stream}, spacing ${spacing.join(', ')}`);
    }
  }
  const st = parseStatusReply((await c.request((seq) => msg.status(seq))).body);
  t.same(st.streams, [0, 5], 'no stream 1 was opened');
  // Stream 0 kept its 16x8 geometry (128-byte frames); the other connection's stream runs on.
  const got = c.next(MessageType.RESULT);
  c.sendFrame(0, 1, Buffer.alloc(128, 7));
  t.same(pick(parseResult((await got).body)), { stream: 0, seq: 1, lvAreaMm2: 7 });
  const got5 = other.next(MessageType.RESULT);
  other.sendFrame(5, 1, Buffer.alloc(128, 9));
  t.same(pick(parseResult((await got5).body)), { stream: 5, seq: 1, lvAreaMm2: 9 });
  // SPACING_RANGE_MM's ends are taken.
  t.same(parseConfigureReply((await c.configure({ ...geometry(1), spacing: [1e-6, 1000] })).body), { stream: 1, frameBytes: 128 });
});
const pick = (r: { stream: number; seq: number; lvAreaMm2: number | null }) => ({ stream: r.stream, seq: r.seq, lvAreaMm2: r.lvAreaMm2 });

t.test('CONFIGURE_STREAM numbers that are NaN or Infinity: BAD_FIELD saying a finite number and naming the field and the value; the stream keeps its geometry, nothing of the new one applied', async (t) => {
  const s = await start();
  const c = await client(s);
  await c.configure(geometry(0));
  await c.subscribe({ streams: [0] });
  const sector = { angleStart: -0.5, angleEnd: 0.5, depthStart: 0, depthEnd: 8 };
  const refused: [patch: Partial<ConfigureStream>, message: string][] = [
    [{ fps: NaN }, 'Expected finite number in [0.1, 1000] for CONFIGURE_STREAM.fps but received NaN of type number'],
    [{ fps: Infinity }, 'Expected finite number in [0.1, 1000] for CONFIGURE_STREAM.fps but received Infinity of type number'],
    [{ fps: -Infinity }, 'Expected finite number in [0.1, 1000] for CONFIGURE_STREAM.fps but received -Infinity of type number'],
    [{ spacing: [0.3, NaN] }, 'Expected finite number for CONFIGURE_STREAM.spacing[1] but received NaN of type number'],
    [{ spacing: [Infinity, 0.3] }, 'Expected finite number for CONFIGURE_STREAM.spacing[0] but received Infinity of type number'],
    [{ sector: { ...sector, angleStart: NaN } }, 'Expected finite number in [-1.5707963267948966, 1.5707963267948966] for CONFIGURE_STREAM.sector.angleStart but received NaN of type number'],
    [{ sector: { ...sector, depthStart: NaN } }, 'Expected finite number >= 0 for CONFIGURE_STREAM.sector.depthStart but received NaN of type number'],
    [{ sector: { ...sector, depthEnd: Infinity } }, 'Expected finite number >= 0 for CONFIGURE_STREAM.sector.depthEnd but received Infinity of type number'],
  ];
  for (const [patch, message] of refused) {
    // Stream 0 reconfigured (to 32x8: another frame size) and a new stream 1: both refused whole.
    for (const g of [{ ...geometry(0, 32, 8), ...patch }, { ...geometry(1), ...patch }]) {
      const e = await errorOf(c.configure(g));
      t.same({ code: e.code, wireCode: e.wireCode, fatal: e.fatal, message: e.message },
        { code: 'ERR_SONOEDGE_REMOTE_BAD_FIELD', wireCode: WireError.BAD_FIELD, fatal: false, message }, `stream ${g.stream}, ${JSON.stringify(patch, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))}`);
    }
  }
  const st = parseStatusReply((await c.request((seq) => msg.status(seq))).body);
  t.same(st.streams, [0], 'no stream 1 was opened');
  // Stream 0 kept its 16x8 geometry: a 128-byte frame gets its result, a 256-byte one (32x8) is refused.
  const got = c.next(MessageType.RESULT);
  c.sendFrame(0, 1, Buffer.alloc(128, 7));
  t.same(pick(parseResult((await got).body)), { stream: 0, seq: 1, lvAreaMm2: 7 });
  const err = c.next(MessageType.ERROR);
  const seq = c.sendFrame(0, 2, Buffer.alloc(256, 7));
  const e = await err;
  t.same([e.header.seq, parseError(e.body).name, parseError(e.body).message], [seq, 'FRAME_SIZE', 'Expected 128 payload bytes for FRAME of stream 0 but received 256']);
  t.equal((await c.request((q) => msg.ping(q))).header.type, MessageType.PONG, 'the connection goes on');
});

t.test('corrupt framing: wrong CRC, unknown type, oversized length', async (t) => {
  const s = await start({ maxMessageSize: 4096 });
  const c = await client(s);
  const errs: Array<[number, string]> = [];
  c.on('message', (m: Message) => { if (m.header.type === MessageType.ERROR) errs.push([m.header.seq, parseError(m.body).name]); });
  const badCrc = encodeMessage(msg.ping(50));
  badCrc[Offset.crc] ^= 1;
  const unknown = encodeMessage({ type: 0x7e, seq: 51, body: {} });
  const big = Buffer.alloc(HEADER_SIZE);
  big.write('SONO');
  big[4] = 1;
  big[5] = MessageType.FRAME;
  big.writeUInt32LE(10, 8);
  big.writeUInt32LE(0x7ffffff0, 12);
  big.writeUInt32LE(52, 16);
  big.writeUInt32LE(crc32c(big, 0, 20), 20);
  c.socket.write(Buffer.concat([badCrc, unknown, big]));
  await new Promise((r) => setTimeout(r, 100));
  t.same(errs, [[0, 'BAD_HEADER_CRC'], [51, 'UNKNOWN_TYPE'], [52, 'MESSAGE_TOO_LARGE']]);
  t.equal(s.stats.rejected, 3);
  // The oversized message's bytes are skipped unread; the client disconnects mid-body and others go on.
  c.socket.write(Buffer.alloc(1000));
  await c.close();
  const d = await client(s);
  t.equal((await d.request((seq) => msg.ping(seq))).header.type, MessageType.PONG);
});

t.test('a subscriber that never reads loses old results, counted; nothing else stalls', async (t) => {
  const s = await start({ resultQueueLength: 4, maxPendingWriteBytes: 4096 });
  const producer = await client(s);
  await producer.configure(geometry(0, 256, 256));
  await producer.subscribe({ masks: true });
  const sleeper = await client(s);
  await sleeper.subscribe({ masks: true });
  sleeper.socket.pause();
  const frame = Buffer.alloc(256 * 256, 1);
  let last = 0;
  producer.on('message', (m: Message) => { if (m.header.type === MessageType.RESULT) last = parseResult(m.body).seq; });
  const heap0 = process.memoryUsage().rss;
  for (let i = 1; i <= 2000; i++) {
    const got = producer.next(MessageType.RESULT);
    producer.sendFrame(0, i, frame);
    await got;
  }
  t.equal(last, 2000, 'the reading client got every result');
  t.ok(s.stats.resultsDropped > 0, `results dropped for the sleeper: ${s.stats.resultsDropped}`);
  t.ok(process.memoryUsage().rss - heap0 < 64 * 1024 * 1024, 'memory stays bounded');
});

t.test('LOAD_MODEL and SWAP go through the model control; failures leave the model in place', async (t) => {
  let current: string | null = 'v3';
  const s = await start({
    models: {
      current: () => current,
      load: async (r) => { if (r.path.endsWith('bad')) throw new Error(`Expected a signed package but received ${r.path}`); return { id: r.id ?? 'x', previous: null }; },
      swap: async (r) => { const previous = current; current = r.id; return { id: r.id, previous }; },
    },
  });
  const c = await client(s);
  t.same(parseModelReply((await c.request((seq) => msg.loadModel(seq, { path: '/m/v4', id: 'v4' }))).body), { id: 'v4', previous: null });
  const e = await errorOf(c.request((seq) => msg.loadModel(seq, { path: '/m/bad' })));
  t.equal(e.code, 'ERR_SONOEDGE_REMOTE_MODEL_FAILED');
  t.equal(current, 'v3');
  t.same(parseModelReply((await c.request((seq) => msg.swap(seq, { id: 'v4' }))).body), { id: 'v4', previous: 'v3' });
  const noModels = await start();
  const c2 = await client(noModels);
  t.equal((await errorOf(c2.request((seq) => msg.swap(seq, { id: 'v4' })))).code, 'ERR_SONOEDGE_REMOTE_UNSUPPORTED');
});

t.test('a client that sends too many bad messages is disconnected; others are not', async (t) => {
  const s = await start({ maxErrorsPerClient: 5 });
  const bad = await client(s);
  const good = await client(s);
  const closed = new Promise((r) => bad.once('close', r));
  for (let i = 0; i < 10; i++) bad.socket.write(encodeMessage({ type: 0x70, seq: i, body: {} }));
  await closed;
  t.equal(s.stats.disconnectedForErrors, 1);
  t.equal((await good.request((seq) => msg.ping(seq))).header.type, MessageType.PONG);
  const raw = net.createConnection(s.path);
  await new Promise((r) => raw.once('connect', r));
  raw.destroy();
});

/** Open socket descriptors of this process (both ends of every connection made here). */
const socketFds = (): number => readdirSync('/proc/self/fd').filter((fd) => {
  try { return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:'); } catch { return false; }
}).length;

t.test('connections refused with TOO_MANY are told why and closed by the server, even when the peer never closes', async (t) => {
  const s = await start({ maxClients: 2 });
  await client(s);
  await client(s);
  const before = socketFds();
  // Peers that keep their side open after the server's FIN (a C client that ignores EOF, say): before the fix the
  // server's ends stayed open for good (ten refusals, ten more descriptors: 22 -> 32).
  const refused = await Promise.all(Array.from({ length: 10 }, () => new Promise<{ sock: net.Socket; got: Buffer[] }>((resolve) => {
    const sock = net.createConnection({ path: s.path, allowHalfOpen: true });
    const got: Buffer[] = [];
    sock.on('data', (d: Buffer) => got.push(d));
    sock.on('error', () => undefined);
    sock.once('end', () => resolve({ sock, got }));
  })));
  t.teardown(() => { for (const r of refused) r.sock.destroy(); });
  for (const { got } of refused) {
    const e = parseError(decodeMessage(Buffer.concat(got)).body);
    t.same([e.name, e.fatal, e.message], ['TOO_MANY', true, 'Expected at most 2 clients but received one more']);
  }
  t.equal(s.stats.rejected, 10);
  // Our 10 ends stay open; the server's 10 must close (within its linger time).
  await within(() => socketFds() <= before + 10, 5000);
  t.equal(socketFds(), before + 10, 'only the peers\' ends remain');
  t.equal(s.stats.clients, 2);
});

t.test('one server per socket path: a second one refuses and touches nothing; a stale socket file is taken over', async (t) => {
  const first = await start();
  const inode = statSync(first.path).ino;
  const second = new SocketServer({ path: first.path, handler: standIn });
  await t.rejects(second.listen(), {
    name: 'Error', code: 'ERR_SONOEDGE_SOCKET_IN_USE',
    message: `Expected no other sonoedge runtime on ${first.path} but received one: another runtime serves this socket path (stop it, or give this one another socket.path)`,
  });
  await second.close();
  t.equal(statSync(first.path).ino, inode, 'the first server\'s socket file is the same file');
  const c = await client(first);
  t.equal((await c.request((seq) => msg.ping(seq))).header.type, MessageType.PONG, 'and the first still takes new connections');
  await first.close();
  const after = new SocketServer({ path: first.path, handler: standIn });
  await after.listen();
  await after.close();
  t.pass('closing a server releases its path');

  // Something else accepting connections on the path (not a sonoedge runtime of this kind): refused as well.
  const other = net.createServer((s) => s.destroy());
  const otherPath = sockPath();
  await new Promise<void>((r) => other.listen(otherPath, () => r()));
  t.teardown(() => other.close());
  await t.rejects(new SocketServer({ path: otherPath, handler: standIn }).listen(), {
    code: 'ERR_SONOEDGE_SOCKET_IN_USE',
    message: `Expected no other sonoedge runtime on ${otherPath} but received one: a process accepts connections on it (stop it, or give this one another socket.path)`,
  });

  // A runtime that crashed (SIGKILL) leaves its socket file behind: the next one takes it over.
  const stalePath = sockPath();
  const crash = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  t.equal(crash.signal, 'SIGKILL');
  t.ok(statSync(stalePath).isSocket(), 'a stale socket file is left');
  const next = await start({ path: stalePath });
  const c2 = await client(next);
  t.equal((await c2.request((seq) => msg.ping(seq))).header.type, MessageType.PONG, 'the stale path is served again');
});

t.test('a path that cannot be a socket is ERR_SONOEDGE_SOCKET_PATH, and nothing is left listening or on disk', async (t) => {
  const file = path.join(dir, 'a-file');
  writeFileSync(file, 'x');
  const onFile = new SocketServer({ path: file, handler: standIn });
  await t.rejects(onFile.listen(), { name: 'Error', code: 'ERR_SONOEDGE_SOCKET_PATH', message: `Expected a socket or nothing at ${file} but received an existing file` });
  await onFile.close();
  t.equal(readFileSync(file, 'utf8'), 'x', 'the file is untouched');

  // listen() said EACCES for a missing folder.
  const nowhere = path.join(dir, 'no-such-folder', 's.sock');
  const noFolder = new SocketServer({ path: nowhere, handler: standIn });
  await t.rejects(noFolder.listen(), {
    name: 'Error', code: 'ERR_SONOEDGE_SOCKET_PATH', message: `Expected an existing folder for the socket ${nowhere} but received none at ${path.dirname(nowhere)}`,
  });
  await noFolder.close();

  // The kernel cut a longer path short: the socket sat at the shorter path, chmod failed, and the server kept listening.
  const long = path.join(dir, `${'x'.repeat(120 - dir.length)}.sock`);
  const before = readdirSync(dir);
  const tooLong = new SocketServer({ path: long, handler: standIn });
  await t.rejects(tooLong.listen(), {
    name: 'Error', code: 'ERR_SONOEDGE_SOCKET_PATH',
    message: `Expected a socket path of at most 107 bytes (what a Unix socket address holds) but received ${Buffer.byteLength(long)} bytes: ${long}`,
  });
  await tooLong.close();
  t.same(readdirSync(dir), before, 'no socket file at a shortened path');
});

t.test('a stopped stream (serial CMD_STOP_STREAM): frames dropped and counted, one ERROR STREAM_STOPPED per stop; started again, they run', async (t) => {
  let handled = 0;
  const s = await start({ handler: (f, stage) => { handled++; return standIn(f, stage); } });
  const c = await client(s);
  await c.configure(geometry(0));
  await c.subscribe({});
  const results: number[] = [];
  const errors: ReturnType<typeof parseError>[] = [];
  c.on('message', (m: Message) => {
    if (m.header.type === MessageType.RESULT) results.push(parseResult(m.body).seq);
    if (m.header.type === MessageType.ERROR) errors.push(parseError(m.body));
  });
  const sync = () => c.request((seq) => msg.ping(seq));   // the server handles messages in order
  t.equal(s.runningStreams, 1);
  t.equal(s.setStreamStopped(0, true), true);
  t.equal(s.setStreamStopped(7, true), false, 'an unknown stream');
  t.equal(s.runningStreams, 0, 'configured but stopped: not running');
  for (let i = 1; i <= 5; i++) c.sendFrame(0, i, Buffer.alloc(128, i));
  await sync();
  const stopped = {
    code: WireError.STREAM_STOPPED, name: 'STREAM_STOPPED', fatal: false,
    message: 'Expected frames for a running stream but stream 0 is stopped (serial CMD_STOP_STREAM): its frames are dropped until CMD_START_STREAM; this ERROR is sent once per stop',
  };
  t.same(errors, [stopped], 'one ERROR for five frames (before: ERROR FRAME_FAILED for every frame)');
  t.same([handled, results.length, s.stats.framesIn, s.stats.framesDropped, s.stats.framesFailed], [0, 0, 5, 5, 0]);
  t.equal(s.setStreamStopped(0, false), true);
  t.equal(s.runningStreams, 1);
  c.sendFrame(0, 6, Buffer.alloc(128, 6));
  await new Promise<void>((r) => { const poll = () => (results.length === 1 ? r() : setTimeout(poll, 5)); poll(); });
  t.same(results, [6]);
  s.setStreamStopped(0, true);
  c.sendFrame(0, 7, Buffer.alloc(128, 7));
  c.sendFrame(0, 8, Buffer.alloc(128, 8));
  await sync();
  t.same(errors, [stopped, stopped], 'one more for the second stop');
  t.equal(s.stats.framesFailed, 0);
});

t.test('STATS.clients is the connections open now; a PONG from a client is UNSUPPORTED, as docs/PROTOCOL.md says', async (t) => {
  const s = await start();
  const a = await client(s);
  const b = await client(s);
  await client(s);
  t.equal(parseStatsReply((await a.request((seq) => msg.stats(seq))).body).clients, 3);
  const gone = new Promise((r) => b.once('close', r));
  b.close();
  await gone;
  await new Promise((r) => setTimeout(r, 20));
  t.equal(parseStatsReply((await a.request((seq) => msg.stats(seq))).body).clients, 2, 'a gauge, not a counter since start');
  const e = await errorOf(a.request((seq) => ({ type: MessageType.PONG, seq, flags: 0, body: {} })));
  t.same([e.code, e.fatal, e.message], ['ERR_SONOEDGE_REMOTE_UNSUPPORTED', false, 'Expected a request but received PONG, which only the runtime sends']);
});
