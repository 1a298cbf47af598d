// `sonoedge serve` (dist/) with its serial port on a socat pty behind a
// symlink, as a cart's /dev/ttyUSB0: the adapter unplugged (socat killed) and
// replugged (a new socat on the same link), and an adapter that is not there
// when serve starts. serve keeps serving its socket clients throughout, logs
// one line per change of the link (never per retry), shows the link in its
// metrics and in `sonoedge status`, and the heartbeat and result records come
// back after the replug, with nothing from before the loss.
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseExposition } from '../../src/cli/status.js';
import { MessageType } from '../../src/protocol/constants.js';
import { msg } from '../../src/protocol/messages.js';
import type { ResultRecord } from '../../src/protocol/serial.js';
import { SocketClient } from '../../src/transport/socket-client.js';
import { PluggablePty } from '../helpers/pty.js';
import { readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { CLI, ROOT } from '../helpers/supervisor.js';
import { BUNDLED_MODELS_YAML } from '../helpers/serve-config.js';
import { freePort } from '../helpers/net.js';
import { until } from '../helpers/wait.js';

const skip = spawnSync('sh', ['-c', 'command -v socat']).status === 0 ? false : 'socat is not installed (.ci/run installs it)';
const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-serve-serial-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
/** Generous: the link retries at most every 1 s here (reopenMaxMs), on a loaded 2-core machine. */
const BACK_WITHIN_MS = 10000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface LogLine { level: string; msg: string; path?: string; reopens?: number; retryInMs?: number; err?: { message: string } }

/** A serve with the serial port at `link` and metrics on; its log lines, metrics and a socket client. */
async function startServe(t: Test, name: string, link: string) {
  const sock = path.join(dir, `${name}.sock`);
  const log = path.join(dir, `${name}.log`);
  const port = await freePort();
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, `socket:
  path: ${sock}
serial:
  path: ${link}
  heartbeatMs: 100
  reopenMaxMs: 1000
${BUNDLED_MODELS_YAML}metrics:
  port: ${port}
logging:
  file: ${log}
`);
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const lines = (): LogLine[] => {
    try {
      return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine);
    } catch {
      return [];
    }
  };
  const metric = async (metricName: string): Promise<number | undefined> =>
    parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).get(metricName)?.[0]?.value;
  await until(() => lines().some((l) => l.msg === 'metrics listening'), 'serve to start');
  const stop = async (): Promise<{ code: number | null; stderr: string }> => { child.kill('SIGTERM'); return { code: await exited, stderr }; };
  return { sock, port, file, lines, metric, stop };
}

/** A socket client that still gets an answer: PING -> PONG on a connection opened now. */
async function serves(sock: string): Promise<boolean> {
  const c = await SocketClient.connect(sock);
  try {
    await c.hello('probe');
    return (await c.request((seq) => msg.ping(seq))).header.type === MessageType.PONG;
  } finally {
    await c.close();
  }
}

const serialLines = (lines: LogLine[]) => lines.filter((l) => /^serial link/.test(l.msg)).map((l) => l.msg);

