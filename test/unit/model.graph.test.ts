// Model packages against their ONNX graphs and their task's output contract:
// packages built here from the bundled ones, with a manifest edited to
// contradict the graph and re-signed with the development key, so that they
// verify (schema, checksums, signature) and only these checks can catch them.
// Each must fail at verify or load time with a coded error, never per frame.
import t from 'tap';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkContract, checkGraph, verifyPackageGraphs } from '../../src/model/graph.js';
import { loadTrustStore, MODELS_DIR, verifyModelPackage } from '../../src/model/package.js';
import { Pipeline } from '../../src/pipeline/index.js';
import { signManifest, viewIdPackage } from '../helpers/packages.js';

const tmp = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-graph-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));
const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
const VQ = path.join(MODELS_DIR, 'view_quality');
const SEG = path.join(MODELS_DIR, 'lv_segmentation');
// The edits reach into the manifest JSON as written.
type Edit = (m: any) => void;

let n = 0;
/** A copy of a bundled package with its manifest edited and re-signed: it verifies. */
async function edited(from: string, edit: Edit): Promise<string> {
  const dir = path.join(tmp, `pkg${n++}`);
  await cp(from, dir, { recursive: true });
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
  edit(manifest);
  await signManifest(dir, manifest);
  await verifyModelPackage(dir, { trustStore });   // schema, checksums and signature all pass
  return dir;
}
const pkgOf = (dir: string) => verifyModelPackage(dir, { trustStore });

t.test('the bundled packages and a package with an id_score output pass, every variant', async (t) => {
  await verifyPackageGraphs(await pkgOf(VQ));
  await verifyPackageGraphs(await pkgOf(SEG));
  await verifyPackageGraphs(await pkgOf(await viewIdPackage(path.join(tmp, 'view-id'))));
  t.pass();
});

t.test('a manifest that contradicts the graph: E_PACKAGE_GRAPH naming the tensor, the variant, the declared and the real', async (t) => {
  const cases: Array<[string, string, Edit, string, string]> = [
    ['input dtype', VQ, (m) => { m.inputs.image.dtype = 'uint8'; m.preprocessing.options.output.dtype = 'uint8'; },
      '/inputs/image/dtype', 'Expected inputs.image of variant fp32 (model.fp32.onnx) to be uint8 as manifest.json declares but received float32 from the ONNX graph'],
    ['output shape', VQ, (m) => { m.outputs.guidance.shape = [1, 7]; m.outputs.guidance.num_channels = 7; m.outputs.guidance.channel_def['6'] = 'wait';
      m.postprocessing.guidance.labels.push('wait'); },
    '/outputs/guidance/shape', 'Expected outputs.guidance of variant fp32 (model.fp32.onnx) to have shape [1, 7] as manifest.json declares but received [1, 6] from the ONNX graph'],
    ['input shape', SEG, (m) => {
      m.inputs.image.shape = [1, 1, 128, 128]; m.inputs.image.spatial_shape = [128, 128];
      m.preprocessing.options.output.width = 128; m.preprocessing.options.output.height = 128;
      m.outputs.logits.shape = [1, 4, 128, 128]; m.outputs.logits.spatial_shape = [128, 128];
    }, '/inputs/image/shape', 'Expected inputs.image of variant fp32 (model.fp32.onnx) to have shape [1, 1, 128, 128] as manifest.json declares but received [1, 1, 112, 112] from the ONNX graph'],
    ['output names', VQ, (m) => { m.outputs.score = m.outputs.guidance; delete m.outputs.guidance; m.postprocessing.score = m.postprocessing.guidance; delete m.postprocessing.guidance; },
      '/outputs', 'Expected the outputs manifest.json declares (id_score, quality, score, view) in the ONNX graph of variant fp32 (model.fp32.onnx) but received guidance, id_score, quality, view'],
  ];
  for (const [what, from, edit, where, message] of cases) {
    const pkg = await pkgOf(await edited(from, edit));
    await t.rejects(verifyPackageGraphs(pkg), { name: 'ModelPackageError', code: 'E_PACKAGE_GRAPH', where, message }, what);
    // Loading it for a stream refuses it the same way: before, it loaded and failed (or was misread) on every frame.
    const p = await Pipeline.create({ viewQuality: from === VQ ? pkg.dir : VQ, segmentation: from === SEG ? pkg.dir : SEG, trustStore });
    await t.rejects(p.openProcessor({ input: { width: 256, height: 256, format: 'GRAY8' }, pixelSpacingMm: 0.3 }), { code: 'E_PACKAGE_GRAPH', message }, `${what}: at load`);
  }
});

