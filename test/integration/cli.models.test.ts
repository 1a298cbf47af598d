// `sonoedge models list|verify|inspect` as a real process: the bundled
// packages, a tampered copy in a temp folder, and usage mistakes.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: root });
const VQ = path.join('models', 'view_quality');
const SEG = path.join('models', 'lv_segmentation');
const manifest = JSON.parse(await readFile(path.join(root, VQ, 'manifest.json'), 'utf8')) as { variants: Record<string, { sha256: string; bytes: number }> };

const tmp = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-models-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));
// A copy of view_quality with one byte of its int8 model flipped.
const tampered = path.join(tmp, 'view_quality');
await cp(path.join(root, VQ), tampered, { recursive: true });
const bytes = await readFile(path.join(tampered, 'model.int8.onnx'));
bytes[bytes.length >> 1] ^= 0xff;
await writeFile(path.join(tampered, 'model.int8.onnx'), bytes);
const tamperedSha = createHash('sha256').update(bytes).digest('hex');
const checksumMessage = `Expected model.int8.onnx with sha256 ${manifest.variants.int8.sha256} but received ${tamperedSha}`;

t.test('list: the bundled packages with task, version, variants, key and verdict', async (t) => {
  const r = run('models', 'list');
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout,
    'NAME                      TASK             VERSION  VARIANTS   KEY               VERIFIED\n'
    + 'sonoedge-lv-segmentation  lv_segmentation  1.0.0    fp32,int8  0a06d41e78e68308  ok\n'
    + 'sonoedge-view-quality     view_quality     1.0.0    fp32,int8  0a06d41e78e68308  ok\n');
  const other = run('models', 'list', '--dir', tmp);
  t.equal(other.status, 0);
  t.equal(other.stdout,
    'NAME                   TASK          VERSION  VARIANTS   KEY  VERIFIED\n'
    + 'sonoedge-view-quality  view_quality  1.0.0    fp32,int8  -    failed E_PACKAGE_CHECKSUM\n');
});

t.test('verify: one line per package naming the error code; exit 1 if any fails', async (t) => {
  const ok = run('models', 'verify', VQ, SEG);
  t.equal(ok.status, 0, ok.stderr);
  t.equal(ok.stdout,
    `ok      ${VQ}: sonoedge-view-quality 1.0.0, signed by 0a06d41e78e68308\n`
    + `ok      ${SEG}: sonoedge-lv-segmentation 1.0.0, signed by 0a06d41e78e68308\n`);
  const bad = run('models', 'verify', VQ, tampered);
  t.equal(bad.status, 1);
  t.equal(bad.stdout, `ok      ${VQ}: sonoedge-view-quality 1.0.0, signed by 0a06d41e78e68308\nfailed  ${tampered}: [E_PACKAGE_CHECKSUM] ${checksumMessage}\n`);
  const empty = run('models', 'verify', tmp);
  t.equal(empty.status, 1);
  t.equal(empty.stdout, `failed  ${tmp}: [E_PACKAGE_MISSING_FILE] Expected manifest.json in ${tmp} but received no such file\n`);
});

t.test('inspect --json: tensor shapes from a real session, per-variant sha256, size and metrics', async (t) => {
  const r = run('models', 'inspect', VQ, '--json');
  t.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as {
    name: string; task: string; signed: boolean; keyId: string; preprocessing: { input: string };
    variants: { name: string; sha256: string; bytes: number; metrics: Record<string, number>; inputs: unknown[]; outputs: unknown[]; onnxruntime: string }[];
  };
  t.same([j.name, j.task, j.signed, j.keyId, j.preprocessing.input], ['sonoedge-view-quality', 'view_quality', true, '0a06d41e78e68308', 'image']);
  t.same(j.variants.map((v) => v.name), ['fp32', 'int8']);
  for (const v of j.variants) {
    t.equal(v.sha256, manifest.variants[v.name].sha256);
    t.equal(v.bytes, manifest.variants[v.name].bytes);
    t.same(v.inputs, [{ name: 'image', type: 'float32', shape: [1, 1, 112, 112] }]);
    t.same(v.outputs, [
      { name: 'view', type: 'float32', shape: [1, 5] },
      { name: 'quality', type: 'float32', shape: [1] },
      { name: 'guidance', type: 'float32', shape: [1, 6] },
    ]);
    t.ok('view_accuracy' in v.metrics);
    t.equal(v.onnxruntime, '1.30.0');
  }
  const text = run('models', 'inspect', SEG);
  t.equal(text.status, 0, text.stderr);
  t.match(text.stdout, /^sonoedge-lv-segmentation 1\.0\.0 \(lv_segmentation\)\n/);
  t.match(text.stdout, /\n {4}inputs {7}image float32\[1x1x112x112\]\n/);
  t.match(text.stdout, /\n {2}signature {6}ok, key 0a06d41e78e68308\n/);
});

t.test('mistakes: a tampered package, an unknown subcommand, an unknown flag', async (t) => {
  const bad = run('models', 'inspect', tampered);
  t.equal(bad.status, 1);
  t.equal(bad.stderr, `sonoedge models: [E_PACKAGE_CHECKSUM] ${checksumMessage}\n`);
  const sub = run('models', 'verfy', VQ);
  t.equal(sub.status, 2);
  t.equal(sub.stderr, 'sonoedge models: unknown subcommand "verfy"; did you mean "verify"? (list, verify or inspect)\n');
  const flag = run('models', 'inspect', VQ, '--jsno');
  t.equal(flag.status, 2);
  t.equal(flag.stderr, 'sonoedge models: unknown option --jsno; did you mean --json? (see sonoedge models inspect --help)\n');
  const none = run('models');
  t.equal(none.status, 2);
  t.match(none.stdout, /^Usage: sonoedge models <list\|verify\|inspect>/);
});
