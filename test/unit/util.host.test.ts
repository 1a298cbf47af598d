// One rule for a host a user gives (src/util/host.ts), and every place that checks one (SocketServer's tcp.host,
// MetricsServer.start's metrics.host, ViewerServer.start's viewer.host, IgtlBridge's host, PacsClient's pacs.host,
// SocketClient.connect's host, the serve config's keys for them) wording the same bad host the same way, each with its own error class and code.
import t from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, parseServeConfig } from '../../src/config/index.js';
import { PacsClient } from '../../src/dicom/store.js';
import type { Runtime } from '../../src/runtime/index.js';
import { StreamManager } from '../../src/runtime/streams.js';
import { MetricsServer } from '../../src/telemetry/metrics.js';
import { IgtlBridge } from '../../src/transport/igtl/bridge.js';
import { IgtlError } from '../../src/transport/igtl/errors.js';
import { SocketClient } from '../../src/transport/socket-client.js';
import { SocketServer } from '../../src/transport/socket-server.js';
import { hostExpected, hostProblem } from '../../src/util/host.js';
import { ViewerServer } from '../../src/viewer/server.js';

const ADDRESS = 'an IPv4 or IPv6 address or a host name';
const LOOPBACK = 'a loopback address (127.x.x.x, ::1 or localhost)';
const PEER = "the peer's address or host name (not an address to listen on)";

t.test('hostExpected: each use\'s rule, worded once; a value of another type than string keeps none', async (t) => {
  for (const h of ['127.0.0.1', '127.0.0.2', '::1', 'localhost', 'LOCALHOST.', '::ffff:127.0.0.1']) t.equal(hostExpected(h, 'loopback'), undefined, `loopback ${h}`);
  for (const h of ['0.0.0.0', '10.0.0.5', 'cart7', '127.300.0.1', '']) t.equal(hostExpected(h, 'loopback'), LOOPBACK, `loopback ${h}`);
  for (const h of ['0.0.0.0', '::', '10.0.0.5', 'fe80::1%eth0', 'cart7.example.org', 'my_cart']) t.equal(hostExpected(h, 'any'), undefined, `any ${h}`);
  for (const h of ['10.300.0.1', '10.0.0', '[::1]', 'cart 7', '-cart', 'http://cart7', '']) t.equal(hostExpected(h, 'any'), ADDRESS, `any ${h}`);
  for (const h of ['127.0.0.1', '192.168.1.20', 'plus.local']) t.equal(hostExpected(h, 'peer'), undefined, `peer ${h}`);
  // A malformed address is named as such before the peer's rule.
  for (const h of ['10.300.0.1', '0.0.0.0.0']) t.equal(hostExpected(h, 'peer'), ADDRESS, `peer ${h}`);
  for (const h of ['0.0.0.0', '::', '::0', '0:0::0', '::ffff:0.0.0.0']) t.equal(hostExpected(h, 'peer'), PEER, `peer ${h}`);
  t.equal(hostExpected('::', 'peer', "the PACS's"), "the PACS's address or host name (not an address to listen on)", 'whose');
  for (const v of [7, true, null, undefined, { host: '127.0.0.1' }, ['127.0.0.1'], ['localhost']]) {
    t.equal(hostExpected(v, 'loopback'), LOOPBACK, `loopback ${JSON.stringify(v)}`);
    t.equal(hostExpected(v, 'any'), ADDRESS, `any ${JSON.stringify(v)}`);
    t.equal(hostExpected(v, 'peer'), ADDRESS, `peer ${JSON.stringify(v)}`);
  }
});

t.test('hostProblem: "Expected <rule> for <name> but received <value and its type>", or undefined', async (t) => {
  t.equal(hostProblem('127.0.0.1', 'loopback', 'tcp.host'), undefined);
  t.equal(hostProblem('0.0.0.0', 'loopback', 'tcp.host'), `Expected ${LOOPBACK} for tcp.host but received "0.0.0.0" of type string`);
  t.equal(hostProblem(8080, 'any', 'viewer.host'), `Expected ${ADDRESS} for viewer.host but received 8080 of type number`);
  t.equal(hostProblem(['127.0.0.1'], 'peer', 'host'), `Expected ${ADDRESS} for host but received array of length 1`);
  t.equal(hostProblem({ host: 'x' }, 'any', 'host'), `Expected ${ADDRESS} for host but received object {"host":"x"}`);
  t.equal(hostProblem('::', 'peer', 'host'), `Expected ${PEER} for host but received "::" of type string`);
});

