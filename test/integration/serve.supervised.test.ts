// `sonoedge serve` supervised as systemd would (Type=notify, WatchdogSec=1,
// Restart=always) by the test itself: a NOTIFY_SOCKET datagram socket the
// test owns, a watchdog that kills a runtime that stops feeding it, and a
// restart on every exit. The runtime is the real one (dist/, bundled models);
// the clients are real socket clients streaming the sample cine at 30 fps.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MODELS_DIR } from '../../src/model/package.js';
import { readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { CLI, StreamingClient, Supervisor } from '../helpers/supervisor.js';
import { BUNDLED_MODELS_YAML } from '../helpers/serve-config.js';
import { until } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-supervised-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
/** systemd's WatchdogSec= in these tests; serve feeds every half of it. */
const WATCHDOG_MS = 1000;
// What these tests assert is what a loaded 2-core machine cannot change: that
// serve feeds the watchdog, never faster than every WATCHDOG_MS / 2 and never
// so late that it acts; that a runtime killed or hung is restarted and serves
// its clients again. How long a restart takes is measured, not asserted: the
// times are printed (t.comment), and speed belongs to the benchmarks.

function config(name: string, extra = ''): { file: string; sock: string } {
  const sock = path.join(dir, `${name}.sock`);
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, `socket:
  path: ${sock}
${BUNDLED_MODELS_YAML}logging:
  level: warn
  file: ${path.join(dir, `${name}.log`)}
${extra}`);
  return { file, sock };
}
const connectable = (sock: string) => new Promise<boolean>((resolve) => {
  const s = net.createConnection(sock);
  s.once('connect', () => { s.destroy(); resolve(true); });
  s.once('error', () => resolve(false));
});

const { frames } = await readSampleCine();
const stream = (id: number) => ({ stream: id, width: 256, height: 256, format: 'GRAY8' as const, spacing: [SAMPLE_SPACING_MM, SAMPLE_SPACING_MM] as [number, number], fps: 30 });

t.test('READY=1 once the socket listens, WATCHDOG=1 every half period while idle or streaming, STOPPING=1 at SIGTERM, exit 0', async (t) => {
  const { file, sock } = config('a');
  const sup = new Supervisor(file, path.join(dir, 'a.notify'), WATCHDOG_MS);
  t.teardown(() => sup.kill());
  let listeningAtReady: boolean | undefined;
  const onReady = sup.notify.notices.length;
  sup.start();
  const life = await sup.ready();
  listeningAtReady = await connectable(sock);
  t.equal(listeningAtReady, true, 'the socket accepts connections when READY=1 arrives');
  const ready = sup.notify.notices.slice(onReady).find((n) => n.fields.READY === '1')!;
  t.same(Object.keys(ready.fields), ['READY', 'MAINPID', 'STATUS']);
  t.equal(ready.pid, life.child.pid, 'MAINPID is the serve process');
  t.equal(ready.fields.STATUS, `serving ${sock}; models sonoedge-view-quality@1.0.0+sonoedge-lv-segmentation@1.0.0`);

  const client = new StreamingClient(sock, stream(0), frames, 33);
  const streamingFrom = performance.now();
  client.start();
  await until(() => client.results.length >= 30, '30 results');
  await client.stop();
  const idleFrom = performance.now();
  await new Promise((r) => setTimeout(r, 1200)); // idle again: still fed
  const idleTo = performance.now();

  const exit = await sup.stop();
  t.same(exit, { code: 0, signal: null }, 'a graceful stop');
  const feeds = sup.notify.notices.filter((n) => n.fields.WATCHDOG === '1').map((n) => n.at);
  const gaps = feeds.slice(1).map((at, i) => at - feeds[i]);
  t.ok(feeds.length >= 4, `fed ${feeds.length} times`);
  // The feed period is WATCHDOG_USEC / 2 = 500 ms. Load only makes a timer late, never early, so the gaps between
  // feeds are a period or more when sent; as read here, the first may have come late, so the span they cover is
  // allowed a 10% shortfall and one feed more. A feed too late would have had the supervisor's watchdog kill the
  // runtime: there would be two lives and no clean exit.
  const PERIOD_MS = WATCHDOG_MS / 2;
  const span = feeds[feeds.length - 1] - feeds[0];
  t.ok(feeds.length - 1 <= Math.floor(span / (0.9 * PERIOD_MS)) + 1, `no faster than every ${PERIOD_MS} ms: ${feeds.length} feeds over ${Math.round(span)} ms (gaps ${gaps.map(Math.round).join(', ')})`);
  t.same([sup.lives.length, life.killedBy], [1, undefined], 'never so late that the watchdog acted');
  t.ok(feeds.some((at) => at > streamingFrom && at < idleFrom), 'fed while streaming');
  t.ok(feeds.some((at) => at > idleFrom && at < idleTo), 'fed while idle again');
  const stopping = sup.notify.notices.filter((n) => n.fields.STOPPING === '1');
  t.equal(stopping.length, 1);
  t.equal(stopping[0].fields.STATUS, 'stopping: SIGTERM');
  t.ok(stopping[0].at < life.exitedAt!, 'STOPPING=1 before the exit');
  t.equal(existsSync(sock), false, 'the socket file is gone');
});