t.test('serve: the serial adapter unplugged and replugged: socket clients served throughout, heartbeats and results back, one reopen in the metrics', { skip }, async (t) => {
  const pty = new PluggablePty(path.join(dir, 'ttyUSB-a'));
  await pty.plug();
  t.teardown(() => pty.unplug());
  const s = await startServe(t, 'replug', pty.link);
  await until(() => pty.beats.length >= 3, 'heartbeats before the unplug', BACK_WITHIN_MS);
  t.equal(await s.metric('sonoedge_serial_link_up'), 1);
  t.equal(await s.metric('sonoedge_serial_reopens_total'), 0);

  // A streaming client: its results go to the socket and, as records, to the serial line.
  const { frames } = await readSampleCine();
  const c = await SocketClient.connect(s.sock);
  t.teardown(() => c.close());
  await c.hello('streamer');
  await c.configure({ stream: 1, width: 256, height: 256, format: 'GRAY8', spacing: [SAMPLE_SPACING_MM, SAMPLE_SPACING_MM], fps: 30 });
  await c.subscribe({ streams: [1] });
  const results: number[] = [];
  c.on('message', (m) => { if (m.header.type === MessageType.RESULT) results.push((m.body as { seq: number }).seq); });
  const frame = async (seq: number) => {
    c.sendFrame(1, seq, frames[seq % frames.length]);
    await until(() => results.includes(seq), `the result of frame ${seq}`);
  };
  for (let seq = 0; seq < 3; seq++) await frame(seq);
  await until(() => pty.records.some((r) => r.record.kind === 'RESULT'), 'a RESULT record before the unplug', BACK_WITHIN_MS);

  await pty.unplug();
  await until(() => serialLines(s.lines()).includes('serial link lost'), '"serial link lost" in the log', BACK_WITHIN_MS);
  t.equal(await s.metric('sonoedge_serial_link_up'), 0, 'the metrics show the link down');
  // Meanwhile the socket serves: the streaming client gets its results, a new client is answered.
  for (let seq = 100; seq < 105; seq++) await frame(seq);
  t.ok(await serves(s.sock), 'a new socket client is served while the serial device is away');
  await sleep(2500);   // several failed tries (250, 500, 1000, 1000 ms apart)
  t.same(serialLines(s.lines()), ['serial link lost'], 'one line for the loss, none per retry');

  const mark = pty.records.length;
  await pty.plug();
  const plugged = Date.now();
  await until(() => pty.records.slice(mark).some((r) => r.record.kind === 'HEARTBEAT'), 'a heartbeat after the replug', BACK_WITHIN_MS);
  t.pass(`heartbeat back ${Date.now() - plugged} ms after the replug`);
  for (let seq = 200; seq < 205; seq++) await frame(seq);
  await until(() => pty.records.slice(mark).some((r) => r.record.kind === 'RESULT'), 'a RESULT record after the replug', BACK_WITHIN_MS);
  const seqs = pty.records.slice(mark).map((r) => r.record).filter((r): r is ResultRecord => r.kind === 'RESULT').map((r) => r.seq);
  t.ok(seqs.every((x) => x >= 200), `result records after the replug are of frames sent after it: ${seqs.join(', ')}`);
  t.same(serialLines(s.lines()), ['serial link lost', 'serial link reopened']);
  t.equal(s.lines().find((l) => l.msg === 'serial link reopened')?.reopens, 1);
  t.equal(await s.metric('sonoedge_serial_link_up'), 1);
  t.equal(await s.metric('sonoedge_serial_reopens_total'), 1, 'one reopen');
  t.equal(await s.metric('sonoedge_serial_link_losses_total'), 1);
  const status = spawnSync(process.execPath, [CLI, 'status', '--config', s.file, '--json'], { cwd: ROOT, encoding: 'utf8' });
  t.equal(status.status, 0, status.stderr);
  t.same(JSON.parse(status.stdout).serial, { up: true, losses: 1, reopens: 1 });
  const table = spawnSync(process.execPath, [CLI, 'status', '--config', s.file], { cwd: ROOT, encoding: 'utf8' });
  t.match(table.stdout, /^serial link up; lost 1, reopened 1 times$/m);

  await c.close();
  const stop = await s.stop();
  t.equal(stop.code, 0, stop.stderr);
});

t.test('serve: no serial device at start: serve starts, serves socket clients, says so once, and opens the port when it appears', { skip }, async (t) => {
  const pty = new PluggablePty(path.join(dir, 'ttyUSB-b'));
  t.teardown(() => pty.unplug());
  t.notOk(existsSync(pty.link));
  const s = await startServe(t, 'late', pty.link);
  t.ok(await serves(s.sock), 'socket clients are served without the serial device');
  const down = s.lines().filter((l) => l.msg === 'serial link down at start: retrying');
  t.equal(down.length, 1);
  t.match(down[0], { level: 'error', path: pty.link, retryInMs: 250, err: { message: /ENOENT|No such file/ } });
  t.equal(await s.metric('sonoedge_serial_link_up'), 0);
  const health = await (await fetch(`http://127.0.0.1:${s.port}/health`)).json() as { ok: boolean; serial: unknown };
  t.same([health.ok, health.serial], [true, { path: pty.link, up: false, losses: 0, reopens: 0 }], '/health: the runtime is fine, its serial link is down');
  await sleep(1500);
  t.same(serialLines(s.lines()), ['serial link down at start: retrying'], 'no line per retry');

  await pty.plug();
  await until(() => pty.beats.length >= 2, 'heartbeats once the device is there', BACK_WITHIN_MS);
  t.same(serialLines(s.lines()), ['serial link down at start: retrying', 'serial link open']);
  t.equal(await s.metric('sonoedge_serial_link_up'), 1);
  t.equal(await s.metric('sonoedge_serial_reopens_total'), 1);
  const stop = await s.stop();
  t.equal(stop.code, 0, stop.stderr);
});
