// `sonoedge doctor` as a real process: every check answers ok, warn or fail,
// CPU operation passes here, and the socket check tells the path's state.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const run = (env: Record<string, string>, ...args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: root, env: { ...process.env, ...env } });

const CHECKS = ['platform', 'cpu', 'native addon', 'onnxruntime', 'provider tensorrt', 'provider cuda', 'provider cpu', 'gpu',
  'tensorrt', 'socket path', 'serial ports', 'model view_quality', 'model lv_segmentation'];

t.test('every check is one line; CPU operation is ok, exit 0', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-doctor-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r = run({ TMPDIR: dir }, 'doctor');
  t.equal(r.status, 0, r.stdout + r.stderr);
  const rows = r.stdout.trimEnd().split('\n');
  t.same(rows.map((l) => l.slice(6).split(/ {2,}/)[0]), CHECKS);
  for (const l of rows) t.match(l, /^(ok  |warn|fail) {2}\S/);
  t.match(r.stdout, /^ok {4}platform {15}linux-(x64|arm64), Node\.js v\d+/m);
  t.match(r.stdout, /^ok {4}native addon {11}loaded, best preprocessing kernels: (scalar|sse41|avx2|neon)$/m);
  t.match(r.stdout, /^ok {4}onnxruntime {12}1\.30\.0 at \S+libonnxruntime\.so[.\d]*$/m);
  t.match(r.stdout, /^ok {4}provider cpu {11}available \(runs the models\)$/m);
  t.match(r.stdout, new RegExp(`^ok {4}socket path {12}${dir} writable; ${dir}/sonoedge\\.sock free$`, 'm'));
  t.match(r.stdout, /^ok {4}model view_quality {5}sonoedge-view-quality 1\.0\.0 verifies \(key 0a06d41e78e68308\)$/m);
  // Without a GPU (this machine), CUDA and TensorRT are warnings that say why.
  if (!/^ok {4}provider cuda/m.test(r.stdout)) t.match(r.stdout, /^warn {2}provider cuda {10}not available.*: \S/m);
});

t.test('--json: the same checks; the socket path state follows the file there', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-doctor-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'sonoedge.sock');

  await writeFile(sock, 'not a socket');
  const j = JSON.parse(run({ TMPDIR: dir }, 'doctor', '--json').stdout) as { ok: boolean; checks: { name: string; status: string; detail: string }[] };
  t.equal(j.ok, true);
  t.same(j.checks.map((c) => c.name), CHECKS);
  t.ok(j.checks.every((c) => ['ok', 'warn', 'fail'].includes(c.status)));
  t.same(j.checks.find((c) => c.name === 'socket path'), { name: 'socket path', status: 'warn', detail: `${sock} exists and is not a socket: serve will refuse it (set socket.path)` });

  await rm(sock);
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const live = run({ TMPDIR: dir }, 'doctor', '--json');
  t.equal(live.status, 0);
  const check = (JSON.parse(live.stdout) as typeof j).checks.find((c) => c.name === 'socket path');
  // spawnSync blocks this process's event loop, so the listener cannot accept: the connection attempt
  // still reaches the kernel's backlog, which is what "in use by a running server" means.
  t.same(check, { name: 'socket path', status: 'ok', detail: `${sock} in use by a running server` });
});

t.test('an unknown flag suggests the right one', async (t) => {
  const r = run({}, 'doctor', '--jsn');
  t.equal(r.status, 2);
  t.equal(r.stderr, 'sonoedge doctor: unknown option --jsn; did you mean --json? (see sonoedge doctor --help)\n');
});