t.test('a package that breaks its task\'s output contract: E_PACKAGE_CONTRACT before any engine loads', async (t) => {
  const cases: Array<[string, string, Edit, string, string]> = [
    ['a channels-last segmentation output', SEG, (m) => { m.outputs.logits.shape = [1, 112, 112, 4]; },
      '/outputs/logits/shape', 'Expected outputs.logits.shape to be NCHW [1, 4, 112, 112] (4 labels, the input\'s 112x112) but received [1, 112, 112, 4]'],
    ['segmentation labels without lv', SEG, (m) => { m.postprocessing.logits.labels = ['background', 'cavity', 'myocardium', 'la']; },
      '/postprocessing/logits/labels', 'Expected postprocessing.logits.labels to include "lv" but received ["background","cavity","myocardium","la"]'],
    ['a view_quality package without quality', VQ, (m) => { m.outputs.score = m.outputs.quality; delete m.outputs.quality; m.postprocessing.score = m.postprocessing.quality; delete m.postprocessing.quality; },
      '/outputs/quality', 'Expected a view_quality package to have the outputs view and quality (and optionally guidance, id_score) but received view, guidance, id_score, score'],
    ['view labels that do not match the view output', VQ, (m) => { m.postprocessing.view.labels = ['A4C', 'A2C', 'PLAX', 'OTHER']; },
      '/outputs/view/shape', 'Expected outputs.view.shape to be [1, 4] (one score per label of postprocessing.view.labels) but received [1, 5]'],
    ['an input preprocessing does not write', VQ, (m) => { m.preprocessing.options.output.layout = 'NHWC'; },
      '/inputs/image/shape', 'Expected inputs.image.shape to be what preprocessing writes, [1, 112, 112, 1] (NHWC, 1 channel, 112x112), but received [1, 1, 112, 112]'],
    ['a float16 output the runtime cannot read', VQ, (m) => { m.outputs.quality.dtype = 'float16'; },
      '/outputs/quality/dtype', 'Expected outputs.quality.dtype to be float32 (the runtime reads float32 outputs) but received float16'],
  ];
  for (const [what, from, edit, where, message] of cases) {
    const pkg = await pkgOf(await edited(from, edit));
    t.throws(() => checkContract(pkg.manifest), { name: 'ModelPackageError', code: 'E_PACKAGE_CONTRACT', where, message }, what);
    await t.rejects(verifyPackageGraphs(pkg), { code: 'E_PACKAGE_CONTRACT', message }, `${what}: verifyPackageGraphs checks it first`);
    // And loading it for a stream refuses it (before: the channels-last output loaded and was read as a 4x112 mask
    // on every frame; the view_quality package without quality failed every frame with an uncoded TypeError).
    const p = await Pipeline.create({ viewQuality: from === VQ ? pkg.dir : VQ, segmentation: from === SEG ? pkg.dir : SEG, trustStore });
    await t.rejects(p.openProcessor({ input: { width: 256, height: 256, format: 'GRAY8' }, pixelSpacingMm: 0.3 }), { code: 'E_PACKAGE_CONTRACT', message }, `${what}: at load`);
  }
});

t.test('checkGraph on its own: a dynamic dimension matches any size; a rank does not', async (t) => {
  const m = (await pkgOf(SEG)).manifest;
  const io = (input: (number | string)[], output: (number | string)[]) => ({
    inputs: [{ name: 'image', type: 'float32', shape: input }], outputs: [{ name: 'logits', type: 'float32', shape: output }],
  });
  t.doesNotThrow(() => checkGraph(m, 'fp32', io(['N', 1, 112, 112], ['N', 4, 112, 112])));
  t.throws(() => checkGraph(m, 'fp32', io([1, 1, 112, 112], [1, 4, 12544])), {
    code: 'E_PACKAGE_GRAPH', message: 'Expected outputs.logits of variant fp32 (model.fp32.onnx) to have shape [1, 4, 112, 112] as manifest.json declares but received [1, 4, 12544] from the ONNX graph',
  });
});
