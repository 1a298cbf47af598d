// The metrics endpoint of a real `sonoedge serve` (dist/, bundled models) and
// `sonoedge status` reading it: frames in/out/dropped/failed per stream,
// latency histograms, errors by code, clients, model ids and sha256, RSS,
// event-loop delay, the in-distribution state; /health; loopback only.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseExposition, type Sample } from '../../src/cli/status.js';
import { loadTrustStore, MODELS_DIR, verifyModelPackage } from '../../src/model/package.js';
import { MessageType } from '../../src/protocol/constants.js';
import { WireError } from '../../src/protocol/errors.js';
import { msg } from '../../src/protocol/messages.js';
import type { Runtime } from '../../src/runtime/index.js';
import { MetricsServer } from '../../src/telemetry/metrics.js';
import { SocketClient, type RemoteError } from '../../src/transport/socket-client.js';
import { readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { CLI, ROOT } from '../helpers/supervisor.js';
import { BUNDLED_MODELS_YAML } from '../helpers/serve-config.js';
import { freePort } from '../helpers/net.js';
import { until } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-metrics-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const sock = path.join(dir, 'm.sock');
const log = path.join(dir, 'm.log');
const file = path.join(dir, 'serve.yaml');
// A free port now (status --config reads it from the file).
const port = await freePort();
writeFileSync(file, `socket:
  path: ${sock}
${BUNDLED_MODELS_YAML}metrics:
  port: ${port}
logging:
  file: ${log}
`);

const logLines = (): { msg: string; port?: number }[] => {
  try {
    return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
  }
};

const child = spawn(process.execPath, [CLI, 'serve', '--config', file], { cwd: ROOT, stdio: 'ignore' });
t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
await until(() => logLines().some((l) => l.msg === 'metrics listening'), 'the metrics endpoint');
const base = `http://127.0.0.1:${port}`;
const families = async () => parseExposition(await (await fetch(`${base}/metrics`)).text());
const value = (f: Map<string, Sample[]>, name: string, labels: Record<string, string> = {}) =>
  f.get(name)?.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;

const { frames } = await readSampleCine();
const c = await SocketClient.connect(sock);
t.teardown(() => c.close());
await c.hello('metrics-test');
await c.subscribe({});
const results: number[] = [];
c.on('message', (m) => { if (m.header.type === MessageType.RESULT) results.push((m.body as { seq: number }).seq); });

t.test('the endpoint counts what the runtime did', async (t) => {
  t.equal(logLines().find((l) => l.msg === 'metrics listening')!.port, port, 'the port is logged');
  const before = await families();
  t.equal(value(before, 'sonoedge_clients'), 1);
  t.same(value(before, 'sonoedge_runtime_state', { state: 'ready' }), 1);
  const trust = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const vq = await verifyModelPackage(path.join(MODELS_DIR, 'view_quality'), { trustStore: trust });
  const seg = await verifyModelPackage(path.join(MODELS_DIR, 'lv_segmentation'), { trustStore: trust });
  t.same(before.get('sonoedge_model_info')!.map((m) => [m.labels, m.value]), [
    [{ task: 'view_quality', id: 'sonoedge-view-quality@1.0.0', variant: 'fp32', sha256: vq.manifest.variants.fp32.sha256 }, 1],
    [{ task: 'lv_segmentation', id: 'sonoedge-lv-segmentation@1.0.0', variant: 'fp32', sha256: seg.manifest.variants.fp32.sha256 }, 1],
  ]);

  await c.configure({ stream: 5, width: 256, height: 256, format: 'GRAY8', spacing: [SAMPLE_SPACING_MM, SAMPLE_SPACING_MM], fps: 30 });
  for (let i = 0; i < 12; i++) {
    c.sendFrame(5, i, frames[i]);
    await until(() => results.length === i + 1, `the result of frame ${i}`);
  }
  // Two bad requests: a configure with width 0 (BAD_FIELD) and a frame for a stream that is not configured (UNKNOWN_STREAM).
  const bad = await c.configure({ stream: 6, width: 0, height: 8, format: 'GRAY8', spacing: [1, 1], fps: 30 }).catch((e: RemoteError) => e);
  t.equal((bad as RemoteError).wireCode, WireError.BAD_FIELD);
  c.sendFrame(9, 0, new Uint8Array(4));
  await new Promise((r) => setTimeout(r, 200));

  const f = await families();
  t.same([value(f, 'sonoedge_frames_in_total', { stream: '5' }), value(f, 'sonoedge_frames_out_total', { stream: '5' }),
    value(f, 'sonoedge_frames_dropped_total', { stream: '5' }), value(f, 'sonoedge_frames_failed_total', { stream: '5' })], [12, 12, 0, 0]);
  t.equal(value(f, 'sonoedge_errors_total', { code: 'BAD_FIELD' }), 1);
  t.equal(value(f, 'sonoedge_errors_total', { code: 'UNKNOWN_STREAM' }), 1);
  t.equal(value(f, 'sonoedge_results_sent_total'), 12);
  t.equal(value(f, 'sonoedge_streams'), 1);
  t.equal(value(f, 'sonoedge_runtime_state', { state: 'running' }), 1);
  t.equal(value(f, 'sonoedge_frame_latency_seconds_count', { stream: '5' }), 12, 'one latency observation per result');
  t.equal(value(f, 'sonoedge_frame_latency_seconds_bucket', { stream: '5', le: '+Inf' }), 12);
  t.equal(value(f, 'sonoedge_queue_seconds_count', { stream: '5' }), 12);
  const stages = f.get('sonoedge_stage_seconds_count')!.map((m) => m.labels.stage);
  t.ok(stages.length >= 2, `stages observed: ${stages.join(', ')}`);
  const states = f.get('sonoedge_stream_state')!.filter((m) => m.labels.stream === '5');
  t.same(states.map((m) => m.labels.state).sort(), ['ok', 'uncertain', 'unknown']);
  const current = states.filter((m) => m.value === 1);
  t.equal(current.length, 1, 'one current state');
  const perState = f.get('sonoedge_results_total')!.filter((m) => m.labels.stream === '5');
  t.equal(perState.reduce((a, m) => a + m.value, 0), 12, 'every result counted under its state');
  t.ok(value(f, 'process_resident_memory_bytes')! > 50e6, 'RSS');
  t.ok(value(f, 'nodejs_eventloop_lag_p99_seconds')! >= 0, 'event-loop delay');
  t.same([...f.keys()].filter((k) => k.startsWith('sonoedge_pacs_outbox_')), [], 'no PACS outbox families without dicom.pacs');
});

t.test('sonoedge status reads it (table and --json); /health', async (t) => {
  const json = spawnSync(process.execPath, [CLI, 'status', '--config', file, '--json'], { encoding: 'utf8' });
  t.equal(json.status, 0, json.stderr);
  const s = JSON.parse(json.stdout);
  t.equal(s.url, `http://127.0.0.1:${port}/metrics`);
  t.same({ state: s.state, clients: s.clients, watchdog: s.watchdog, errors: s.errors, outbox: s.outbox }, { state: 'running', clients: 1, watchdog: null, errors: { BAD_FIELD: 1, UNKNOWN_STREAM: 1 }, outbox: null });
  t.same(s.models.map((m: { id: string }) => m.id), ['sonoedge-view-quality@1.0.0', 'sonoedge-lv-segmentation@1.0.0']);
  t.same(s.streams.map((x: Record<string, unknown>) => [x.stream, x.framesIn, x.framesOut, x.framesDropped, x.framesFailed]), [[5, 12, 12, 0, 0]]);
  t.type(s.streams[0].latencyMeanMs, 'number');
  t.ok(s.rssBytes > 50e6);

  const table = spawnSync(process.execPath, [CLI, 'status', '--port', String(port)], { encoding: 'utf8' });
  t.equal(table.status, 0);
  const lines = table.stdout.split('\n');
  t.match(lines[0], new RegExp(`^sonoedge at http://127\\.0\\.0\\.1:${port}/metrics: running, 1 client, RSS \\d+\\.\\d MB, event-loop delay p99 [\\d.]+ ms, watchdog off$`));
  t.match(lines[1], /^model view_quality: sonoedge-view-quality@1\.0\.0 \(fp32, sha256 [0-9a-f]{64}\)$/);
  t.match(lines[3], /^stream +in +out +dropped +failed +state +mean ms +p99 ms <=$/);
  t.match(lines[4], /^ +5 +12 +12 +0 +0 +(ok|uncertain|unknown) +[\d.]+ +[\d.]+$/);
  t.equal(lines[5], 'errors sent: BAD_FIELD 1, UNKNOWN_STREAM 1');

  const health = await fetch(`${base}/health`);
  t.equal(health.status, 200);
  const h = await health.json() as { state: string; ok: boolean; clients: number; streams: number[]; watchdog: unknown; outbox: unknown };
  t.same({ state: h.state, ok: h.ok, clients: h.clients, streams: h.streams, watchdog: h.watchdog, outbox: h.outbox }, { state: 'running', ok: true, clients: 1, streams: [5], watchdog: null, outbox: null });
  const nf = await fetch(`${base}/nothing`);
  t.same([nf.status, await nf.text()], [404, 'Expected /metrics or /health but received /nothing\n']);
  const post = await fetch(`${base}/metrics`, { method: 'POST' });
  t.same([post.status, await post.text()], [405, 'Expected GET or HEAD but received POST\n']);

  const closed = await freePort();
  const dead = spawnSync(process.execPath, [CLI, 'status', '--port', String(closed)], { encoding: 'utf8' });
  t.equal(dead.status, 1);
  t.equal(dead.stderr, `sonoedge status: [ERR_SONOEDGE_STATUS] Expected a sonoedge metrics endpoint at http://127.0.0.1:${closed}/metrics but received connect ECONNREFUSED 127.0.0.1:${closed} (is serve running with metrics on?)\n`);
  const usage = spawnSync(process.execPath, [CLI, 'status'], { encoding: 'utf8' });
  t.same([usage.status, usage.stderr], [2, 'sonoedge status: expects one of --config FILE, --port N or --url URL but received none\n']);
});

t.test('metrics listen on loopback only', async (t) => {
  const other = path.join(dir, 'other.yaml');
  writeFileSync(other, `socket:\n  path: ${path.join(dir, 'o.sock')}\nmetrics:\n  port: 0\n  host: 0.0.0.0\n`);
  const r = spawnSync(process.execPath, [CLI, 'serve', '--config', other, '--check'], { encoding: 'utf8' });
  t.equal(r.status, 1);
  t.match(r.stderr, /metrics\.host: expected a loopback address \(127\.x\.x\.x, ::1 or localhost\) but received "0\.0\.0\.0"/);

  // Given in code, the same rule: a RangeError with the metrics code, before anything listens.
  await t.rejects(MetricsServer.start({} as Runtime, { port: 0, host: '0.0.0.0' }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_METRICS',
    message: 'Expected a loopback address (127.x.x.x, ::1 or localhost) for metrics.host but received "0.0.0.0" of type string',
  });
  // A host of another type than string: the same error, naming metrics.host and the type received (not a Node
  // TypeError from net's BlockList for an array, nor an array that prints as a loopback host taken and listened on).
  const refused: [host: unknown, received: string][] = [
    [9464, '9464 of type number'],
    [false, 'false of type boolean'],
    [{ host: '127.0.0.1' }, 'object {"host":"127.0.0.1"}'],
    [['127.0.0.1'], 'array of length 1'],
    [['localhost'], 'array of length 1'],
  ];
  for (const [host, received] of refused) {
    const err = await MetricsServer.start({} as Runtime, { port: 0, host: host as string }).then(() => undefined, (e: Error) => e);
    t.equal(err?.constructor, RangeError, `${JSON.stringify(host)}: a RangeError`);
    t.equal((err as { code?: string } | undefined)?.code, 'ERR_SONOEDGE_METRICS', `${JSON.stringify(host)}: code`);
    t.equal(err?.message, `Expected a loopback address (127.x.x.x, ::1 or localhost) for metrics.host but received ${received}`, JSON.stringify(host));
  }
});

t.test('any 127/8 address is loopback: serve listens on 127.0.0.2 and status reads it there', async (t) => {
  const other = path.join(dir, 'other2.yaml');
  const otherLog = path.join(dir, 'other2.log');
  const otherPort = await freePort();
  writeFileSync(other, `socket:\n  path: ${path.join(dir, 'o2.sock')}\n${BUNDLED_MODELS_YAML}metrics:\n  port: ${otherPort}\n  host: 127.0.0.2\nlogging:\n  file: ${otherLog}\n`);
  const second = spawn(process.execPath, [CLI, 'serve', '--config', other], { cwd: ROOT, stdio: 'ignore' });
  t.teardown(() => { if (second.exitCode === null) second.kill('SIGKILL'); });
  const listening = () => {
    try {
      return readFileSync(otherLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.msg === 'metrics listening');
    } catch {
      return undefined;
    }
  };
  await until(() => listening() !== undefined, 'the metrics endpoint on 127.0.0.2');
  t.match(listening(), { host: '127.0.0.2', port: otherPort }, 'logged with its host and port');
  const health = await fetch(`http://127.0.0.2:${otherPort}/health`);
  t.equal(health.status, 200);
  t.equal((await health.json() as { ok: boolean }).ok, true);
  const s = spawnSync(process.execPath, [CLI, 'status', '--config', other, '--json'], { encoding: 'utf8' });
  t.equal(s.status, 0, s.stderr);
  t.equal(JSON.parse(s.stdout).url, `http://127.0.0.2:${otherPort}/metrics`);
  const exited = new Promise<number | null>((resolve) => second.on('exit', (code) => resolve(code)));
  second.kill('SIGTERM');
  t.equal(await exited, 0);
});

t.test('a closed stream\'s series end with it', async (t) => {
  await c.request((seq) => msg.closeStream(seq, { stream: 5 }));
  await new Promise((r) => setTimeout(r, 200));
  const f = await families();
  const of5 = [...f.values()].flat().filter((x) => x.labels.stream === '5').map((x) => x.name);
  t.same(of5, [], 'no series of stream 5 left');
  t.equal(value(f, 'sonoedge_streams'), 0);
  t.equal(value(f, 'sonoedge_results_sent_total'), 12, 'the runtime-wide counters stay');
});

t.test('SIGTERM still stops it with exit 0', async (t) => {
  await c.close();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});
