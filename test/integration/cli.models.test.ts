// `sonoedge models list|verify|inspect` as a real process: the bundled
// packages, a tampered copy in a temp folder, and usage mistakes.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signManifest } from '../helpers/packages.js';

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
    `ok      ${VQ}: sonoedge-view-quality 1.0.0, signed by 0a06d41e78e68308; tensors match the graph of fp32, int8\n`
    + `ok      ${SEG}: sonoedge-lv-segmentation 1.0.0, signed by 0a06d41e78e68308; tensors match the graph of fp32, int8\n`);
  const bad = run('models', 'verify', VQ, tampered);
  t.equal(bad.status, 1);
  t.equal(bad.stdout, `ok      ${VQ}: sonoedge-view-quality 1.0.0, signed by 0a06d41e78e68308; tensors match the graph of fp32, int8\nfailed  ${tampered}: [E_PACKAGE_CHECKSUM] ${checksumMessage}\n`);
  const empty = run('models', 'verify', tmp);
  t.equal(empty.status, 1);
  t.equal(empty.stdout, `failed  ${tmp}: [E_PACKAGE_MISSING_FILE] Expected manifest.json in ${tmp} but received no such file\n`);
});

t.test('verify checks the manifest against every variant\'s graph (a re-signed package that lies about a shape fails); --shallow skips that', async (t) => {
  // The bundled segmentation package declaring a channels-last output, re-signed: schema, checksums and signature pass.
  const lying = path.join(tmp, 'seg-nhwc');
  await cp(path.join(root, SEG), lying, { recursive: true });
  const m = JSON.parse(await readFile(path.join(lying, 'manifest.json'), 'utf8')) as { outputs: { logits: { shape: number[] } } };
  m.outputs.logits.shape = [1, 112, 112, 4];
  await signManifest(lying, m as never);
  const deep = run('models', 'verify', lying);
  t.equal(deep.status, 1);
  t.equal(deep.stdout, `failed  ${lying}: [E_PACKAGE_CONTRACT] Expected outputs.logits.shape to be NCHW [1, 4, 112, 112] (4 labels, the input's 112x112) but received [1, 112, 112, 4]\n`);
  // Self-consistent, but 7 guidance classes where the graph has 6.
  const seven = path.join(tmp, 'vq-guidance7');
  await cp(path.join(root, VQ), seven, { recursive: true });
  const v = JSON.parse(await readFile(path.join(seven, 'manifest.json'), 'utf8'));
  v.outputs.guidance.shape = [1, 7]; v.outputs.guidance.num_channels = 7; v.outputs.guidance.channel_def['6'] = 'wait'; v.postprocessing.guidance.labels.push('wait');
  await signManifest(seven, v);
  const graph = run('models', 'verify', seven);
  t.equal(graph.status, 1);
  t.equal(graph.stdout, `failed  ${seven}: [E_PACKAGE_GRAPH] Expected outputs.guidance of variant fp32 (model.fp32.onnx) to have shape [1, 7] as manifest.json declares but received [1, 6] from the ONNX graph\n`);
  const shallow = run('models', 'verify', '--shallow', lying, seven);
  t.equal(shallow.status, 0, shallow.stderr);
  t.equal(shallow.stdout, `ok      ${lying}: sonoedge-lv-segmentation 1.0.0, signed by 0a06d41e78e68308\nok      ${seven}: sonoedge-view-quality 1.0.0, signed by 0a06d41e78e68308\n`);
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
      { name: 'id_score', type: 'float32', shape: [1] },
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

t.test('a file given where a package folder goes: E_PACKAGE_NOT_FOLDER naming the folder to give; list --dir of a package says so', async (t) => {
  const file = path.join(root, VQ, 'model.fp32.onnx');
  const inspect = run('models', 'inspect', path.join(VQ, 'model.fp32.onnx'));
  t.equal(inspect.status, 1);
  t.equal(inspect.stderr, `sonoedge models: [E_PACKAGE_NOT_FOLDER] Expected a model package folder but received ${file}, which is a file; give its package folder ${path.join(root, VQ)}\n`);
  t.equal(inspect.stdout, '');
  const verify = run('models', 'verify', '--shallow', path.join(VQ, 'manifest.json'), VQ);
  t.equal(verify.status, 1);
  t.equal(verify.stdout, `failed  ${path.join(VQ, 'manifest.json')}: [E_PACKAGE_NOT_FOLDER] Expected a model package folder but received ${path.join(root, VQ, 'manifest.json')}, which is a file; give its package folder ${path.join(root, VQ)}\n`
    + `ok      ${VQ}: sonoedge-view-quality 1.0.0, signed by 0a06d41e78e68308\n`);
  const missing = run('models', 'verify', '--shallow', path.join(tmp, 'absent'));
  t.equal(missing.stdout, `failed  ${path.join(tmp, 'absent')}: [E_PACKAGE_MISSING_FILE] Expected a model package folder at ${path.join(tmp, 'absent')} but received no such path\n`);
  const list = run('models', 'list', '--dir', VQ);
  t.equal(list.status, 0);
  t.equal(list.stdout, `no model packages in ${VQ}; ${VQ} is itself a model package (sonoedge models inspect ${VQ})\n`);
});
