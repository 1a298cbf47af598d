// `sonoedge serve` as a cart runs it: a spawned process from a YAML config, a
// real client over its socket, structured logs in a file, graceful SIGTERM.
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODELS_DIR } from '../../src/model/package.js';
import { encodeMessage } from '../../src/protocol/codec.js';
import { MessageType } from '../../src/protocol/constants.js';
import { WireError } from '../../src/protocol/errors.js';
import { msg, type ConfigureStream } from '../../src/protocol/messages.js';
import { frameRecord } from '../../src/protocol/serial.js';
import { RemoteError, SocketClient } from '../../src/transport/socket-client.js';
import { ptyPair } from '../helpers/pty.js';
import { readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { BUNDLED_MODELS_YAML } from '../helpers/serve-config.js';
import { runToExit, until } from '../helpers/wait.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-serve-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}
const config = (sock: string, log: string) => `socket:
  path: ${sock}
  mode: 0600
${BUNDLED_MODELS_YAML}logging:
  level: info
  file: ${log}
`;

t.test('serve: frames in, results out over its socket; SIGTERM stops it gracefully with exit 0 and a flushed log', async (t) => {
  const sock = path.join(dir, 'a.sock');
  const log = path.join(dir, 'logs', 'serve.log');
  const file = writeConfig('serve.yaml', config(sock, log));
  const child = spawn(process.execPath, [cli, 'serve', '--config', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await until(() => existsSync(sock), 'the socket to appear');

  const { frames } = await readSampleCine();
  const c = await SocketClient.connect(sock);
  await c.hello('serve-test');
  await c.configure({ stream: 3, width: 256, height: 256, format: 'GRAY8', spacing: [SAMPLE_SPACING_MM, SAMPLE_SPACING_MM], fps: 30 });
  await c.subscribe({});
  const results: number[] = [];
  c.on('message', (m) => { if (m.header.type === MessageType.RESULT) results.push((m.body as { seq: number }).seq); });
  for (let i = 0; i < 3; i++) {
    c.sendFrame(3, i, frames[i]);
    await until(() => results.length === i + 1, `the result of frame ${i}`);
  }
  t.same(results, [0, 1, 2]);

  const closed = new Promise<void>((resolve) => c.socket.once('close', () => resolve()));
  child.kill('SIGTERM');
  t.equal(await exited, 0, stderr);
  await closed;
  t.equal(stderr, '');
  t.notOk(existsSync(sock), 'the socket file is removed');
  const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string; component?: string; stats?: { framesProcessed: number } });
  const msgs = lines.map((l) => l.msg);
  t.ok(msgs.includes('runtime ready') && msgs.includes('stream models loaded'), msgs.join(' | '));
  t.equal(msgs.at(-1), 'runtime stopped');
  t.ok(msgs.indexOf('stopping') > msgs.indexOf('runtime ready'));
  t.equal(lines.at(-1)!.stats!.framesProcessed, 3);
  t.ok(lines.every((l) => ['info', 'warn', 'error', 'fatal', 'debug'].includes(l.level)), 'levels are names');
  t.equal(lines.find((l) => l.msg === 'runtime ready')!.component, 'runtime');
});

t.test('serve: a typo in the config is one line naming the file, line and key, exit 1', async (t) => {
  const file = writeConfig('typo.yaml', 'socket:\n  path: /tmp/x.sock\n  mdoe: 0660\n');
  const r = await runToExit(t, [cli, 'serve', '--config', file], root);
  t.equal(r.status, 1);
  t.equal(r.stdout, '');
  t.equal(r.stderr.split('\n').length, 2, 'one line');
  t.match(r.stderr, /^sonoedge serve: \[ERR_SONOEDGE_CONFIG\] .*typo\.yaml:3: socket\.mdoe: unknown key; did you mean "mode"\?/);
});

t.test('serve: --check validates config and packages; no --config is a usage error', async (t) => {
  const file = writeConfig('check.yaml', config(path.join(dir, 'c.sock'), path.join(dir, 'c.log')));
  const ok = await runToExit(t, [cli, 'serve', '--config', file, '--check'], root);
  t.equal(ok.status, 0, ok.stderr);
  t.equal(ok.stdout, `${file}: ok (models sonoedge-view-quality@1.0.0, sonoedge-lv-segmentation@1.0.0; socket ${path.join(dir, 'c.sock')})\n`);
  const none = await runToExit(t, [cli, 'serve'], root);
  t.equal(none.status, 2);
  t.equal(none.stderr, 'sonoedge serve: missing --config FILE (see sonoedge serve --help)\n');
});

const hasSocat = spawnSync('sh', ['-c', 'command -v socat']).status === 0;
type LogLine = { level: string; msg: string; stats?: { framesProcessed: number; clients: number }; err?: { message: string } };
const readLog = (file: string): LogLine[] => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LogLine);

