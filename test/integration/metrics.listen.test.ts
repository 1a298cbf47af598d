// The metrics endpoint's listening, over a real runtime (bundled models) and
// real ports: a port in use is ERR_SONOEDGE_LISTEN naming metrics.port and
// leaves nothing behind (no result subscriber, no listener on the runtime's
// streams), so a second start works; once listening, one lasting 'error'
// handler logs a later server error (the runtime's logger, a real file) and
// the endpoint serves on; `serve` (dist/) with metrics.port in use exits 1
// with that one line.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/log.js';
import { loadTrustStore, MODELS_DIR } from '../../src/model/package.js';
import { Runtime } from '../../src/runtime/index.js';
import { MetricsServer } from '../../src/telemetry/metrics.js';
import { BUNDLED_MODELS_YAML } from '../helpers/serve-config.js';
import { CLI, ROOT } from '../helpers/supervisor.js';
import { until } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-metrics-listen-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
const rt = await Runtime.start({
  pipeline: { viewQuality: path.join(MODELS_DIR, 'view_quality'), segmentation: path.join(MODELS_DIR, 'lv_segmentation'), trustStore },
  socket: { path: path.join(dir, 'rt.sock') },
});
t.teardown(() => rt.close());

const hold = async (): Promise<net.Server> => {
  const held = net.createServer();
  await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
  return held;
};

t.test('options that are not an object, a port that is not 0..65535: ERR_SONOEDGE_METRICS before anything listens or subscribes', async (t) => {
  // Before, null was Node's TypeError "Cannot read properties of null (reading 'host')"; a missing or null port listened
  // on a free port nobody asked for; -1 and 1.5 were Node's uncoded ERR_SOCKET_BAD_PORT; "9464" was taken as a port.
  const subs = rt.publisher.subscriptions.length;
  const closedListeners = rt.streams.listenerCount('streamClosed');
  const cases: [options: unknown, name: string, message: string][] = [
    [null, 'TypeError', 'Expected an object for metrics options but received null'],
    [undefined, 'TypeError', 'Expected an object for metrics options but received undefined'],
    [{}, 'RangeError', 'Expected an integer 0..65535 for metrics.port but received undefined'],
    [{ port: null }, 'RangeError', 'Expected an integer 0..65535 for metrics.port but received null'],
    [{ port: -1 }, 'RangeError', 'Expected an integer 0..65535 for metrics.port but received -1 of type number'],
    [{ port: 65536 }, 'RangeError', 'Expected an integer 0..65535 for metrics.port but received 65536 of type number'],
    [{ port: 1.5 }, 'RangeError', 'Expected an integer 0..65535 for metrics.port but received 1.5 of type number'],
    [{ port: '9464' }, 'RangeError', 'Expected an integer 0..65535 for metrics.port but received "9464" of type string'],
  ];
  for (const [options, name, message] of cases) {
    await t.rejects(MetricsServer.start(rt, options as never), { name, code: 'ERR_SONOEDGE_METRICS', message }, message);
  }
  t.equal(rt.publisher.subscriptions.length, subs, 'no result subscriber left');
  t.equal(rt.streams.listenerCount('streamClosed'), closedListeners, 'no streamClosed listener left');
});

t.test('a port in use: ERR_SONOEDGE_LISTEN naming metrics.port, nothing left behind, a second start works', async (t) => {
  const held = await hold();
  const port = (held.address() as net.AddressInfo).port;
  const subs = rt.publisher.subscriptions.length;
  const closedListeners = rt.streams.listenerCount('streamClosed');
  await t.rejects(MetricsServer.start(rt, { port }), {
    name: 'Error', code: 'ERR_SONOEDGE_LISTEN',
    message: `Expected to listen for the metrics endpoint (metrics.port) on 127.0.0.1:${port} but could not: listen EADDRINUSE: address already in use 127.0.0.1:${port}`,
  });
  t.equal(rt.publisher.subscriptions.length, subs, 'no result subscriber left by the failed start');
  t.equal(rt.streams.listenerCount('streamClosed'), closedListeners, 'no streamClosed listener left by the failed start');

  // The same port, once free: a second start listens, with one 'error' handler (listen's own is gone).
  await new Promise<void>((resolve) => held.close(() => resolve()));
  const m = await MetricsServer.start(rt, { port });
  t.teardown(() => m.close());
  t.equal(m.port, port);
  t.equal(m.server.listenerCount('error'), 1, 'one lasting error handler after listen');
  t.equal(rt.publisher.subscriptions.length, subs + 1, 'one subscriber: the started endpoint');
  t.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
  await m.close();
  t.equal(rt.publisher.subscriptions.length, subs, 'close unsubscribes');
  t.equal(rt.streams.listenerCount('streamClosed'), closedListeners, 'close removes its streamClosed listener');
});

t.test('after listen, a server error is logged through the logger; the endpoint serves on and the process does not end', async (t) => {
  const file = path.join(dir, 'metrics.log');
  const log = createLogger({ file });
  const m = await MetricsServer.start(rt, { port: 0, log: log.child({ component: 'metrics' }) });
  t.teardown(() => m.close());
  const subs = rt.publisher.subscriptions.length;
  // What Node emits when accept() fails on a listening server (no fd can make it happen on cue: libuv absorbs EMFILE).
  m.server.emit('error', Object.assign(new Error('accept ENOBUFS'), { code: 'ENOBUFS', errno: -105, syscall: 'accept' }));
  const lines = () => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  await until(() => lines().some((l) => l.msg === 'metrics endpoint error'), 'the logged error');
  const logged = lines().filter((l) => l.msg === 'metrics endpoint error');
  t.equal(logged.length, 1, 'logged once');
  t.match(logged[0], { level: 'error', component: 'metrics', host: '127.0.0.1', port: m.port, err: { message: 'accept ENOBUFS', code: 'ENOBUFS' } });
  t.equal(rt.publisher.subscriptions.length, subs, 'the endpoint still takes results');
  t.equal(m.server.listenerCount('error'), 1);
  const res = await fetch(`http://127.0.0.1:${m.port}/health`);
  t.equal(res.status, 200, 'still serving');
  await m.close();
  await log.close();
});

t.test('serve: a metrics.port in use stops it at start with one line naming metrics.port (ERR_SONOEDGE_LISTEN), exit 1, the runtime closed', async (t) => {
  const held = await hold();
  t.teardown(() => held.close());
  const port = (held.address() as net.AddressInfo).port;
  const file = path.join(dir, 'serve.yaml');
  const sock = path.join(dir, 'serve.sock');
  writeFileSync(file, `socket:\n  path: ${sock}\n${BUNDLED_MODELS_YAML}metrics:\n  port: ${port}\nlogging:\n  file: ${path.join(dir, 'serve.log')}\n`);
  const r = spawnSync(process.execPath, [CLI, 'serve', '--config', file], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
  t.equal(r.status, 1);
  t.equal(r.stderr, `sonoedge serve: [ERR_SONOEDGE_LISTEN] Expected to listen for the metrics endpoint (metrics.port) on 127.0.0.1:${port} but could not: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`);
  t.notOk(existsSync(sock), 'no socket left');
});