t.test('a serve that cannot start never says READY', async (t) => {
  const { file } = config('bad', '');
  writeFileSync(file, `socket:\n  path: ${path.join(dir, 'bad.sock')}\nmodels:\n  viewQuality: ${path.join(dir, 'no-such-package')}\n  trustStore: ${path.join(MODELS_DIR, 'trust')}\n`);
  const sup = new Supervisor(file, path.join(dir, 'bad.notify'), WATCHDOG_MS);
  t.teardown(() => sup.kill());
  sup.start();
  await until(() => sup.lives[0].exit !== undefined, 'the failed start to exit');
  sup.kill();
  const exit = sup.lives[0].exit;
  t.same(exit, { code: 1, signal: null });
  t.same(sup.notify.notices.filter((n) => n.fields.READY === '1'), [], 'no READY=1');
});

t.test('a malformed NOTIFY_SOCKET or WATCHDOG_USEC stops serve at start: ERR_SONOEDGE_NOTIFY, exit 1, nothing listening', async (t) => {
  const { file, sock } = config('env');
  const serve = (env: Record<string, string>) => {
    const r = spawnSync(process.execPath, [CLI, 'serve', '--config', file], { encoding: 'utf8', timeout: 60000, env: { ...process.env, ...env } });
    return { status: r.status, signal: r.signal, stderr: r.stderr.trim().split('\n').at(-1) };
  };
  t.same(serve({ NOTIFY_SOCKET: 'relative' }), {
    status: 1, signal: null,
    stderr: 'sonoedge serve: [ERR_SONOEDGE_NOTIFY] Expected an absolute path or an @abstract name for NOTIFY_SOCKET but received "relative"',
  });
  t.same(serve({ NOTIFY_SOCKET: path.join(dir, 'env.notify'), WATCHDOG_USEC: '-5' }), {
    status: 1, signal: null,
    stderr: 'sonoedge serve: [ERR_SONOEDGE_NOTIFY] Expected a positive integer (microseconds) for WATCHDOG_USEC but received "-5"',
  });
  t.equal(existsSync(sock), false, 'no socket left');
});

t.test('kill -9 and a hang: the supervisor restarts the runtime, the clients reconnect and resume', async (t) => {
  const { file, sock } = config('r');
  const sup = new Supervisor(file, path.join(dir, 'r.notify'), WATCHDOG_MS);
  t.teardown(() => sup.kill());
  sup.start();
  await sup.ready();
  const clients = [new StreamingClient(sock, stream(1), frames, 33), new StreamingClient(sock, stream(2), frames, 33)];
  t.teardown(() => Promise.all(clients.map((c) => c.stop())));
  for (const c of clients) c.start();
  await until(() => clients.every((c) => c.results.length >= 15), 'results on both streams');

  // 1. A crash: SIGKILL.
  const first = sup.current!;
  const coldStart = first.readyAt! - first.spawnedAt;
  const killedAt = performance.now();
  first.child.kill('SIGKILL');
  await until(() => sup.lives.length === 2, 'a restart');
  const second = await sup.ready();
  const crashToReady = second.readyAt! - killedAt;
  t.same(first.exit, { code: null, signal: 'SIGKILL' });
  t.same([sup.lives.length, second.exit], [2, undefined], 'one restart, READY again: the dead runtime\'s socket file and streams held nothing up');
  const before = clients.map((c) => c.results.length);
  await until(() => clients.every((c, i) => c.connections >= 2 && c.results.length >= before[i] + 15), 'both clients to reconnect and get results again');

  // 2. A hang: the process stops (SIGSTOP) and feeds nothing; the watchdog fires after WATCHDOG_MS.
  const hungAt = performance.now();
  second.child.kill('SIGSTOP');
  await until(() => sup.lives.length === 3, 'the watchdog to kill the hung runtime and restart it', 10000);
  const seenAt = second.exitedAt!;
  const third = await sup.ready();
  t.equal(second.killedBy, 'watchdog');
  t.same(second.exit, { code: null, signal: 'SIGKILL' });
  const detect = seenAt - hungAt;
  // The hung runtime's feeds stop; it is killed only after a whole WatchdogSec without one, and only once hung.
  const unfed = seenAt - (second.lastWatchdogAt ?? second.readyAt!);
  t.ok(unfed >= WATCHDOG_MS, `killed ${Math.round(unfed)} ms after its last feed (WatchdogSec ${WATCHDOG_MS} ms)`);
  t.ok(seenAt > hungAt, 'and after the hang began');
  const hangToReady = third.readyAt! - seenAt;
  t.same([sup.lives.length, third.exit], [3, undefined], 'restarted once more, READY again');
  const mid = clients.map((c) => c.results.length);
  await until(() => clients.every((c, i) => c.connections >= 3 && c.results.length >= mid[i] + 15), 'both clients to reconnect and get results again after the hang');

  // Every frame sent on a live connection of the last runtime gets its result.
  for (const c of clients) await c.stop();
  const exit = await sup.stop();
  t.same(exit, { code: 0, signal: null });
  t.comment(`first start to READY: ${Math.round(coldStart)} ms; kill -9 to READY: ${Math.round(crashToReady)} ms; hang seen after ${Math.round(detect)} ms, then READY after ${Math.round(hangToReady)} ms`);
});
