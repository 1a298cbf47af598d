// `sonoedge serve` as a cart runs it: a spawned process from a YAML config, a
// real client over its socket, structured logs in a file, graceful SIGTERM.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODELS_DIR } from '../../src/model/package.js';
import { MessageType } from '../../src/protocol/constants.js';
import { parseResult } from '../../src/protocol/messages.js';
import { SocketClient } from '../../src/transport/socket-client.js';
import { readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-serve-'));

function writeConfig(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}
const config = (sock: string, log: string) => `socket:
  path: ${sock}
  mode: 0600
models:
  viewQuality: ${path.join(MODELS_DIR, 'view_quality')}
  segmentation: ${path.join(MODELS_DIR, 'lv_segmentation')}
  trustStore: ${path.join(MODELS_DIR, 'trust')}
logging:
  level: info
  file: ${log}
`;

async function until(cond: () => boolean, what: string, ms = 30000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`Expected ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

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
  c.on('message', (m) => { if (m.header.type === MessageType.RESULT) results.push(parseResult(m.body).seq); });
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
  const r = spawnSync(process.execPath, [cli, 'serve', '--config', file], { cwd: root, encoding: 'utf8' });
  t.equal(r.status, 1);
  t.equal(r.stdout, '');
  t.equal(r.stderr.split('\n').length, 2, 'one line');
  t.match(r.stderr, /^sonoedge serve: \[ERR_SONOEDGE_CONFIG\] .*typo\.yaml:3: socket\.mdoe: unknown key; did you mean "mode"\?/);
});

t.test('serve: --check validates config and packages; no --config is a usage error', async (t) => {
  const file = writeConfig('check.yaml', config(path.join(dir, 'c.sock'), path.join(dir, 'c.log')));
  const ok = spawnSync(process.execPath, [cli, 'serve', '--config', file, '--check'], { cwd: root, encoding: 'utf8' });
  t.equal(ok.status, 0, ok.stderr);
  t.equal(ok.stdout, `${file}: ok (models sonoedge-view-quality@1.0.0, sonoedge-lv-segmentation@1.0.0; socket ${path.join(dir, 'c.sock')})\n`);
  const none = spawnSync(process.execPath, [cli, 'serve'], { cwd: root, encoding: 'utf8' });
  t.equal(none.status, 2);
  t.equal(none.stderr, 'sonoedge serve: missing --config FILE (see sonoedge serve --help)\n');
});
