// `sonoedge serve` with an `igtl` section, the real pipeline and bundled
// models: pyigtl (PyPI) sends the bundled A4C cine as IMAGE messages, as a
// PLUS server or 3D Slicer would, and gets back for every frame a label map
// in the frame's own geometry (size, spacing, orientation, origin) and a
// STRING summary whose LV area agrees with the label map's. An igtl.port in
// use stops serve at start with one coded line.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { matrixOf, pyigtlMissing, runPeer, writeSpec, type PeerResult } from '../helpers/igtl.js';
import { readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { BUNDLED_MODELS_YAML } from '../helpers/serve-config.js';
import { runToExit } from '../helpers/wait.js';

const skip = pyigtlMissing() ?? false;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');

t.test('serve: pyigtl sends the A4C cine over OpenIGTLink and gets label maps in its geometry and summaries', { skip }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-serve-igtl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'serve.yaml');
  writeFileSync(file, `socket:
  path: ${path.join(dir, 's.sock')}
${BUNDLED_MODELS_YAML}logging:
  level: info
igtl:
  port: 0
  results: [IMAGE, STRING, POINT]
  devices: {label: "{device}_LV"}
`);
  const child = spawn(process.execPath, [cli, 'serve', '--config', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"port":(\d+)[^\n]*"msg":"openigtlink listening"/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}${out}`)));
  });
  const { frames } = await readSampleCine();
  const matrix = matrixOf(SAMPLE_SPACING_MM, SAMPLE_SPACING_MM, 0, [-40, -10, 0]);
  const images = frames.map((pixels, i) => ({ device: 'US', dtype: 'u1', shape: [256, 256], pixels, matrix, headerVersion: (i % 2 ? 2 : 1) as 1 | 2, timestamp: 1700000000 + i / 30 }));
  const spec = writeSpec({ port, label: 'US_LV', summary: 'Summary', contour: 'LVContour', images, timeout: 60 });
  const results = (await runPeer('send', spec)) as PeerResult[];
  t.equal(results.length, 16, 'a result for every frame');
  let withLv = 0;
  results.forEach((r, i) => {
    if (!r.label || !r.summary) { t.fail(`frame ${i}: label ${!!r.label}, summary ${!!r.summary}`); return; }
    t.same(r.label.shape, [1, 256, 256]);
    const diff = Math.max(...matrix.flatMap((row, a) => row.map((v, b) => Math.abs(v - r.label!.matrix[a][b]))));
    if (diff > 1e-3) t.fail(`frame ${i}: the label map's matrix differs from the input's by ${diff}`);
    t.equal(r.summary.device, 'US');
    t.ok(['ok', 'uncertain', 'unknown'].includes(r.summary.state as string));
    const area = r.summary.lvAreaMm2 as number | null;
    if (area !== null && r.label.inside > 0) {
      withLv++;
      const labelArea = r.label.inside * SAMPLE_SPACING_MM * SAMPLE_SPACING_MM;
      // The pipeline's area is the mask's at the model's grid; the label map is its simplified contour filled at the frame's.
      t.ok(Math.abs(labelArea - area) / area < 0.15, `frame ${i}: label map area ${labelArea.toFixed(0)} mm² vs the pipeline's ${area.toFixed(0)} mm² (15%)`);
      t.ok(r.contour && r.contour.length >= 3, 'the contour in mm came too');
    }
  });
  t.ok(withLv >= 8, `the LV labelled on ${withLv} of 16 frames of an A4C cine`);
  t.equal(results.filter((r) => r.summary?.view === 'A4C').length >= 8, true, 'the view is A4C');
  // The spacing range's low end as an IMAGE's float32 matrix holds it (1e-6 is 9.99999997e-7 there) reaches the
  // models and is answered: the bridge gives the stream the spacing clamped into the range the pipeline checks.
  const tinyMatrix = matrixOf(1e-6, 1e-6, 0, [0, 0, 0]);
  const tiny = frames.slice(0, 2).map((pixels, i) => ({ device: 'TINY', dtype: 'u1', shape: [256, 256], pixels, matrix: tinyMatrix, headerVersion: 2 as const, timestamp: 1700000100 + i / 30 }));
  const tinyResults = (await runPeer('send', writeSpec({ port, label: 'TINY_LV', summary: 'Summary', contour: 'LVContour', images: tiny, timeout: 60 }))) as PeerResult[];
  t.same(tinyResults.map((r) => r.summary?.device), ['TINY', 'TINY'], 'both frames answered');
  t.notMatch(stderr, /ERR_SONOEDGE_PLAN_OPTION|ERR_SONOEDGE_IGTL_STREAM/, 'no stream refused when its models load');
  child.kill('SIGTERM');
  t.equal(await exited, 0, stderr);
});

t.test('serve: an igtl.port in use stops it at start with one line naming igtl.port (ERR_SONOEDGE_LISTEN), exit 1', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-serve-igtl-taken-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const held = net.createServer();
  await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
  t.teardown(() => held.close());
  const port = (held.address() as net.AddressInfo).port;
  const file = path.join(dir, 'serve.yaml');
  writeFileSync(file, `socket:\n  path: ${path.join(dir, 's.sock')}\n${BUNDLED_MODELS_YAML}logging:\n  file: ${path.join(dir, 's.log')}\nigtl:\n  port: ${port}\n`);
  const r = await runToExit(t, [cli, 'serve', '--config', file], root);
  t.equal(r.status, 1);
  t.equal(r.stderr, `sonoedge serve: [ERR_SONOEDGE_LISTEN] Expected to listen for the OpenIGTLink server (igtl.port) on 127.0.0.1:${port} but could not: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`);
  t.notOk(existsSync(path.join(dir, 's.sock')), 'the runtime it had started is closed: no socket left');
});
