// The live viewer as the commands start it (dist/, bundled models): `serve`
// with a `viewer` section serves the page behind its token and stops cleanly;
// `serve --check` refuses a non-loopback viewer without a token; `demo --live`
// prints a URL that serves the page while the cine plays.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { CLI, ROOT } from '../helpers/supervisor.js';
import { freePort } from '../helpers/net.js';
import { BUNDLED_MODELS_YAML } from '../helpers/serve-config.js';
import { until } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-serve-viewer-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const TOKEN = 'serve-viewer-token-0123456789';
const config = (viewer: string) => `socket:
  path: ${path.join(dir, 'v.sock')}
${BUNDLED_MODELS_YAML}logging:
  file: ${path.join(dir, 'v.log')}
viewer:
${viewer}`;

const firstMessage = (url: string) => new Promise<{ type: string }>((resolve, reject) => {
  const ws = new WebSocket(url);
  ws.once('message', (d) => { resolve(JSON.parse(String(d))); ws.close(); });
  ws.once('error', reject);
});

t.test('serve: the page behind its token, a clean stop', async (t) => {
  const port = await freePort();
  const file = path.join(dir, 'serve.yaml');
  writeFileSync(file, config(`  port: ${port}\n  token: ${TOKEN}\n`));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file], { cwd: ROOT, stdio: 'ignore' });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const lines = () => { try { return readFileSync(path.join(dir, 'v.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)); } catch { return []; } };
  await until(() => lines().some((l) => l.msg === 'viewer listening'), 'the viewer');
  const logged = lines().find((l) => l.msg === 'viewer listening');
  t.equal(logged.url, `http://127.0.0.1:${port}/?token=...`, 'the URL is logged, the token not');
  t.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 401);
  t.equal((await fetch(`http://127.0.0.1:${port}/?token=not-the-token-0123456789`)).status, 403);
  const page = await fetch(`http://127.0.0.1:${port}/?token=${TOKEN}`);
  t.equal(page.status, 200);
  t.match(await page.text(), /<title>sonoedge live<\/title>/);
  t.equal((await firstMessage(`ws://127.0.0.1:${port}/ws?token=${TOKEN}`)).type, 'hello');
  const code = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  t.equal(await code, 0, 'SIGTERM stops serve and the viewer, exit 0');
  t.ok(lines().some((l) => l.msg === 'runtime stopped'));
});

t.test('serve --check: a viewer off loopback needs a token', async (t) => {
  const file = path.join(dir, 'open.yaml');
  writeFileSync(file, config('  port: 8080\n  host: 0.0.0.0\n'));
  const r = spawnSync(process.execPath, [CLI, 'serve', '--config', file, '--check'], { cwd: ROOT, encoding: 'utf8' });
  t.not(r.status, 0);
  t.match(r.stderr, /open\.yaml:\d+: viewer\.token: expected a token when viewer\.host is not loopback but received host "0\.0\.0\.0" and no token/);
});

t.test('demo --live: the printed URL serves the page while the cine plays', async (t) => {
  const child = spawn(process.execPath, [CLI, 'demo', '--live', '--loops', '12', '--no-report', '--socket', path.join(dir, 'd.sock')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c: string) => { out += c; });
  await until(() => /live page at \S+/.test(out), 'the URL');
  const url = /live page at (\S+)/.exec(out)![1];
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{20,}$/, 'loopback, with a fresh token');
  t.equal((await fetch(url)).status, 200);
  t.equal((await fetch(url.replace(/\?token=.*/, ''))).status, 401, 'not without it');
  t.equal((await firstMessage(url.replace(/^http/, 'ws').replace('/?', '/ws?'))).type, 'hello');
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 0);
  t.match(out, /frames +192 sent, \d+ results/, 'the cine played to the end');
});

t.test('serve: a part that cannot start after the viewer (an OpenIGTLink port in use) closes the viewer too: exit 1', async (t) => {
  const held = net.createServer();
  await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
  t.teardown(() => held.close());
  const igtlPort = (held.address() as net.AddressInfo).port;
  const file = path.join(dir, 'serve-igtl-taken.yaml');
  writeFileSync(file, `${config(`  port: 0\n  token: ${TOKEN}\n`)}igtl:\n  host: 127.0.0.1\n  port: ${igtlPort}\n`);
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file], { cwd: ROOT, stdio: 'ignore' });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), 60000);
    child.once('exit', (c) => { clearTimeout(timer); resolve(c); });
  });
  t.equal(code, 1, 'serve exits (the viewer\'s port does not hold it open)');
});
