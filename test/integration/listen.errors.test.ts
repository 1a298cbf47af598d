// After listen, an error of a listening server (what Node emits when accept()
// fails) is logged through the project's logger (pino, a real file) and the
// server serves on: the socket server's path, TCP and path-lock servers, the
// viewer's HTTP server, the OpenIGTLink bridge's server. Before, none had a
// lasting 'error' handler (the bridge re-emitted it on itself, with no
// listener in serve), so such an error ended the process. No fd trick makes a
// kernel accept error on cue (libuv absorbs EMFILE), so the test emits Node's
// own error object on the real server, as metrics.listen does; the clients
// that follow are real ones over real sockets.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/log.js';
import { StreamManager } from '../../src/runtime/streams.js';
import { parseHelloReply } from '../../src/protocol/messages.js';
import { IgtlBridge } from '../../src/transport/igtl/bridge.js';
import { parseString } from '../../src/transport/igtl/messages.js';
import { SocketClient } from '../../src/transport/socket-client.js';
import { SocketServer } from '../../src/transport/socket-server.js';
import { VERSION } from '../../src/version.js';
import { ViewerServer } from '../../src/viewer/server.js';
import { imageMessage, RawPeer } from '../helpers/igtl-client.js';
import { until } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-listen-errors-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** What Node emits when accept() fails on a listening server. */
const acceptError = () => Object.assign(new Error('accept ENOBUFS'), { code: 'ENOBUFS', errno: -105, syscall: 'accept' });
const ERR = { type: 'Error', message: 'accept ENOBUFS', code: 'ENOBUFS', errno: -105, syscall: 'accept' };

/** A logger writing to its own file, and the file's lines with message `msg`. */
function logTo(name: string) {
  const file = path.join(dir, `${name}.log`);
  const log = createLogger({ file });
  const lines = (msg: string) => {
    let text = '';
    try { text = readFileSync(file, 'utf8'); } catch { /* not written yet */ }
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);
  };
  return { log, lines };
}

/** The logged entry without what varies (time, pid, hostname, the stack). */
const entry = (l: Record<string, unknown>) => {
  const { time: _t, pid: _p, hostname: _h, ...rest } = l;
  const { stack: _s, ...err } = rest.err as Record<string, unknown>;
  return { ...rest, err };
};

t.test('socket server: an error of its path, TCP or lock server after listen is logged (socket server error); it serves on', async (t) => {
  const { log, lines } = logTo('socket');
  const server = new SocketServer({
    path: path.join(dir, 'rt.sock'), tcp: { port: 0 }, log: log.child({ component: 'socket' }),
    handler: async () => ({ view: 'A4C', quality: 0.9, lvAreaMm2: null, ef: null, flags: 0 }),
  });
  await server.listen();
  t.teardown(() => server.close());
  const before = await SocketClient.connect(server.path);
  t.teardown(() => before.close());
  await before.hello('before');
  const servers = server.servers;
  t.equal(servers.length, process.platform === 'linux' ? 3 : 2, 'the path\'s, TCP\'s and (Linux) the lock\'s');
  for (const s of servers) {
    t.equal(s.listenerCount('error'), 1, 'one lasting error handler after listen');
    s.emit('error', acceptError());
  }
  await until(() => lines('socket server error').length === servers.length, 'the logged errors');
  const where = [
    { listener: 'path', path: server.path },
    { listener: 'tcp', host: '127.0.0.1', port: server.tcpPort },
    { listener: 'lock', path: server.path },
  ].slice(0, servers.length);
  t.same(lines('socket server error').map(entry), where.map((w) => ({ level: 'error', component: 'socket', ...w, err: ERR, msg: 'socket server error' })));
  // Serving on: a client connected before, and new ones over the path and over TCP.
  t.equal(parseHelloReply((await before.hello('again')).body).server, `sonoedge ${VERSION}`, 'a client connected before');
  for (const target of [server.path, { port: server.tcpPort! }]) {
    const c = await SocketClient.connect(target);
    t.teardown(() => c.close());
    t.equal(parseHelloReply((await c.hello('after')).body).server, `sonoedge ${VERSION}`, `a new client over ${typeof target === 'string' ? 'the path' : 'TCP'}`);
  }
  t.equal(server.stats.clients, 3);
  await server.close();
  await log.close();
});

t.test('viewer: an error of its HTTP server after listen is logged (viewer server error); the page is served on', async (t) => {
  const { log, lines } = logTo('viewer');
  const streams = new StreamManager({ handler: () => Promise.reject(new Error('no frames in this test')) });
  const viewer = await ViewerServer.start({ publisher: streams.publisher, streams, observeFrames: () => () => undefined }, { port: 0, log: log.child({ component: 'viewer' }) });
  t.teardown(() => viewer.close());
  t.equal(viewer.server.listenerCount('error'), 1, 'one lasting error handler after listen');
  viewer.server.emit('error', acceptError());
  await until(() => lines('viewer server error').length === 1, 'the logged error');
  t.same(lines('viewer server error').map(entry), [{ level: 'error', component: 'viewer', host: '127.0.0.1', port: viewer.port, err: ERR, msg: 'viewer server error' }]);
  const res = await fetch(viewer.url);
  t.equal(res.status, 200, 'the page is still served');
  t.match(await res.text(), /<html/i);
  await viewer.close();
  await log.close();
});

t.test('OpenIGTLink bridge: an error of its server after listen is logged (openigtlink server error), emitted only to a listener; it serves on', async (t) => {
  const { log, lines } = logTo('igtl');
  const streams = new StreamManager({ handler: async () => ({ view: 'A4C', quality: 0.9, lvAreaMm2: 12, ef: null, flags: 0 }) });
  const bridge = new IgtlBridge({ streams, port: 0, log: log.child({ component: 'igtl' }) });
  await bridge.start();
  t.teardown(() => bridge.close());
  const server = bridge.server!;
  t.equal(server.listenerCount('error'), 1, 'one lasting error handler after listen');
  // No 'error' listener on the bridge (serve has none): logged, not thrown.
  t.equal(bridge.listenerCount('error'), 0);
  server.emit('error', acceptError());
  // With one: it gets the error too, and the error is logged as well.
  const heard: Error[] = [];
  bridge.on('error', (err: Error) => heard.push(err));
  server.emit('error', acceptError());
  await until(() => lines('openigtlink server error').length === 2, 'the logged errors');
  const logged = { level: 'error', component: 'igtl', host: '127.0.0.1', port: bridge.port, err: ERR, msg: 'openigtlink server error' };
  t.same(lines('openigtlink server error').map(entry), [logged, logged]);
  t.same(heard.map((e) => e.message), ['accept ENOBUFS']);
  // Serving on: a new peer's IMAGE gets its result.
  const p = await RawPeer.connect(bridge.port);
  t.teardown(() => p.destroy());
  p.send(imageMessage('US', 8, 6, 1));
  const summary = JSON.parse(parseString((await p.next((m) => m.header.type === 'STRING')).content).text) as Record<string, unknown>;
  t.match(summary, { device: 'US', lvAreaMm2: 12 });
  await bridge.close();
  await log.close();
});
