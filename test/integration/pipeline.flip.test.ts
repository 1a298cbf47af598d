// A stream's flip (StreamGeometry.flip) on the bundled packages: the sample cine shown mirrored, apex down or turned
// by 180 degrees, with the matching flip, gives the upright cine's results (the models see the same input), and
// its LV mask and outline come back in the flipped frame's own orientation.
import t from 'tap';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { flippedFrame, readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { Pipeline, type PipelineResult } from '../../src/pipeline/index.js';
import { loadTrustStore, MODELS_DIR } from '../../src/model/package.js';
import { flipGuidance, flipMask, type Flip } from '../../src/preprocess/flip.js';
import type { StageTimer } from '../../src/pipeline/scheduler.js';
import { signManifest } from '../helpers/packages.js';

const N = 256;
const VQ = path.join(MODELS_DIR, 'view_quality');
const SEG = path.join(MODELS_DIR, 'lv_segmentation');
const stage: StageTimer = async (_name, fn) => fn();
// Float tolerance: the flipped frame is resampled in the mirrored order, so sums may round differently (the largest
// difference seen on this cine is about 1e-7 in a probability).
const TOL = 1e-5;

const shown = (f: Uint8Array, flip: Flip): Uint8Array => flippedFrame(f, flip);
/** Twice the signed area of a closed x,y outline (the shoelace sum): its sign is the winding. */
const signedArea = (p: readonly number[]): number => {
  let a = 0;
  for (let i = 0; i < p.length; i += 2) {
    const j = (i + 2) % p.length;
    a += p[i] * p[j + 1] - p[j] * p[i + 1];
  }
  return a;
};

t.test('the sample cine flipped, with the flip given, reads as the upright cine', async (t) => {
  const { frames } = await readSampleCine();
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const pipeline = await Pipeline.create({ viewQuality: VQ, segmentation: SEG, trustStore, engine: { intraOpThreads: 1 } });
  const run = async (flip: Flip): Promise<PipelineResult[]> => {
    const proc = await pipeline.openProcessor({ input: { width: N, height: N, format: 'GRAY8' }, pixelSpacingMm: SAMPLE_SPACING_MM, flip });
    const out: PipelineResult[] = [];
    for (let i = 0; i < frames.length; i++) out.push(await proc.process({ seq: i, acquiredAt: i, data: shown(frames[i], flip) }, stage));
    await proc.close();
    return out;
  };
  const upright = await run('none');
  const withLv = upright.filter((r) => r.lv !== undefined).length;
  t.ok(withLv >= 8, `the upright cine shows an LV on most frames (${withLv} of ${frames.length})`);
  t.ok(upright[frames.length - 1].ef?.valid, 'and an EF');
  for (const flip of ['horizontal', 'vertical', 'both'] as const) {
    const got = await run(flip);
    got.forEach((r, i) => {
      const u = upright[i];
      const at = `${flip}, frame ${i}`;
      t.equal(r.view.shown, u.view.shown, `${at}: shown view`);
      t.ok(r.view.probabilities.every((p, k) => Math.abs(p - u.view.probabilities[k]) <= TOL), `${at}: view probabilities`);
      t.ok(Math.abs(r.quality.score - u.quality.score) <= TOL, `${at}: quality`);
      t.equal(r.state, u.state, `${at}: state`);
      t.equal(r.guidance?.label, u.guidance && flipGuidance(u.guidance.label, flip), `${at}: guidance as the flipped screen shows it`);
      t.equal(r.lv === undefined, u.lv === undefined, `${at}: an LV on the same frames`);
      if (!r.lv || !u.lv) return;
      const { width: w, height: h } = r.lv.mask;
      t.equal(r.lv.pixels, u.lv.pixels, `${at}: LV pixels`);
      t.ok(Math.abs(r.lv.areaMm2 - u.lv.areaMm2) <= 1e-9 && Math.abs(r.lv.lengthMm - u.lv.lengthMm) <= 1e-9, `${at}: LV area and length`);
      t.same(Array.from(r.lv.mask.data), Array.from(flipMask(u.lv.mask.data, w, h, flip)), `${at}: the mask in the flipped frame's orientation`);
      // Every outline vertex is the centre of an LV pixel of the reported mask: outline and mask share the orientation.
      const off = [];
      for (let k = 0; k < r.lv.contour.length; k += 2) {
        if (r.lv.mask.data[Math.round(r.lv.contour[k + 1]) * w + Math.round(r.lv.contour[k])] !== 1) off.push(k / 2);
      }
      t.same(off, [], `${at}: outline vertices on the mask`);
      t.equal(Math.sign(signedArea(r.lv.contour)), Math.sign(signedArea(u.lv.contour)), `${at}: the outline keeps its winding`);
      // In the frame, the outline is the upright one's mirrored about the frame's centre lines (x -> 255 - x).
      const mirror = (v: number[], k: number, axis: 0 | 1) => ((axis === 0 ? flip !== 'vertical' : flip !== 'horizontal') ? N - 1 - v[k] : v[k]);
      const box = (v: number[], axis: 0 | 1, m = false) => {
        const xs = v.filter((_, k) => k % 2 === axis).map((x, k) => (m ? mirror(v, 2 * k + axis, axis) : x));
        return [Math.min(...xs), Math.max(...xs)];
      };
      for (const axis of [0, 1] as const) {
        const [a0, a1] = box(r.lv.contourFrame!, axis, true);
        const [b0, b1] = box(u.lv.contourFrame!, axis);
        // The simplified outlines keep different vertices; their extents agree within the simplification tolerance.
        t.ok(Math.abs(a0 - b0) <= 2 && Math.abs(a1 - b1) <= 2, `${at}: outline extent along ${'xy'[axis]} ${a0},${a1} vs ${b0},${b1}`);
      }
    });
    const e = got[frames.length - 1].ef;
    const ue = upright[frames.length - 1].ef;
    t.ok(e?.valid && Math.abs(e.ef - ue!.ef) <= 1e-9, `${flip}: the same EF (${e?.ef} vs ${ue?.ef})`);
  }
});

t.test('guidance through the pipeline: sides and rotations as the flipped screen shows them', async (t) => {
  // The bundled guidance head says `hold` on this cine; a copy of the view package whose first guidance label (the
  // one `hold` had) is named slide_left, or rotate_cw, shows what the pipeline does with a directional label.
  const { frames } = await readSampleCine();
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-flip-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const firstLabel = async (name: string, label: string, flip: Flip): Promise<string | undefined> => {
    const to = path.join(dir, name);
    await cp(VQ, to, { recursive: true, force: true });
    const manifest = JSON.parse(await readFile(path.join(VQ, 'manifest.json'), 'utf8'));
    const labels = manifest.postprocessing.guidance.labels as string[];
    t.equal(labels[0], 'hold', 'the bundled head lists hold first');
    manifest.postprocessing.guidance.labels = [label, ...labels.slice(1).map((l) => (l === label ? 'hold' : l))];
    await signManifest(to, manifest);
    const pipeline = await Pipeline.create({ viewQuality: to, trustStore, engine: { intraOpThreads: 1 } });
    const proc = await pipeline.openProcessor({ input: { width: N, height: N, format: 'GRAY8' }, pixelSpacingMm: SAMPLE_SPACING_MM, flip });
    const r = await proc.process({ seq: 0, acquiredAt: 0, data: shown(frames[0], flip) }, stage);
    await proc.close();
    return r.guidance?.label;
  };
  const expected: Array<[string, Flip, string]> = [
    ['slide_left', 'none', 'slide_left'], ['slide_left', 'horizontal', 'slide_right'], ['slide_left', 'vertical', 'slide_left'], ['slide_left', 'both', 'slide_right'],
    ['rotate_cw', 'none', 'rotate_cw'], ['rotate_cw', 'horizontal', 'rotate_ccw'], ['rotate_cw', 'vertical', 'rotate_ccw'], ['rotate_cw', 'both', 'rotate_cw'],
  ];
  for (const [label, flip, want] of expected) t.equal(await firstLabel(`${label}-${flip}`, label, flip), want, `${label} read upright, the screen ${flip}`);
});

t.test('without the flip a mirrored or turned cine is not read as the upright one', async (t) => {
  // What the option is for: the models learned the ASE orientation, and a mirrored four-chamber view is one of the
  // turned hearts they were taught to call OTHER.
  const { frames } = await readSampleCine();
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const pipeline = await Pipeline.create({ viewQuality: VQ, segmentation: SEG, trustStore, engine: { intraOpThreads: 1 } });
  for (const flip of ['horizontal', 'both'] as const) {
    const proc = await pipeline.openProcessor({ input: { width: N, height: N, format: 'GRAY8' }, pixelSpacingMm: SAMPLE_SPACING_MM });
    const got: PipelineResult[] = [];
    for (let i = 0; i < frames.length; i++) got.push(await proc.process({ seq: i, acquiredAt: i, data: shown(frames[i], flip) }, stage));
    await proc.close();
    const views = got.map((r) => `${r.view.shown}/${r.state}`);
    t.ok(got.every((r) => r.view.shown === 'OTHER' || r.state !== 'ok'), `${flip}, no flip given: never a heart view with state ok (${views.join(' ')})`);
    t.notOk(got[frames.length - 1].ef?.valid, `${flip}, no flip given: no EF`);
  }
});

t.test('an unknown flip is refused when the models load, with the code and the allowed values', async (t) => {
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const pipeline = await Pipeline.create({ viewQuality: VQ, trustStore });
  const scanConversion = { angleStart: -0.6, angleEnd: 0.6, depthStart: 0, depthEnd: 100 };
  await t.rejects(pipeline.openProcessor({ input: { width: 64, height: 128, format: 'GRAY8' }, pixelSpacingMm: 1, scanConversion, flip: 'vertical' }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
    message: 'Expected none with scanConversion (polar frames are drawn apex up by their angles) for geometry.flip but received "vertical" of type string',
  }, 'no flip for polar frames');
  const polar = await pipeline.openProcessor({ input: { width: 64, height: 128, format: 'GRAY8' }, pixelSpacingMm: 1, scanConversion, flip: 'none' });
  await polar.close();
  await t.rejects(pipeline.openProcessor({ input: { width: N, height: N, format: 'GRAY8' }, pixelSpacingMm: 1, flip: 'sideways' as Flip }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
    message: 'Expected none, horizontal, vertical, both for geometry.flip but received "sideways" of type string',
  });
});
