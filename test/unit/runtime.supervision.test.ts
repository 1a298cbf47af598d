// Supervision parts in-process: $NOTIFY_SOCKET / WATCHDOG_USEC parsing, the
// notifier over a real AF_UNIX datagram socket (path and abstract names), and
// the watchdog gate over a real StreamManager whose frame handler (a stand-in
// for the ML pipeline only) hangs on one frame: no WATCHDOG=1 while the
// pipeline is stalled, fed again when it moves, fed while idle or loading.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ConfigureStream } from '../../src/protocol/messages.js';
import { StreamManager, type ServerFrame, type StreamOwner } from '../../src/runtime/streams.js';
import { notifyTarget, PipelineWatchdog, SystemdNotifier, type ProgressProbe } from '../../src/runtime/supervision.js';
import { NotifySocket } from '../helpers/supervisor.js';
import { within } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-supervision-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('notifyTarget reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID', async (t) => {
  t.equal(notifyTarget({}), undefined, 'not under Type=notify');
  t.same(notifyTarget({ NOTIFY_SOCKET: '/run/systemd/notify' }), { socket: '/run/systemd/notify', watchdogUsec: undefined });
  t.same(notifyTarget({ NOTIFY_SOCKET: '@sd-notify', WATCHDOG_USEC: '5000000' }), { socket: '@sd-notify', watchdogUsec: 5000000 });
  t.same(notifyTarget({ NOTIFY_SOCKET: '/n', WATCHDOG_USEC: '5000000', WATCHDOG_PID: '1' }, 42), { socket: '/n', watchdogUsec: undefined }, 'the watchdog is another process\'s');
  t.same(notifyTarget({ NOTIFY_SOCKET: '/n', WATCHDOG_USEC: '5000000', WATCHDOG_PID: '42' }, 42), { socket: '/n', watchdogUsec: 5000000 });
  t.throws(() => notifyTarget({ NOTIFY_SOCKET: 'relative' }), { name: 'RangeError', code: 'ERR_SONOEDGE_NOTIFY', message: 'Expected an absolute path or an @abstract name for NOTIFY_SOCKET but received "relative"' });
  t.throws(() => notifyTarget({ NOTIFY_SOCKET: '/n', WATCHDOG_USEC: '-5' }), { name: 'RangeError', code: 'ERR_SONOEDGE_NOTIFY', message: 'Expected a positive integer (microseconds) for WATCHDOG_USEC but received "-5"' });
});

t.test('the notifier sends sd_notify datagrams to a path; a missing socket is reported, not thrown', async (t) => {
  const sock = new NotifySocket(path.join(dir, 'n.sock'));
  t.teardown(() => sock.close());
  const n = new SystemdNotifier({ socket: sock.path, watchdogUsec: undefined });
  n.ready('serving /run/sonoedge/sonoedge.sock\nsecond line');
  n.watchdog();
  n.stopping('stopping: SIGTERM');
  n.close();
  await within(() => sock.notices.length >= 3, 5000);
  t.same(sock.notices.map((x) => x.fields), [
    { READY: '1', MAINPID: String(process.pid), STATUS: 'serving /run/sonoedge/sonoedge.sock second line' },
    { WATCHDOG: '1' },
    { STOPPING: '1', STATUS: 'stopping: SIGTERM' },
  ]);
  t.equal(n.sent, 3);

  const errors: Error[] = [];
  const missing = new SystemdNotifier({ socket: path.join(dir, 'none.sock'), watchdogUsec: undefined }, (e) => errors.push(e));
  missing.watchdog();
  missing.close();
  await within(() => errors.length > 0, 5000);
  t.equal(errors.length, 1);
  t.equal((errors[0] as Error & { code?: string }).code, 'ERR_SONOEDGE_NOTIFY');
  t.equal(missing.sent, 0);
});

t.test('an abstract-namespace NOTIFY_SOCKET (@name)', async (t) => {
  const name = `@sonoedge-test-${process.pid}`;
  const sock = new NotifySocket(`\0${name.slice(1)}`);
  t.teardown(() => sock.close());
  const n = SystemdNotifier.fromEnv(undefined, { NOTIFY_SOCKET: name })!;
  n.watchdog();
  n.close();
  await within(() => sock.notices.length >= 1, 5000);
  t.same(sock.notices.map((x) => x.fields), [{ WATCHDOG: '1' }]);
});

t.test('the watchdog is fed while frames finish or nothing waits, and not while a frame hangs', async (t) => {
  let hang: (() => void) | undefined;
  const manager = new StreamManager({
    // Stand-in for the ML pipeline only: frame 3 never finishes until released.
    handler: (f) => (f.seq === 3 ? new Promise((resolve) => { hang = () => resolve({}); }) : Promise.resolve({})),
  });
  const owner: StreamOwner = { closed: false, frameFailed: () => undefined };
  const config: ConfigureStream = { stream: 0, width: 4, height: 4, format: 'GRAY8', spacing: [1, 1], fps: 30 };
  manager.configure(owner, config, 16, undefined, () => undefined);
  const frame = (seq: number): ServerFrame => ({ seq, acquiredAt: performance.now(), t: 0, stream: 0, config, pixels: new Uint8Array(16), clientId: 1, messageSeq: seq });
  let loading = 0;
  const probe = (): ProgressProbe => ({ completed: manager.stats.framesProcessed + manager.stats.framesFailed, busy: manager.busy, loading });
  const changes: string[] = [];
  let feeds = 0;
  const STALL_MS = 60;
  const w = new PipelineWatchdog({ intervalMs: 1000, stallMs: STALL_MS, probe, feed: () => { feeds++; }, onChange: (healthy, why) => changes.push(`${healthy}: ${why}`) });

  t.equal(w.tick(), true, 'idle: fed');
  for (let i = 0; i < 3; i++) {
    manager.submit(0, frame(i));
    await sleep(5);
    t.equal(w.tick(), true, `frame ${i} finished: fed`);
  }
  manager.submit(0, frame(3));
  await sleep(5);
  t.equal(manager.busy, 1);
  t.equal(w.tick(), true, 'a frame just started: not yet a stall');
  manager.submit(0, frame(4)); // waits behind the hung frame
  await sleep(STALL_MS + 20);
  t.equal(w.tick(), false, 'no frame finished for longer than the stall limit: not fed');
  t.equal(w.tick(), false);
  t.equal(w.healthy, false);
  loading = 1;
  t.equal(w.tick(), true, 'a model load in progress counts as progress');
  loading = 0;
  await sleep(STALL_MS + 20);
  t.equal(w.tick(), false);
  hang!();
  await sleep(5);
  t.equal(manager.busy, 0, 'frame 3 and then 4 finished');
  t.equal(w.tick(), true, 'moving again: fed');
  t.same({ feeds, fed: w.fed, skipped: w.skipped }, { feeds: 7, fed: 7, skipped: 3 });
  t.equal(changes.length, 4);
  t.match(changes[0], /^false: no frame finished for \d+ ms while 1 stream has a frame running or waiting$/);
  t.same(changes.slice(1), ['true: the pipeline finished a frame again', changes[2], 'true: the pipeline finished a frame again']);
  t.throws(() => new PipelineWatchdog({ intervalMs: 0, probe, feed: () => undefined }), { name: 'RangeError', code: 'ERR_SONOEDGE_NOTIFY', message: 'Expected a number of at least 1 (ms) for intervalMs but received 0' });
  await manager.closeAll();
});
