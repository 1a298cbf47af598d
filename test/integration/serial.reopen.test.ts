// The serial link comes back after its device does: a socat pty pair behind a
// symlink (the path a config names), killed to unplug it and started again on
// the same link to replug it. The link must notice the loss, say so once, try
// the path again with backoff (not once per retry in the log), and after the
// replug send heartbeats and results again, never a record from before.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ResultBody } from '../../src/protocol/messages.js';
import type { HeartbeatRecord, ResultRecord } from '../../src/protocol/serial.js';
import { SerialLink, type RuntimeSnapshot, type SerialLinkChange } from '../../src/transport/serial-link.js';
import { PluggablePty } from '../helpers/pty.js';
import { within } from '../helpers/wait.js';

const skip = spawnSync('sh', ['-c', 'command -v socat']).status === 0 ? false : 'socat is not installed (.ci/run installs it)';
const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-reopen-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const snapshot: RuntimeSnapshot = { state: 'running', modelSet: 0, streaming: true, modelLoaded: true, framesProcessed: 0, framesDropped: 0, faultCode: 0 };
const result = (seq: number): ResultBody => ({
  stream: 0, seq, t: 0, view: 'A4C', confidence: 0.9, quality: 0.7, state: 'ok', idScore: 0.9, lvAreaMm2: null, ef: null,
  efCi: null, edSeq: null, esSeq: null, flags: 0, latency: { queueMs: 0, totalMs: 5, stages: {} },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The change events without their error objects and timings, for exact comparison. */
const shape = (c: SerialLinkChange) => (c.up ? { up: true, first: c.first, reopens: c.reopens } : { up: false, reason: c.reason, retryInMs: c.retryInMs });

t.test('serial link: an unplugged device is noticed, retried with backoff, and after the replug heartbeats and new results flow, nothing stale', { skip }, async (t) => {
  const pty = new PluggablePty(path.join(dir, 'ttyA'));
  await pty.plug();
  t.teardown(() => pty.unplug());
  const changes: SerialLinkChange[] = [];
  const errors: Error[] = [];
  // resultRate 2: a result offered just before the unplug is still waiting for its slot when the port goes.
  const link = new SerialLink({ path: pty.link, heartbeatMs: 50, resultRate: 2, reopenMinMs: 50, reopenMaxMs: 400, runtime: () => snapshot,
    onLinkChange: (c) => changes.push(c), onError: (e) => errors.push(e) });
  await link.open();
  t.teardown(() => link.close());
  t.equal(link.up, true);
  t.ok(await within(() => pty.beats.length >= 3, 5000), 'heartbeats arrive');
  link.write(result(1));
  t.ok(await within(() => pty.records.some((r) => r.record.kind === 'RESULT'), 5000), 'a result arrives');

  link.write(result(500));                     // waiting for its send slot when the device goes
  const lastBefore = pty.records.filter((r) => r.record.kind === 'HEARTBEAT').at(-1)!.record as HeartbeatRecord;
  await pty.unplug();
  const unpluggedAt = performance.now();
  t.ok(await within(() => !link.up, 5000), 'the loss is noticed');
  t.same(changes.map(shape), [{ up: false, reason: 'lost', retryInMs: 50 }], 'one change: lost, first retry after reopenMinMs');
  t.equal(errors.length, 1, 'onError once');
  t.equal(link.stats.losses, 1);
  for (let seq = 600; seq < 610; seq++) link.write(result(seq));   // offered while down: not kept
  t.equal(link.stats.resultsWhileDown, 10);
  await sleep(1500);                            // several tries fail meanwhile (50, 100, 200, 400, 400... ms apart)
  t.equal(changes.length, 1, 'failed retries change nothing and report nothing');

  const mark = pty.records.length;
  await pty.plug();
  t.ok(await within(() => link.up, 10000), 'the path opens again after the replug');
  const downMs = performance.now() - unpluggedAt;
  t.same(changes.map(shape), [{ up: false, reason: 'lost', retryInMs: 50 }, { up: true, first: false, reopens: 1 }]);
  const back = changes[1] as Extract<SerialLinkChange, { up: true }>;
  t.ok(back.attempts >= 2 && back.attempts <= Math.ceil(downMs / 400) + 4, `backoff: ${back.attempts} attempts in ${Math.round(downMs)} ms`);
  t.equal(link.stats.reopens, 1);
  t.ok(await within(() => pty.records.slice(mark).filter((r) => r.record.kind === 'HEARTBEAT').length >= 3, 5000), 'heartbeats resume');
  link.write(result(700));
  t.ok(await within(() => pty.records.slice(mark).some((r) => r.record.kind === 'RESULT'), 5000), 'a new result goes out');
  const after = pty.records.slice(mark).map((r) => r.record);
  t.same(after.filter((r): r is ResultRecord => r.kind === 'RESULT').map((r) => r.seq), [700], 'only the result offered after the reopen: none from before the loss or while down');
  const firstBeat = after.find((r): r is HeartbeatRecord => r.kind === 'HEARTBEAT')!;
  t.ok(firstBeat.uptimeMs >= lastBefore.uptimeMs + 1000, `the first heartbeat after the replug is a new one (uptime ${lastBefore.uptimeMs} -> ${firstBeat.uptimeMs} ms)`);
});

t.test('serial link: a device absent at open() is waited for: open() resolves, the link is down, and it comes up when the device appears; close() stops the retries', { skip }, async (t) => {
  const pty = new PluggablePty(path.join(dir, 'ttyB'));
  t.teardown(() => pty.unplug());
  const changes: SerialLinkChange[] = [];
  const link = new SerialLink({ path: pty.link, heartbeatMs: 50, reopenMinMs: 50, reopenMaxMs: 200, runtime: () => snapshot, onLinkChange: (c) => changes.push(c) });
  await link.open();
  t.equal(link.up, false);
  t.same(changes.map(shape), [{ up: false, reason: 'open', retryInMs: 50 }]);
  t.match((changes[0] as { err: Error }).err.message, /No such file or directory|ENOENT/);
  await sleep(600);
  t.equal(changes.length, 1, 'no report per retry');
  await pty.plug();
  t.ok(await within(() => link.up, 10000), 'up once the device is there');
  t.same(changes.map(shape), [{ up: false, reason: 'open', retryInMs: 50 }, { up: true, first: true, reopens: 1 }]);
  t.ok(await within(() => pty.beats.length >= 2, 5000), 'heartbeats arrive');

  // Unplugged again, then closed while retrying: close() is prompt and no retry runs after it.
  await pty.unplug();
  t.ok(await within(() => !link.up, 5000));
  const t0 = performance.now();
  await link.close();
  t.ok(performance.now() - t0 < 1500, 'close() while down is prompt');
  await pty.plug();
  await sleep(600);
  t.equal(link.up, false, 'a closed link does not reopen');
  t.equal(changes.length, 3);
});
