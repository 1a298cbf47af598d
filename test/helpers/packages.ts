// Signed model packages built at test time: a manifest, the files it lists
// (their sha256 and sizes filled in here) and manifest.sig by the committed
// DEVELOPMENT-ONLY key (training/keys), which the bundled trust store trusts,
// as the harness signs (training/sonoedge_train/package.py). Used to test
// manifest fields the bundled packages do not have (id_score, temperature,
// EF calibration) with the real verifier and the real engine.
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODELS_DIR } from '../../src/model/package.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEV_KEY = path.join(root, 'training', 'keys', 'DEVELOPMENT-ONLY-signing-key.pem');
/** The tiny view model with an id_score output (test/fixtures/id-score/make_model.py). */
export const VIEW_ID_ONNX = path.join(root, 'test', 'fixtures', 'id-score', 'view_id.onnx');
/** The same model without the id_score output. */
export const VIEW_NOID_ONNX = path.join(root, 'test', 'fixtures', 'id-score', 'view_noid.onnx');
/** view_id.onnx whose quality is NaN on frames brighter than mean 0.5 (a broken quality output). */
export const VIEW_NANQ_ONNX = path.join(root, 'test', 'fixtures', 'id-score', 'view_nanq.onnx');
/** view_id.onnx whose view logits are NaN on frames brighter than mean 0.5 (a broken view output). */
export const VIEW_NANV_ONNX = path.join(root, 'test', 'fixtures', 'id-score', 'view_nanv.onnx');

type Manifest = Record<string, unknown> & { variants: Record<string, Record<string, unknown>>; files: Record<string, unknown> };

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Writes manifest.json (the harness's canonical form) and its manifest.sig by the development key. */
export async function signManifest(dir: string, manifest: Manifest): Promise<void> {
  const bytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(path.join(dir, 'manifest.json'), bytes);
  const pem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(await readFile(DEV_KEY, 'utf8'))![0];
  const key = createPrivateKey(pem);
  const raw = Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url');
  const doc = { algorithm: 'ed25519', key_id: sha256(raw).slice(0, 16), signature: sign(null, bytes, key).toString('base64') };
  await writeFile(path.join(dir, 'manifest.sig'), `${JSON.stringify(doc, null, 2)}\n`);
}

/** Writes `files` into `dir`, fills the manifest's variant and file entries (sha256, bytes) from them, and signs. */
export async function writeSignedPackage(dir: string, manifest: Manifest, files: Record<string, Uint8Array>): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) await writeFile(path.join(dir, name), data);
  for (const v of Object.values(manifest.variants)) {
    const data = files[v.file as string];
    Object.assign(v, { sha256: sha256(data), bytes: data.length });
  }
  for (const name of Object.keys(manifest.files)) manifest.files[name] = { sha256: sha256(files[name]), bytes: files[name].length };
  await signManifest(dir, manifest);
  return dir;
}

export interface ViewIdOptions {
  /** postprocessing.view.temperature (absent by default). */
  temperature?: number;
  /** postprocessing.id_score.thresholds (default {ok: 0.7, unknown: 0.4}); null leaves postprocessing.id_score out. */
  thresholds?: Record<string, unknown> | null;
  /** false: the model without the id_score output (view_noid.onnx) and no postprocessing.id_score: a view package that cannot abstain. */
  idScore?: boolean;
  /** true: the model whose quality is NaN on frames brighter than mean 0.5 (view_nanq.onnx). */
  nanQuality?: boolean;
  /** true: the model whose view logits are NaN on frames brighter than mean 0.5 (view_nanv.onnx). */
  nanView?: boolean;
  /** postprocessing.view.thresholds.uncertain (absent by default). */
  viewUncertain?: unknown;
  /** The view labels of the five outputs (default A4C, A2C, PLAX, PSAX, OTHER); the first is the one every frame gets. */
  labels?: string[];
}

/** A signed view_quality package around view_id.onnx: views A4C..OTHER, quality, id_score = clip(10 mean - 0.3, 0, 1). */
export async function viewIdPackage(dir: string, o: ViewIdOptions = {}): Promise<string> {
  const scalar = (def: string) => ({
    type: 'scalar', format: 'score', num_channels: 1, spatial_shape: [], shape: [1], dtype: 'float32', value_range: [0, 1], channel_def: { 0: def },
  });
  const labels = o.labels ?? ['A4C', 'A2C', 'PLAX', 'PSAX', 'OTHER'];
  const manifest: Manifest = {
    format_version: 1,
    name: 'test-view-id',
    version: '0.0.1',
    task: 'view_quality',
    description: 'Test package: constant view logits [2, 0, -1, -1, -1], quality sigmoid(3), id_score clip(10 mean - 0.3, 0, 1).',
    inputs: { image: {
      type: 'image', format: 'magnitude', modality: 'US', num_channels: 1, spatial_shape: [64, 64], shape: [1, 1, 64, 64],
      dtype: 'float32', value_range: [0, 1], channel_def: { 0: 'B-mode intensity' },
    } },
    outputs: {
      view: { type: 'vector', format: 'classes', num_channels: 5, spatial_shape: [], shape: [1, 5], dtype: 'float32', value_range: [],
        channel_def: Object.fromEntries(labels.map((l, i) => [String(i), l])) },
      quality: scalar('image quality (1 = diagnostic)'),
      ...(o.idScore === false ? {} : { id_score: scalar('in-distribution score (1 = like the training data)') }),
    },
    preprocessing: {
      input: 'image', source: 'scan_converted', crop: 'sector_bounding_box',
      options: { output: { width: 64, height: 64, channels: 1, dtype: 'float32', layout: 'NCHW' }, resize: 'area', letterbox: false, normalize: { scale: 1 / 255 } },
    },
    postprocessing: {
      view: {
        activation: 'softmax', axis: 1, argmax: true, labels, ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
        ...(o.viewUncertain !== undefined ? { thresholds: { uncertain: o.viewUncertain } } : {}),
      },
      quality: { activation: 'none', argmax: false, thresholds: { diagnostic: 0.5 } },
      ...(o.thresholds === null || o.idScore === false ? {} : {
        id_score: { activation: 'none', argmax: false, thresholds: o.thresholds ?? { ok: 0.7, unknown: 0.4 }, method: 'test fixture: clip(10 x mean intensity - 0.3, 0, 1)' },
      }),
    },
    variants: { fp32: { file: 'model.fp32.onnx', providers: ['cpu'], opset: 17, metrics: {}, latency_ms_cpu: null } },
    files: {},
    provenance: { dataset: { name: 'none (test fixture)' }, seed: 0, config: {}, harness_commit: 'unknown', created: '2026-01-01T00:00:00Z' },
  };
  return writeSignedPackage(dir, manifest, { 'model.fp32.onnx': await readFile(o.idScore === false ? VIEW_NOID_ONNX : o.nanQuality ? VIEW_NANQ_ONNX : o.nanView ? VIEW_NANV_ONNX : VIEW_ID_ONNX) });
}

/** The bundled LV segmentation package with `calibration` in its manifest (null: none), re-signed by the development key. */
export async function calibratedSegmentation(dir: string, calibration: Record<string, unknown> | null): Promise<string> {
  await cp(path.join(MODELS_DIR, 'lv_segmentation'), dir, { recursive: true });
  const { calibration: _bundled, ...manifest } = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as Manifest & { calibration?: unknown };
  await signManifest(dir, (calibration === null ? manifest : { ...manifest, calibration }) as Manifest);
  return dir;
}