const errorOf = async (f: () => unknown): Promise<Error | undefined> => {
  try { await f(); return undefined; } catch (e) { return e as Error; }
};
const streams = new StreamManager({ handler: () => Promise.reject(new Error('no frames in this test')) });
const source = { publisher: streams.publisher, streams, observeFrames: () => () => undefined };
const TOKEN = '0123456789abcdef';

/** Every place that checks a host in code: its option's name, the rule it applies, the error it throws. */
const places: { name: string; use: 'any' | 'loopback' | 'peer'; whose?: string; cls: ErrorConstructor | typeof IgtlError; code?: string; refuse: (host: unknown) => Promise<Error | undefined> }[] = [
  { name: 'tcp.host', use: 'loopback', cls: RangeError, code: 'ERR_SONOEDGE_SOCKET_OPTION', refuse: (h) => errorOf(() => new SocketServer({ handler: async () => ({}) as never, tcp: { port: 0, host: h as string } })) },
  { name: 'metrics.host', use: 'loopback', cls: RangeError, code: 'ERR_SONOEDGE_METRICS', refuse: (h) => errorOf(() => MetricsServer.start({} as Runtime, { port: 0, host: h as string })) },
  { name: 'viewer.host', use: 'any', cls: RangeError, code: 'ERR_SONOEDGE_VIEWER_OPTION', refuse: (h) => errorOf(async () => (await ViewerServer.start(source, { port: 0, host: h as string, token: TOKEN })).close()) },
  { name: 'host', use: 'any', cls: IgtlError, code: 'ERR_SONOEDGE_IGTL_OPTION', refuse: (h) => errorOf(() => new IgtlBridge({ streams, host: h as string })) },
  { name: 'host', use: 'peer', cls: IgtlError, code: 'ERR_SONOEDGE_IGTL_OPTION', refuse: (h) => errorOf(() => new IgtlBridge({ streams, mode: 'client', host: h as string })) },
  // Before, SocketClient.connect checked no host: Node's own errors (ERR_INVALID_ARG_TYPE, a DNS lookup's ENOTFOUND) or a connection to 0.0.0.0.
  { name: 'host', use: 'peer', cls: RangeError, code: 'ERR_SONOEDGE_SOCKET_OPTION', refuse: (h) => errorOf(async () => (await SocketClient.connect({ port: 1, host: h as string })).close()) },
  { name: 'pacs.host', use: 'peer', whose: "the PACS's", cls: RangeError, code: 'ERR_SONOEDGE_PACS', refuse: (h) => errorOf(() => new PacsClient({ host: h as string, port: 104, calledAet: 'PACS' })) },
];

t.test('every place in code words the same bad host the same way, with its own class and code', async (t) => {
  const bad: [host: unknown, received: string][] = [
    ['10.300.0.1', '"10.300.0.1" of type string'],
    ['cart 7', '"cart 7" of type string'],
    [18944, '18944 of type number'],
    [true, 'true of type boolean'],
    [{ host: '127.0.0.1' }, 'object {"host":"127.0.0.1"}'],
    [['127.0.0.1'], 'array of length 1'],
    [['localhost'], 'array of length 1'],
  ];
  for (const p of places) {
    const what = `${p.name} (${p.use})`;
    for (const [host, received] of bad) {
      const err = await p.refuse(host);
      const rule = p.use === 'loopback' ? LOOPBACK : ADDRESS;
      t.equal(err?.constructor, p.cls, `${what}, ${JSON.stringify(host)}: ${p.cls.name}`);
      t.equal((err as { code?: string } | undefined)?.code, p.code, `${what}, ${JSON.stringify(host)}: code`);
      t.equal(err?.message, `Expected ${rule} for ${p.name} but received ${received}`, `${what}, ${JSON.stringify(host)}`);
    }
    // null is no host either: refused everywhere as "received null" (absent is the default). Before, MetricsServer.start
    // and ViewerServer.start took null for their default (127.0.0.1) while SocketServer and IgtlBridge refused it.
    const nul = await p.refuse(null);
    t.equal(nul?.constructor, p.cls, `${what}, null: ${p.cls.name}`);
    t.equal((nul as { code?: string } | undefined)?.code, p.code, `${what}, null: code`);
    t.equal(nul?.message, `Expected ${p.use === 'loopback' ? LOOPBACK : ADDRESS} for ${p.name} but received null`, `${what}, null`);
    if (p.use === 'any') continue;
    // A peer's and a loopback host: 0.0.0.0, which only a server listens on, by the use's own rule.
    const err = await p.refuse('0.0.0.0');
    const rule = p.use === 'loopback' ? LOOPBACK : `${p.whose ?? "the peer's"} address or host name (not an address to listen on)`;
    t.equal(err?.message, `Expected ${rule} for ${p.name} but received "0.0.0.0" of type string`, `${what}, "0.0.0.0"`);
  }
});

