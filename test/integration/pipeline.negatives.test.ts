// The bundled models through the real pipeline on frames that are not an echo
// view: black, saturated, grey, noise, a gradient, a screen of UI text without
// an image, and the bundled A4C cine turned upside down. Every such stream must
// answer with the in-distribution state `unknown` or the view OTHER, and never
// give an LV or an EF; the bundled cine itself must stay a measured A4C.
import t from 'tap';
import path from 'node:path';
import { Pipeline, type PipelineResult } from '../../src/pipeline/index.js';
import { loadTrustStore, MODELS_DIR } from '../../src/model/package.js';
import { readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { drawScreenUi } from '../helpers/screen.js';
import { rng } from '../../src/frame/synthetic.js';

const W = 256;
const H = 256;
const geometry = { input: { width: W, height: H, format: 'GRAY8' as const }, pixelSpacingMm: SAMPLE_SPACING_MM };

const fill = (v: number): Uint8Array => new Uint8Array(W * H).fill(v);

/** Seeded noise in [lo, hi): the same frames on every run. */
function noise(seed: number, lo: number, hi: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: W * H }, () => Math.floor(lo + r() * (hi - lo)));
}

function gradient(): Uint8Array {
  const f = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) f[y * W + x] = Math.round((255 * (x + y)) / (W + H - 2));
  return f;
}

async function run(pipeline: Pipeline, frames: Uint8Array[]): Promise<PipelineResult[]> {
  const out: PipelineResult[] = [];
  const stream = await pipeline.openStream(geometry, (r) => out.push(r.result));
  try {
    for (let i = 0; i < frames.length; i++) {
      stream.submit(frames[i], i);
      await stream.idle();
    }
  } finally {
    await stream.close();
  }
  return out;
}

t.test('bundled models: negatives are unknown or OTHER, never an LV or an EF', async (t) => {
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const pipeline = await Pipeline.create({
    viewQuality: path.join(MODELS_DIR, 'view_quality'), segmentation: path.join(MODELS_DIR, 'lv_segmentation'), trustStore,
  });
  const { frames } = await readSampleCine();
  const flipped = frames.map((f) => {
    const g = new Uint8Array(W * H);
    for (let y = 0; y < H; y++) g.set(f.subarray((H - 1 - y) * W, (H - y) * W), y * W);
    return g;
  });
  const screen = new Uint8Array(W * H); // a scanner's screen around an empty image area: text, logo, colour bar, ECG, depth scale
  drawScreenUi([screen], { width: W, height: H, format: 'GRAY8', seed: 5 }, { x: 60, y: 40, width: 136, height: 150 });
  const families: Record<string, Uint8Array[]> = {
    black: Array.from({ length: 24 }, () => fill(0)),
    saturated: Array.from({ length: 24 }, () => fill(255)),
    grey: Array.from({ length: 24 }, () => fill(128)),
    noise: Array.from({ length: 24 }, (_, i) => noise(i + 1, 0, 256)),
    'dim noise': Array.from({ length: 24 }, (_, i) => noise(i + 101, 0, 60)),
    gradient: Array.from({ length: 24 }, () => gradient()),
    'screen without an image': Array.from({ length: 24 }, () => screen),
    'A4C upside down': [...flipped, ...flipped],
  };
  for (const [name, fs] of Object.entries(families)) {
    const results = await run(pipeline, fs);
    const caught = results.filter((r) => r.state === 'unknown' || r.view.shown === 'OTHER').length;
    t.ok(caught / results.length >= 0.95, `${name}: ${caught} of ${results.length} frames unknown or OTHER`);
    t.equal(results.filter((r) => r.lv !== undefined).length, 0, `${name}: no LV`);
    t.equal(results.filter((r) => r.ef?.valid === true).length, 0, `${name}: no EF`);
  }
  const a4c = await run(pipeline, [...frames, ...frames]);
  t.ok(a4c.slice(4).every((r) => r.view.shown === 'A4C' && r.state !== 'unknown'), 'the upright cine: A4C, not unknown');
  t.ok(a4c[31].ef?.valid === true, 'and an EF after two loops');
});