/** A spawned `serve`, its exit (code, signal) and its stderr. */
function spawnServe(file: string) {
  const child = spawn(process.execPath, [cli, 'serve', '--config', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  return { child, exited, stderr: () => stderr };
}

/** Sends `signal` and waits for the exit, at most `ms` (then SIGKILL: a test failure, not a hang). */
async function stopWith(child: ChildProcess, exited: Promise<{ code: number | null; signal: string | null }>, signal: NodeJS.Signals, ms: number) {
  const t0 = Date.now();
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const r = await exited;
  clearTimeout(timer);
  return { ...r, ms: Date.now() - t0 };
}

const geometry = (stream: number): ConfigureStream => ({ stream, width: 256, height: 256, format: 'GRAY8', spacing: [SAMPLE_SPACING_MM, SAMPLE_SPACING_MM], fps: 30 });
const rawClient = (sock: string): Promise<net.Socket> => new Promise((resolve) => {
  const s = net.createConnection({ path: sock, allowHalfOpen: true });
  s.on('error', () => undefined);
  s.once('connect', () => resolve(s));
});

t.test('serve: SIGTERM with hostile clients stops within a bounded time, exit 0, final stats and "runtime stopped" logged', { skip: hasSocat ? false : 'socat missing (.ci/run installs it)' }, async (t) => {
  const { a, proc } = await ptyPair();   // the firmware end (b) is never opened: nothing reads the serial line
  t.teardown(() => { proc.kill(); });
  const sock = path.join(dir, 'hostile.sock');
  const log = path.join(dir, 'hostile.log');
  const file = writeConfig('hostile.yaml', config(sock, log).replace('  mode: 0600\n', '  mode: 0600\n  maxClients: 3\n')
    + `serial:\n  path: ${a}\n  heartbeatMs: 10\n  resultRate: 1000\n`);
  const { child, exited, stderr } = spawnServe(file);
  await until(() => existsSync(sock), 'the socket to appear');
  const { frames } = await readSampleCine();
  const good = await SocketClient.connect(sock);
  t.teardown(() => good.close());
  await good.hello('good');
  await good.configure(geometry(3));
  await good.subscribe({ streams: [3] });
  const results: number[] = [];
  good.on('message', (m) => { if (m.header.type === MessageType.RESULT) results.push((m.body as { seq: number }).seq); });
  for (let i = 0; i < 3; i++) {
    good.sendFrame(3, i, frames[i]);
    await until(() => results.length === i + 1, `the result of frame ${i}`);
  }
  // A LOAD_MODEL under the running view model's id is refused, and changes nothing (it used to end in SIGABRT at exit).
  const clash = await good.request((seq) => msg.loadModel(seq, { path: path.join(MODELS_DIR, 'lv_segmentation'), id: 'sonoedge-view-quality@1.0.0' }), 30000)
    .then(() => undefined, (e: RemoteError) => e);
  t.equal(clash?.wireCode, WireError.MODEL_FAILED);

  // A client that streams and subscribes to masks but never reads; one that sent half a header; ten refused ones that keep their side open.
  const sleeper = await rawClient(sock);
  sleeper.pause();
  sleeper.write(Buffer.concat([encodeMessage(msg.hello(1, { versions: [1], client: 'sleeper' })), encodeMessage(msg.configure(2, geometry(4))),
    encodeMessage(msg.subscribe(3, { masks: true, contours: true }))]));
  let q = 4;
  const flood = setInterval(() => sleeper.write(encodeMessage(msg.frame(q++, { stream: 4, seq: q, t: 0 }, frames[q % 16]))), 20);
  t.teardown(() => { clearInterval(flood); sleeper.destroy(); });
  const slow = await rawClient(sock);
  slow.pause();
  slow.write(Buffer.concat([encodeMessage(msg.hello(1, { versions: [1], client: 'slow' })), Buffer.from('SONO\x01\x03')]));
  t.teardown(() => slow.destroy());
  await new Promise((r) => setTimeout(r, 300));
  const refused = await Promise.all(Array.from({ length: 10 }, () => rawClient(sock)));
  t.teardown(() => { for (const s of refused) s.destroy(); });
  await new Promise((r) => setTimeout(r, 1500));
  clearInterval(flood);

  const stop = await stopWith(child, exited, 'SIGTERM', 15000);
  t.same([stop.code, stop.signal], [0, null], stderr());
  t.ok(stop.ms < 10000, `stopped in ${stop.ms} ms`);
  t.equal(stderr(), '');
  t.notOk(existsSync(sock), 'the socket file is removed');
  const lines = readLog(log);
  t.equal(lines.at(-1)!.msg, 'runtime stopped');
  t.ok(lines.at(-1)!.stats!.framesProcessed >= 3, `final stats logged: ${JSON.stringify(lines.at(-1)!.stats)}`);
});

t.test('serve: SIGINT while its standard output (the log) is a pipe nobody reads: exit 0 within a bounded time', { skip: hasSocat ? false : 'socat missing (.ci/run installs it)' }, async (t) => {
  const { a, b, proc } = await ptyPair();
  t.teardown(() => { proc.kill(); });
  const sock = path.join(dir, 'wedged.sock');
  // No logging.file: the log goes to standard output, which this test pipes and never reads.
  const file = writeConfig('wedged.yaml', `${config(sock, '').replace(/logging:\n[^]*$/, '')}serial:\n  path: ${a}\n`);
  const child = spawn(process.execPath, [cli, 'serve', '--config', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pause();
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  await until(() => existsSync(sock), 'the socket to appear');
  // Every serial command is logged: a few thousand fill the stdout pipe (64 KiB) several times over.
  const fw = await new Promise<import('node:fs').WriteStream>((resolve) => { const w = createWriteStream(b); w.once('open', () => resolve(w)); });
  t.teardown(() => fw.destroy());
  for (let i = 0; i < 3000; i++) fw.write(frameRecord({ kind: 'CMD_STOP_STREAM', cmdSeq: i & 0xffff, stream: 9 }));
  await new Promise((r) => setTimeout(r, 2000));
  const stop = await stopWith(child, exited, 'SIGINT', 15000);
  t.same([stop.code, stop.signal], [0, null], stderr);
  t.ok(stop.ms < 6000, `stopped in ${stop.ms} ms`);
  t.equal(stderr, '');
});

t.test('serve: a second serve on the same socket path refuses with one line and exit 1, touching nothing; after a crash the path is taken over', async (t) => {
  const sock = path.join(dir, 'single.sock');
  const file = writeConfig('single.yaml', config(sock, path.join(dir, 'single.log')));
  const first = spawnServe(file);
  await until(() => existsSync(sock), 'the socket to appear');
  const inode = statSync(sock).ino;
  const second = await runToExit(t, [cli, 'serve', '--config', file], root);
  t.equal(second.status, 1);
  t.equal(second.stderr, `sonoedge serve: [ERR_SONOEDGE_SOCKET_IN_USE] Expected no other sonoedge runtime on ${sock} but received one: another runtime serves this socket path (stop it, or give this one another socket.path)\n`);
  t.equal(statSync(sock).ino, inode, 'the first runtime\'s socket file is untouched');
  const c = await SocketClient.connect(sock);
  await c.hello('still-there');
  t.equal((await c.request((seq) => msg.ping(seq))).header.type, MessageType.PONG, 'the first still takes new connections');
  c.close();
  // A crash leaves the socket file; the next serve takes the path over.
  first.child.kill('SIGKILL');
  await first.exited;
  t.ok(existsSync(sock), 'the crashed runtime left its socket file');
  const third = spawnServe(file);
  let c3: SocketClient | undefined;
  const connect = () => { SocketClient.connect(sock).then((x) => { c3 = x; }, () => undefined); return c3 !== undefined; };
  await until(connect, 'the next runtime to accept connections on the path');
  c3 = c3!;
  await c3.hello('after-crash');
  t.equal((await c3.request((seq) => msg.ping(seq))).header.type, MessageType.PONG);
  c3.close();
  const stop = await stopWith(third.child, third.exited, 'SIGTERM', 15000);
  t.same([stop.code, stop.signal], [0, null], third.stderr());
});