t.test('the serve config words each key\'s host rule as the code does (ConfigError at the key\'s line)', async (t) => {
  const cases: [yaml: (h: string) => string, key: string, use: 'any' | 'loopback' | 'peer', whose?: string][] = [
    [(h) => `socket:\n  tcp:\n    port: 0\n    host: "${h}"\n`, 'socket.tcp.host', 'loopback'],
    [(h) => `metrics:\n  port: 0\n  host: "${h}"\n`, 'metrics.host', 'loopback'],
    [(h) => `viewer:\n  port: 0\n  token: ${TOKEN}\n  host: "${h}"\n`, 'viewer.host', 'any'],
    [(h) => `igtl:\n  mode: server\n  host: "${h}"\n`, 'igtl.host', 'any'],
    [(h) => `igtl:\n  mode: client\n  port: 18944\n  host: "${h}"\n`, 'igtl.host', 'peer'],
    [(h) => `dicom:\n  dir: out\n  pacs:\n    port: 104\n    calledAet: PACS\n    host: "${h}"\n`, 'dicom.pacs.host', 'peer', "the PACS's"],
  ];
  for (const [yaml, key, use, whose] of cases) {
    for (const h of ['10.300.0.1', '0.0.0.0']) {
      const expected = use === 'loopback' ? LOOPBACK
        : h !== '0.0.0.0' ? ADDRESS
        : use === 'peer' ? `${whose ?? "the peer's"} address or host name (not an address to listen on)` : undefined;
      const err = await errorOf(() => parseServeConfig(yaml(h), 'serve.yaml'));
      if (expected === undefined) {
        t.equal(err, undefined, `${key} (${use}), ${h}: taken`);
        continue;
      }
      t.ok(err instanceof ConfigError, `${key} (${use}), ${h}: a ConfigError`);
      t.match(err, { code: 'ERR_SONOEDGE_CONFIG', key }, `${key} (${use}), ${h}: code and key`);
      t.equal(err?.message.replace(/^serve\.yaml:\d+: /, ''), `${key}: expected ${expected} but received "${h}"`, `${key} (${use}), ${h}`);
    }
  }
});

t.test('no module checks a host with the predicates itself: each goes through src/util/host.ts', async (t) => {
  // Before, PacsClient (src/dicom/store.ts) worded pacs.host's rule itself with isHost and isUnspecified: the same
  // messages today, two places to keep in step. isLoopback stays free for what is not a host check (the viewer's token).
  const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
  const own = new Set([path.join(src, 'util', 'is.ts'), path.join(src, 'util', 'host.ts')]);
  const files = (await readdir(src, { recursive: true })).filter((f) => f.endsWith('.ts')).map((f) => path.join(src, f)).filter((f) => !own.has(f));
  t.ok(files.length > 20, `${files.length} modules`);
  const calls: string[] = [];
  for (const f of files) {
    for (const [i, line] of (await readFile(f, 'utf8')).split('\n').entries()) {
      if (/\b(isHost|isUnspecified)\s*\(/.test(line)) calls.push(`${path.relative(src, f)}:${i + 1}`);
    }
  }
  t.same(calls, [], 'isHost / isUnspecified called only in src/util/host.ts');
});

t.test('SocketClient.connect: a peer\'s host that keeps the rule still connects (absent: 127.0.0.1)', async (t) => {
  const server = net.createServer((c) => c.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  for (const target of [{ port }, { port, host: '127.0.0.1' }]) {
    const c = await SocketClient.connect(target);
    t.equal(c.socket.remotePort, port, JSON.stringify(target));
    c.close();
  }
});
