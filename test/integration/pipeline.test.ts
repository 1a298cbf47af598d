// The pipeline on the bundled, signed model packages: real ONNX Runtime
// sessions through our engine, real preprocessing, latest-frame-wins.
import t, { type Test } from 'tap';
import { flippedFrame, readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as ort from 'onnxruntime-node';
import { Pipeline, type PipelineResult, type Processed, type FrameInfo } from '../../src/pipeline/index.js';
import { loadTrustStore, MODELS_DIR, verifyModelPackage } from '../../src/model/package.js';
import { Preprocessor, type PreprocessOptions } from '../../src/preprocess/index.js';
import { softmax } from '../../src/pipeline/postprocess.js';
import type { StageTimer } from '../../src/pipeline/scheduler.js';
import { syntheticSectorFrame } from '../../src/frame/synthetic.js';
import { signManifest, viewIdPackage } from '../helpers/packages.js';

const W = 1024;
const H = 768;
const geometry = { input: { width: W, height: H, format: 'GRAY8' as const }, pixelSpacingMm: 0.3, sectorRoi: { x: 128, y: 8, width: 768, height: 740 } };
const VQ = path.join(MODELS_DIR, 'view_quality');
const SEG = path.join(MODELS_DIR, 'lv_segmentation');

type Out = Processed<FrameInfo, PipelineResult>;

t.test('view and quality match an independent onnxruntime-node chain', async (t) => {
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const pipeline = await Pipeline.create({ viewQuality: VQ, trustStore, engine: { intraOpThreads: 1 } });
  const results: Out[] = [];
  const stream = await pipeline.openStream(geometry, (r) => results.push(r));
  t.teardown(() => stream.close());
  const frame = syntheticSectorFrame(W, H, 11);
  stream.submit(frame, 42, 1234.5);
  await stream.idle();
  t.equal(results.length, 1);
  const r = results[0];
  t.equal(r.result.seq, 42);
  t.equal(r.result.acquiredAt, 1234.5);
  // The bundled view package reads the quality at full gain as well (postprocessing.quality.full_gain): a second run.
  t.same(Object.keys(r.timing.stages), ['view_quality.preprocess', 'view_quality.full_gain', 'view_quality.engine', 'view_quality.postprocess']);

  // The reference chain: the same preprocessing, onnxruntime-node's session, softmax.
  const pkg = await verifyModelPackage(VQ, { trustStore });
  const pre = new Preprocessor({ ...(pkg.manifest.preprocessing.options as Omit<PreprocessOptions, 'input'>), input: geometry.input, roi: geometry.sectorRoi });
  const x = pre.run(frame, pre.createOutput()) as Float32Array;
  const session = await ort.InferenceSession.create(pkg.variantPath('fp32'), { intraOpNumThreads: 1 });
  const feeds = { [pkg.manifest.preprocessing.input]: new ort.Tensor('float32', x, [1, 1, pre.options.outHeight, pre.options.outWidth]) };
  const out = await session.run(feeds);
  // The package's temperature divides the logits before the softmax (1 when it has none).
  const post = pkg.manifest.postprocessing as { view: { temperature?: number } };
  const temperature = post.view.temperature ?? 1;
  const probs = softmax(Float64Array.from(out.view.data as Float32Array, (v) => v / temperature), new Float64Array(5));
  r.result.view.probabilities.forEach((p, i) => t.ok(Math.abs(p - probs[i]) <= 1e-5, `p[${i}] ${p} vs ${probs[i]}`));
  // The quality as displayed is the model's on the frame; the one reported is at least that (the full-gain test below).
  t.ok(Math.abs(r.result.quality.displayed! - (out.quality.data as Float32Array)[0]) <= 1e-5, 'quality');
  t.ok(r.result.quality.score >= r.result.quality.displayed!, 'the quality reported is at least the displayed one');
  if (out.id_score !== undefined) t.ok(Math.abs(r.result.idScoreRaw! - (out.id_score.data as Float32Array)[0]) <= 1e-6, 'in-distribution score');
  t.equal(r.result.view.label, ['A4C', 'A2C', 'PLAX', 'PSAX', 'OTHER'][probs.indexOf(Math.max(...probs))]);
  await session.release();
});

t.test('latest frame wins: a burst runs the first and the last frame only', async (t) => {
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const pipeline = await Pipeline.create({ viewQuality: VQ, trustStore });
  const seqs: number[] = [];
  const stream = await pipeline.openStream(geometry, (r) => seqs.push(r.result.seq));
  t.teardown(() => stream.close());
  const frame = syntheticSectorFrame(W, H, 3);
  const accepted = Array.from({ length: 10 }, (_, i) => stream.submit(frame, i + 1));
  await stream.idle();
  t.same(accepted, [true, true, false, false, false, false, false, false, false, false]);
  t.same(seqs, [1, 10]);
  t.same(stream.stats, { received: 10, processed: 2, dropped: 8, failed: 0 });
});

t.test('segmentation, LV area and EF on apical frames', async (t) => {
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-seg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Every view is eligible and no quality bar, so that segmentation runs on every frame; a view package that
  // cannot abstain (the bundled one says `unknown`, and so no LV, on these synthetic pictures, which are no heart).
  const pipeline = await Pipeline.create({
    viewQuality: await viewIdPackage(path.join(dir, 'vq'), { idScore: false }), segmentation: SEG, trustStore,
    segmentationViews: ['A4C', 'A2C', 'PLAX', 'PSAX', 'OTHER'], qualityThreshold: -Infinity,
  });
  const results: Out[] = [];
  const stream = await pipeline.openStream(geometry, (r) => results.push(r));
  t.teardown(() => stream.close());
  for (let i = 0; i < 4; i++) {
    stream.submit(syntheticSectorFrame(W, H, 20 + i), i);
    await stream.idle();
  }
  t.equal(results.length, 4);
  for (const r of results) {
    t.ok(r.result.lv !== undefined, 'lv present');
    const lv = r.result.lv!;
    const sx = (0.3 * 768) / 112;
    const sy = (0.3 * 740) / 112;
    t.ok(Math.abs(lv.areaMm2 - lv.pixels * sx * sy) < 1e-9, 'area = pixels x pixel area in mm');
    t.equal(lv.contour.length % 2, 0);
    t.ok(r.result.ef !== undefined);
    t.ok('lv_segmentation.engine' in r.timing.stages && 'lv_segmentation.preprocess' in r.timing.stages && 'lv_segmentation.postprocess' in r.timing.stages);
  }
});

t.test('a tampered package is refused before anything loads', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-pkg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(VQ, dir, { recursive: true });
  const file = path.join(dir, 'model.int8.onnx');
  const bytes = await readFile(file);
  bytes[bytes.length >> 1] ^= 0xff;
  await writeFile(file, bytes);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  await t.rejects(Pipeline.create({ viewQuality: dir, trustStore }), { name: 'ModelPackageError', code: 'E_PACKAGE_CHECKSUM', where: 'model.int8.onnx' });
  await t.rejects(Pipeline.create({ viewQuality: VQ, trustStore, segmentationStride: 0 }), { name: 'RangeError', message: 'Expected positive integer for pipeline.segmentationStride but received 0 of type number' });
  await t.rejects(Pipeline.create({ viewQuality: VQ, trustStore, segmentatonStride: 2 } as never), { code: 'ERR_SONOEDGE_UNKNOWN_OPTION', message: /^Unknown option pipeline\.segmentatonStride; did you mean pipeline\.segmentationStride\?/ });
});

t.test('real-image sanity check: the bundled A4C cine (DICOM) gives A4C, the LV, and EF near its label', async (t) => {
  const { frames, label, pixelDataTag } = await readSampleCine();
  t.same(pixelDataTag, [0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0], 'pixel data (7FE0,0010) OB');
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const pipeline = await Pipeline.create({ viewQuality: VQ, segmentation: SEG, trustStore });
  const results: Out[] = [];
  const stream = await pipeline.openStream({ input: { width: 256, height: 256, format: 'GRAY8' }, pixelSpacingMm: SAMPLE_SPACING_MM }, (r) => results.push(r));
  t.teardown(() => stream.close());
  for (let i = 0; i < 16; i++) {
    stream.submit(frames[i], i);
    await stream.idle();
  }
  t.same(results.map((r) => r.result.view.shown), new Array(16).fill(label.view));
  t.same(results.map((r) => r.result.view.changed), new Array(16).fill(false), 'one view throughout: never changed');
  t.ok(results.every((r) => r.result.lv !== undefined && r.result.lv.areaMm2 > 500 && r.result.lv.areaMm2 < 5000), 'an LV of 5-50 cm2 on every frame');
  const ef = results[15].result.ef!;
  t.equal(ef.valid, true);
  // ED and ES within one frame of the label (the usual tolerance for frame detection).
  t.ok(Math.abs(ef.edFrame - label.ed) <= 1 && Math.abs(ef.esFrame - label.es) <= 1, `ED ${ef.edFrame} ES ${ef.esFrame} vs ${label.ed} ${label.es}`);
  // Sanity tolerance: 10 EF points (the models are small and briefly trained; see training/RESULTS.md).
  t.ok(Math.abs(ef.ef - label.ef) <= 10, `EF ${ef.ef.toFixed(1)} vs label ${label.ef}`);

  // Blank frames (no heart) after the cine: the shown view switches once, `changed` marks exactly that frame
  // (OTHER after the hold of 3 frames).
  const blank = new Uint8Array(256 * 256);
  for (let i = 16; i < 28; i++) {
    stream.submit(blank, i);
    await stream.idle();
  }
  const shown = results.map((r) => r.result.view.shown);
  const switches = shown.map((v, i) => i > 0 && v !== shown[i - 1]);
  t.same(results.map((r) => r.result.view.changed), switches, 'changed = shown differs from the frame before');
  t.equal(switches.filter(Boolean).length, 1, `one switch: ${shown.slice(16).join(' ')}`);
  t.equal(shown[27], 'OTHER');
});

t.test('segmentation gate hysteresis: once open it stays open down to qualityThreshold - qualityHysteresis', async (t) => {
  const { frames } = await readSampleCine();
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const run = async (options: { qualityThreshold?: number; qualityHysteresis?: number; qualityHold?: number }): Promise<Out[]> => {
    const pipeline = await Pipeline.create({ viewQuality: VQ, segmentation: SEG, trustStore, ...options });
    const results: Out[] = [];
    const stream = await pipeline.openStream({ input: { width: 256, height: 256, format: 'GRAY8' }, pixelSpacingMm: SAMPLE_SPACING_MM }, (r) => results.push(r));
    for (let i = 0; i < 16; i++) {
      stream.submit(frames[i], i);
      await stream.idle();
    }
    await stream.close();
    return results;
  };
  // The smoothed quality does not depend on the gate: take the threshold at its median, so that it opens and dips.
  const q = (await run({})).map((r) => r.result.quality.smoothed);
  const threshold = [...q].sort((a, b) => a - b)[8];
  t.ok(q.some((v, i) => i > 0 && v < threshold && q[i - 1] >= threshold), `the quality dips under ${threshold}: ${q.map((v) => v.toFixed(3))}`);
  const fullRange = Math.max(...q) - Math.min(...q);
  const byHysteresis = new Map<number, Out[]>();
  for (const h of [0, 0.1, fullRange]) {
    const results = await run({ qualityThreshold: threshold, qualityHysteresis: h, qualityHold: 0 });
    byHysteresis.set(h, results);
    t.same(results.map((r) => r.result.quality.smoothed), q, 'the same quality');
    // The rule restated: open at the threshold, then closed only below threshold - h (every frame is A4C, state ok).
    let open = false;
    const expected = q.map((v) => (open = v >= (open ? threshold - h : threshold)));
    t.same(results.map((r) => r.result.lv !== undefined), expected, `hysteresis ${h}: LV on ${expected.map(Number).join('')}`);
    // One quality bar: the quality state (the LOW_QUALITY flag) follows the same thresholds as the gate.
    t.same(results.map((r) => r.result.quality.good), expected, `hysteresis ${h}: good on the same frames`);
  }
  // h = 0 gates each frame alone; the full range keeps the gate open from the first frame at the threshold on.
  const first = q.findIndex((v) => v >= threshold);
  t.same(byHysteresis.get(fullRange)!.map((r) => r.result.lv !== undefined), q.map((_, i) => i >= first));
  // A hold: once open for 2 frames, up to 2 frames under the exit bar are still segmented (the same rule as
  // Latch's, restated), and those frames make the EF's quality low.
  const held = await run({ qualityThreshold: threshold, qualityHysteresis: 0, qualityHold: 2 });
  let open = false;
  let age = 0;
  let dip = 0;
  const expected = q.map((v) => {
    if (v >= threshold) [open, age, dip] = [true, age + 1, 0];
    else if (open && age - dip >= 2 && dip < 2) [age, dip] = [age + 1, dip + 1];
    else [open, age, dip] = [false, 0, 0];
    return open ? (dip > 0 ? 'h' : 'o') : '.';
  }).join('');
  t.equal(held.map((r) => (r.result.lv === undefined ? '.' : r.result.quality.smoothed < threshold ? 'h' : 'o')).join(''), expected, 'qualityHold 2');
  t.ok(expected.includes('h'), `the sample cine has a dip held open: ${expected}`);
  const firstHeld = expected.indexOf('h');
  t.match(held[firstHeld].result.ef?.qualityReason ?? '', /1 frame under the quality bar in the window/);
  t.same(held.map((r) => r.result.quality.good), q.map((v) => v >= threshold), 'the LOW_QUALITY flag does not hold');
  await t.rejects(Pipeline.create({ viewQuality: VQ, trustStore, qualityHold: 1.5 }), { name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION', message: 'Expected integer in [0, 1000] for pipeline.qualityHold but received 1.5 of type number' });
  await t.rejects(Pipeline.create({ viewQuality: VQ, trustStore, qualityHysteresis: -0.1 }), { name: 'RangeError', message: 'Expected number in [0, 1] for pipeline.qualityHysteresis but received -0.1 of type number' });
  for (const bad of [NaN, 1.5]) {
    await t.rejects(Pipeline.create({ viewQuality: VQ, trustStore, qualityThreshold: bad }), {
      name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
      message: `Expected number at most 1 (-Infinity: always open) for pipeline.qualityThreshold but received ${bad} of type number`,
    });
  }
});

/**
 * The sample cine's 16 frames through one processor with the bundled LV package, and the bundled view package with
 * other quality thresholds (`vqWith`, signed again in a scratch folder). `run`: after `swapAt` frames the view model
 * is replaced by `swapTo`'s. `rule`: the gate restated for the sample (every frame A4C, state ok): open at `enter`,
 * closed below enter - 0.1.
 */
async function qualityBarRig(t: Test, prefix: string) {
  const { frames } = await readSampleCine();
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const geom = { input: { width: 256, height: 256, format: 'GRAY8' as const }, pixelSpacingMm: SAMPLE_SPACING_MM };
  const stage: StageTimer = async (_name, fn) => fn();
  // A copy of the bundled view package with its manifest edited, signed again.
  const vqEdited = async (name: string, edit: (manifest: { postprocessing: Record<string, Record<string, unknown>> }) => void): Promise<string> => {
    const to = path.join(dir, name);
    await cp(VQ, to, { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(to, 'manifest.json'), 'utf8'));
    edit(manifest);
    await signManifest(to, manifest);
    return to;
  };
  const vqWith = (name: string, thresholds: Record<string, number>): Promise<string> =>
    vqEdited(name, (m) => { m.postprocessing.quality.thresholds = thresholds; });
  const run = async (viewQuality: string, options: { qualityThreshold?: number } = {}, swapAt = -1, swapTo = ''): Promise<PipelineResult[]> => {
    const pipeline = await Pipeline.create({ viewQuality, segmentation: SEG, trustStore, ...options });
    const proc = await pipeline.openProcessor(geom);
    const out: PipelineResult[] = [];
    for (let i = 0; i < 16; i++) {
      if (i === swapAt) await proc.replace(await pipeline.loadRunner(await verifyModelPackage(swapTo, { trustStore }), geom));
      out.push(await proc.process({ seq: i, acquiredAt: i, data: frames[i] }, stage));
    }
    for (const r of proc.runners) await r.close();
    return out;
  };
  const rule = (values: number[], enter: number, from = 0): boolean[] => {
    let open = false;
    return values.map((v, i) => i >= from && (open = v >= (open ? enter - 0.1 : enter)));
  };
  return { trustStore, geom, vqEdited, vqWith, run, rule };
}

t.test("the quality bar: the view package's diagnostic threshold unless the options set one; a swapped view package brings its own", async (t) => {
  const { trustStore, vqWith, run, rule } = await qualityBarRig(t, 'sonoedge-bar-');
  // The bundled view package with its diagnostic threshold set to `d`, signed again.
  const vqAt = (d: number): Promise<string> => vqWith(`vq-${d}`, { diagnostic: d });
  const bundled = await run(VQ);
  const q = bundled.map((r) => r.quality.smoothed);
  const d = [...q].sort((a, b) => a - b)[8];
  t.same(bundled.map((r) => r.lv !== undefined), rule(q, 0.5), 'the bundled package: 0.5');
  const atD = await vqAt(d);
  t.same((await Pipeline.create({ viewQuality: atD, trustStore })).qualityBar(), { enter: d, exit: d - 0.1 });
  t.same((await Pipeline.create({ viewQuality: atD, trustStore, qualityThreshold: 0.5 })).qualityBar(), { enter: 0.5, exit: 0.4 });
  t.same((await Pipeline.create({ viewQuality: VQ, trustStore })).qualityBar(), { enter: 0.5, exit: 0.4 });
  const own = await run(atD);
  t.same(own.map((r) => r.quality.smoothed), q, 'the same quality');
  t.same(own.map((r) => r.lv !== undefined), rule(q, d), `the package's ${d}`);
  t.same(own.map((r) => r.quality.good), rule(q, d), 'the quality state on the same bar');
  t.same((await run(atD, { qualityThreshold: 0.5 })).map((r) => r.lv !== undefined), rule(q, 0.5), 'the options win');
  // Swapped in after 8 frames: the quality state (its smoothing, alpha 0.3, too) and the gate start again at the new
  // package's bar; a package with the same bar (the bundled one again) changes nothing.
  const swapped = await run(VQ, {}, 8, atD);
  const raw = bundled.map((r) => r.quality.score);
  let ema = NaN;
  const again = raw.map((v, i) => (i < 8 ? q[i] : (ema = Number.isNaN(ema) ? v : 0.3 * v + 0.7 * ema)));
  t.same(swapped.map((r) => r.quality.smoothed).map((v) => v.toFixed(12)), again.map((v) => v.toFixed(12)), 'smoothing restarts at the swap');
  t.same(swapped.map((r) => r.lv !== undefined), [...rule(q, 0.5).slice(0, 8), ...rule(again, d, 8).slice(8)], 'the new bar from the swap on');
  t.same((await run(VQ, {}, 8, VQ)).map((r) => r.lv !== undefined), rule(q, 0.5), 'the same bar: the gate goes on');
  // A threshold outside [0, 1] is refused with the package, before anything loads.
  await t.rejects(Pipeline.create({ viewQuality: await vqAt(1.5), trustStore }), {
    name: 'ModelPackageError', code: 'E_PACKAGE_SCHEMA',
    message: 'Expected manifest.json at /postprocessing/quality/thresholds/diagnostic to satisfy the schema (maximum: must be <= 1) but received 1.5',
  });
});

t.test("the segmentation bar: a view package's thresholds.segmentation starts the LV under the quality bar, frames measured while the quality is poor make the EF's quality low", async (t) => {
  const { trustStore, geom, vqWith, run, rule } = await qualityBarRig(t, 'sonoedge-segbar-');
  const bundled = await run(VQ);
  const q = bundled.map((r) => r.quality.smoothed);
  const sorted = [...q].sort((a, b) => a - b);
  // The bars from the sample's own qualities (every frame A4C, state ok; 0.77-0.78 smoothed): the LV starts at the
  // third lowest; the quality is good from the first frame over the first frame's quality on; `never` is over all.
  const above = q.findIndex((v) => v > q[0]);
  const [seg, diag, never] = [sorted[2], (q[0] + q[above]) / 2, Math.min(1, sorted[15] + 0.005)];
  const count = (b: boolean[], want: boolean): number => b.filter((v) => v === want).length;
  const both = await run(await vqWith('both', { diagnostic: diag, segmentation: seg }));
  t.same(both.map((r) => r.quality.smoothed), q, 'the same quality');
  t.same(both.map((r) => r.lv !== undefined), rule(q, seg), `the LV from the segmentation bar ${seg}`);
  t.same(both.map((r) => r.quality.good), rule(q, diag), `the quality state on the diagnostic bar ${diag}`);
  t.ok(count(rule(q, seg), true) > count(rule(q, diag), true) && count(rule(q, diag), true) > 0, 'more frames segmented than good, some good');
  // Open on every frame (bar 0): each frame measured while the quality state is poor is counted against the EF,
  // though none of them is under the diagnostic bar's exit (diag - 0.1).
  const poor = count(rule(q, diag), false);
  t.equal(poor, above, `poor until frame ${above}`);
  t.equal(q.filter((v) => v < diag - 0.1).length, 0, 'no frame under the exit');
  const open = await run(await vqWith('open', { diagnostic: diag, segmentation: 0 }));
  t.same(open.map((r) => r.lv !== undefined), new Array(16).fill(true), 'bar 0: every apical frame');
  t.match(open[15].ef?.qualityReason ?? '', new RegExp(`(^|; )${poor} frames? under the quality bar in the window`));
  const dark = await run(await vqWith('dark', { diagnostic: never, segmentation: 0 }));
  t.same(dark.map((r) => [r.lv !== undefined, r.quality.good]), new Array(16).fill([true, false]), 'never good, every frame segmented');
  t.match(dark[15].ef?.qualityReason ?? '', /(^|; )16 frames under the quality bar in the window/);
  // pipeline.qualityThreshold is both bars: over every frame's quality, no LV and never good.
  const opt = await run(await vqWith('opt', { diagnostic: diag, segmentation: 0 }), { qualityThreshold: never });
  t.same(opt.map((r) => [r.lv !== undefined, r.quality.good, r.lvSkipped]), new Array(16).fill([false, false, 'quality']), 'the options win');
  t.same(open.map((r) => r.lvSkipped), new Array(16).fill(undefined), 'nothing skipped where every frame is segmented');
  // Swapped in after 8 frames: the gate starts again at the new package's segmentation bar; the quality bar is the
  // same, so the quality state and its smoothing go on.
  const swapped = await run(await vqWith('plain', { diagnostic: never }), {}, 8, await vqWith('swap', { diagnostic: never, segmentation: 0 }));
  t.same(swapped.map((r) => r.lv !== undefined), [...new Array(8).fill(false), ...new Array(8).fill(true)], 'the new bar from the swap on');
  t.same(swapped.map((r) => r.quality.smoothed), q, 'the smoothing goes on');
  // Above the diagnostic bar: refused when the model loads; outside [0, 1]: by the schema.
  const high = await Pipeline.create({ viewQuality: await vqWith('high', { diagnostic: 0.5, segmentation: 0.6 }), trustStore });
  await t.rejects(high.openProcessor(geom), {
    name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
    message: 'Expected a number at most thresholds.diagnostic (0.5) for postprocessing.quality.thresholds.segmentation of package sonoedge-view-quality but received 0.6 of type number',
  });
  await t.rejects(Pipeline.create({ viewQuality: await vqWith('neg', { diagnostic: 0.5, segmentation: -0.1 }), trustStore }), {
    name: 'ModelPackageError', code: 'E_PACKAGE_SCHEMA',
    message: 'Expected manifest.json at /postprocessing/quality/thresholds/segmentation to satisfy the schema (minimum: must be >= 0) but received -0.1',
  });
});

t.test('pixel spacing: square or [x, y]; model-pixel spacing and the frame map follow the ROI', async (t) => {
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const pipeline = await Pipeline.create({ viewQuality: VQ, segmentation: SEG, trustStore });
  const roi = { x: 100, y: 20, width: 224, height: 112 };
  const runner = await pipeline.loadRunner(pipeline.segmentation!, { input: { width: 640, height: 480, format: 'GRAY8' }, pixelSpacingMm: [0.25, 0.5], sectorRoi: roi });
  t.teardown(() => runner.close());
  // The bundled model's input is 112x112 without letterbox: the ROI is stretched onto it.
  t.same(runner.spacingMm, [(0.25 * 224) / 112, (0.5 * 112) / 112]);
  // Model pixel centres 0 and 111 map to the ROI's first and last source pixel centres, within half a source pixel.
  const [x0, y0, x1, y1] = runner.toFrame([0, 0, 111, 111])!;
  t.same([x0, y0, x1, y1], [100 + 0.5, 20 + 0, 100 + 223 - 0.5, 20 + 111]);
  const square = await pipeline.loadRunner(pipeline.segmentation!, { input: { width: 640, height: 480, format: 'GRAY8' }, pixelSpacingMm: 0.25, sectorRoi: roi });
  t.teardown(() => square.close());
  t.same(square.spacingMm, [0.5, 0.25]);
  // A spacing that is not a number (it would give NaN volumes and poison the EF window) is refused when the stream
  // opens, and the pipeline opens the next stream as before.
  await t.rejects(pipeline.openStream({ input: { width: 640, height: 480, format: 'GRAY8' }, pixelSpacingMm: [0.25, Number.NaN] }, () => undefined), {
    name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
    message: 'Expected millimetres per pixel in [0.000001, 1000] for geometry.pixelSpacingMm[1] but received NaN of type number',
  });
  const stream = await pipeline.openStream({ input: { width: 640, height: 480, format: 'GRAY8' }, pixelSpacingMm: 0.25 }, () => undefined);
  await stream.close();
});

t.test("full gain: a view package's postprocessing.quality.full_gain reports the larger of the quality on the frame and at full gain; the view and the in-distribution score stay the frame's", async (t) => {
  const { trustStore, geom, vqEdited } = await qualityBarRig(t, 'sonoedge-fullgain-');
  const { frames } = await readSampleCine();
  const withFullGain = (name: string, fullGain: unknown): Promise<string> => vqEdited(name, (m) => { m.postprocessing.quality.full_gain = fullGain; });
  const fg = await withFullGain('fg', { percentile: 99 });
  // The bundled package has it (training/RESULTS.md, forty-seventh wave): the same package without it, signed again.
  const none = await withFullGain('none', undefined);
  // The sample cine as it is and dimmed to 35% (a scanner's gain set low), 8 frames each.
  const dim = frames.slice(0, 8).map((f) => Uint8Array.from(f, (v) => Math.round(v * 0.35)));
  const cine = [...frames.slice(0, 8), ...dim];
  const stage: StageTimer = async (_name, fn) => fn();
  const run = async (viewQuality: string): Promise<PipelineResult[]> => {
    const pipeline = await Pipeline.create({ viewQuality, trustStore });
    const proc = await pipeline.openProcessor(geom);
    const out: PipelineResult[] = [];
    for (let i = 0; i < cine.length; i++) out.push(await proc.process({ seq: i, acquiredAt: i, data: cine[i] }, stage));
    for (const r of proc.runners) await r.close();
    return out;
  };
  const plain = await run(none);
  const full = await run(fg);
  t.same((await run(VQ)).map((r) => r.quality), full.map((r) => r.quality), 'the bundled package: the same as full_gain 99');
  t.same(plain.map((r) => r.quality.displayed), new Array(16).fill(undefined), 'no displayed quality without full_gain');
  t.same(full.map((r) => r.quality.displayed), plain.map((r) => r.quality.score), "displayed: the model's quality on the frame, as without full_gain");
  t.same(full.map((r) => [r.view.probabilities, r.idScoreRaw]), plain.map((r) => [r.view.probabilities, r.idScoreRaw]), 'the view and the in-distribution score unchanged');
  // The reference: the same preprocessing, each pixel's share of white divided by the 99th percentile (a sort) of the
  // shares above 2/255 and clipped to 1, onnxruntime-node's session on it; the larger quality of the two.
  const pkg = await verifyModelPackage(VQ, { trustStore });
  const pre = new Preprocessor({ ...(pkg.manifest.preprocessing.options as Omit<PreprocessOptions, 'input'>), input: geom.input });
  const session = await ort.InferenceSession.create(pkg.variantPath('fp32'), { intraOpNumThreads: 1 });
  t.teardown(() => session.release());
  for (let i = 0; i < cine.length; i++) {
    const x = pre.run(cine[i], pre.createOutput()) as Float32Array;
    const shares = Array.from(x, (v) => (v + 1) / 2);
    const over = shares.filter((s) => s > 2 / 255).sort((a, b) => a - b);
    const pos = (over.length - 1) * 0.99;
    const lo = Math.floor(pos);
    const d = Math.max(2 / 255, over[lo] + (over[Math.min(over.length - 1, lo + 1)] - over[lo]) * (pos - lo));
    const bright = Float32Array.from(shares, (s) => Math.min(1, s / d) * 2 - 1);
    const out = await session.run({ [pkg.manifest.preprocessing.input]: new ort.Tensor('float32', bright, [1, 1, pre.options.outHeight, pre.options.outWidth]) });
    const want = Math.max(plain[i].quality.score, (out.quality.data as Float32Array)[0]);
    // 1e-5: two ONNX Runtime builds on float32 inputs that differ in the last bits (as the first test's quality).
    t.ok(Math.abs(full[i].quality.score - want) <= 1e-5, `frame ${i}: ${full[i].quality.score} against ${want}`);
  }
  // What full gain is for: the dimmed frames read lower as displayed than the same frames undimmed, and nearer them at
  // full gain; the frames as they are (bright) do not move by more than the dimmed ones.
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  const shown = mean(plain.slice(8).map((r) => r.quality.score));
  const lifted = mean(full.slice(8).map((r) => r.quality.score));
  t.ok(shown < mean(plain.slice(0, 8).map((r) => r.quality.score)) && lifted > shown, `dimmed: ${shown} as displayed, ${lifted} at full gain`);
  // On any output but a view package's quality it is refused when the model loads (the schema's shared definition
  // admits it).
  const onView = await vqEdited('on-view', (m) => { m.postprocessing.view.full_gain = { percentile: 99 }; });
  await t.rejects((await Pipeline.create({ viewQuality: onView, trustStore })).openProcessor(geom), {
    name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
    message: "Expected no full_gain (a view_quality package's quality output only) for postprocessing.view.full_gain of package sonoedge-view-quality but received object {\"percentile\":99}",
  });
  // A percentile outside (0, 100] is refused by the schema, before anything loads.
  await t.rejects(Pipeline.create({ viewQuality: await withFullGain('zero', { percentile: 0 }), trustStore }), {
    name: 'ModelPackageError', code: 'E_PACKAGE_SCHEMA',
    message: 'Expected manifest.json at /postprocessing/quality/full_gain/percentile to satisfy the schema (exclusiveMinimum: must be > 0) but received 0',
  });
});

t.test("mirror check: a view package's postprocessing.view.mirror_check withholds the LV of a frame whose mirror image reads as a better four-chamber view; an upright heart is unchanged", async (t) => {
  const { trustStore, geom, vqEdited } = await qualityBarRig(t, 'sonoedge-mirror-');
  const { frames } = await readSampleCine();
  // The bundled package has the check (training/RESULTS.md, forty-eighth wave); `noCheck` is it without, signed again.
  const withCheck = await vqEdited('mirror', (m) => { m.postprocessing.view.mirror_check = { margin: 0 }; });
  const noCheck = (m: { postprocessing: Record<string, Record<string, unknown>> }): void => { delete m.postprocessing.view.mirror_check; };
  // Whole results (masks included) compared as one: a failure names the first frame that differs, not a diff of
  // every mask.
  const sameAs = (a: PipelineResult[], b: PipelineResult[], what: string): void => {
    const first = a.findIndex((r, i) => !isDeepStrictEqual(r, b[i]));
    t.ok(a.length === b.length && first < 0, `${what}${first >= 0 ? ` (frame ${first} differs)` : ''}`);
  };
  const run = async (viewQuality: string, cine: Uint8Array[], options: { qualityThreshold?: number; segmentationViews?: string[] } = {}) => {
    const pipeline = await Pipeline.create({ viewQuality, segmentation: SEG, trustStore, ...options });
    const proc = await pipeline.openProcessor(geom);
    const out: PipelineResult[] = [];
    const stages = new Set<string>();
    const stage: StageTimer = async (name, fn) => { stages.add(name); return fn(); };
    for (let i = 0; i < cine.length; i++) out.push(await proc.process({ seq: i, acquiredAt: i, data: cine[i] }, stage));
    for (const r of proc.runners) await r.close();
    return { out, stages };
  };
  // The sample cine upright (our simulator's A4C): its mirror image is the OTHER the view model was trained on, so
  // nothing is withheld and every result is the package's without the check, the EF included.
  const plain = await run(await vqEdited('plain', noCheck), frames);
  const checked = await run(withCheck, frames);
  t.ok(plain.out.filter((r) => r.lv).length >= 8, 'the upright cine shows an LV');
  sameAs(checked.out, plain.out, 'upright: every result as without the check');
  sameAs((await run(VQ, frames)).out, checked.out, 'the bundled package: the same as mirror_check 0');
  t.ok(checked.stages.has('view_quality.mirror') && checked.stages.has('view_quality.mirror_full_gain'), 'the mirror runs, at full gain too');
  t.notOk(plain.stages.has('view_quality.mirror'), 'not without the check');

  // The same cine shown mirrored, with no flip set, segmented whatever the view, quality and in-distribution score say
  // (bar 0, OTHER included, id_score thresholds 0): the model's input mirrored is the upright frame, so each frame's
  // mirror reads as the upright frame does.
  const mirrored = frames.map((f) => flippedFrame(f, 'horizontal'));
  const open = { qualityThreshold: 0, segmentationViews: ['A4C', 'A2C', 'OTHER'] };
  const anyState = (m: { postprocessing: Record<string, Record<string, unknown>> }): void => { noCheck(m); m.postprocessing.id_score.thresholds = { ok: 0, unknown: 0 }; };
  const without = await run(await vqEdited('any-state', anyState), mirrored, open);
  const withIt = await run(await vqEdited('any-state-mirror', (m) => { anyState(m); m.postprocessing.view.mirror_check = { margin: 0 }; }), mirrored, open);
  const segmented = without.out.filter((r) => r.lv).length;
  t.ok(segmented >= 8, `without the check the mirrored heart gets an LV (${segmented} of 16 frames)`);
  let rejected = 0;
  const pkg = await verifyModelPackage(VQ, { trustStore });
  const a4c = (pkg.manifest.postprocessing.view?.labels as string[]).indexOf('A4C');
  withIt.out.forEach((r, i) => {
    const u = plain.out[i];
    const rej = r.lvRejected;
    const fires = u.view.label === 'A4C' && u.view.probabilities[a4c] > without.out[i].view.probabilities[a4c] && u.quality.score > without.out[i].quality.score;
    if (rej?.code === 'LV_MIRRORED') {
      rejected++;
      t.equal(r.lv, undefined, `frame ${i}: no LV`);
      // The mirror's numbers are the upright frame's own (TOL as the flip test: resampled in another order).
      t.ok(Math.abs(rej.mirrorA4C - u.view.probabilities[a4c]) <= 1e-5 && Math.abs(rej.mirrorQuality - u.quality.score) <= 1e-5, `frame ${i}: the mirror's A4C ${rej.mirrorA4C} and quality ${rej.mirrorQuality} are the upright frame's`);
    }
    t.equal(rej?.code === 'LV_MIRRORED', fires && without.out[i].lvSkipped === undefined, `frame ${i}: withheld exactly when the rule says`);
  });
  t.ok(rejected >= 8, `the mirrored heart's LV withheld on ${rejected} of 16 frames`);
  const last = withIt.out[15].ef;
  t.equal(last?.valid, false, 'no EF');
  t.same(withIt.out.map((r) => [r.view, r.quality, r.state]), without.out.map((r) => [r.view, r.quality, r.state]), 'the view, quality and state as without the check');
  // One mirrored frame inside the upright cine: withheld, and bridged by the EF window.
  const oneMirrored = frames.map((f, i) => (i === 8 ? mirrored[8] : f));
  const mixedWithout = await run(await vqEdited('any-state-2', anyState), oneMirrored, open);
  const mixed = await run(await vqEdited('any-state-mirror-2', (m) => { anyState(m); m.postprocessing.view.mirror_check = { margin: 0 }; }), oneMirrored, open);
  t.same(mixed.out.map((r) => r.lvRejected?.code ?? null), oneMirrored.map((_, i) => (i === 8 ? 'LV_MIRRORED' : null)), 'only the mirrored frame is withheld');
  t.ok(mixedWithout.out[8].lv !== undefined && mixed.out[8].lv === undefined, 'its LV drawn without the check, not with it');
  // The window is kept across it (a reset would start counting again at frame 9): 15 of the 16 frames an EF needs.
  t.same(mixed.out.slice(7, 10).concat(mixed.out[15]).map((r) => r.ef?.reason), ['8 of 16 frames', '8 of 16 frames', '9 of 16 frames', '15 of 16 frames'], 'the EF window bridges it');
  // A scanner that shows hearts mirrored says so with the stream's flip: the models then see the upright heart, and
  // nothing is withheld (every result as the upright cine's with the check, up to the resampling order).
  const flipped = await (async () => {
    const pipeline = await Pipeline.create({ viewQuality: withCheck, segmentation: SEG, trustStore });
    const proc = await pipeline.openProcessor({ ...geom, flip: 'horizontal' });
    const out: PipelineResult[] = [];
    const stage: StageTimer = async (_name, fn) => fn();
    for (let i = 0; i < mirrored.length; i++) out.push(await proc.process({ seq: i, acquiredAt: i, data: mirrored[i] }, stage));
    for (const r of proc.runners) await r.close();
    return out;
  })();
  t.same(flipped.map((r) => [r.lvRejected, r.lv !== undefined, r.view.shown]), checked.out.map((r) => [undefined, r.lv !== undefined, r.view.shown]), 'flip set: no frame withheld, an LV where the upright cine has one');
  t.equal(flipped[15].ef?.valid, checked.out[15].ef?.valid, 'and the EF');
  // The margin is strict: at 1 no quality can pass it, and every LV is drawn as without the check.
  const wide = await run(await vqEdited('any-state-margin-1', (m) => { anyState(m); m.postprocessing.view.mirror_check = { margin: 1 }; }), mirrored, open);
  sameAs(wide.out, without.out, 'margin 1: every result as without the check');

  // Refused on any output but a view package's view, and without an A4C label, when the model loads; a margin
  // outside [0, 1] by the schema.
  const onQuality = await vqEdited('on-quality', (m) => { m.postprocessing.quality.mirror_check = { margin: 0 }; });
  await t.rejects((await Pipeline.create({ viewQuality: onQuality, trustStore })).openProcessor(geom), {
    name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
    message: "Expected no mirror_check (a view_quality package's view output only) for postprocessing.quality.mirror_check of package sonoedge-view-quality but received object {\"margin\":0}",
  });
  const noA4c = await vqEdited('no-a4c', (m) => {
    m.postprocessing.view.labels = (m.postprocessing.view.labels as string[]).map((l) => (l === 'A4C' ? 'FOUR' : l));
    m.postprocessing.view.mirror_check = { margin: 0 };
  });
  await t.rejects((await Pipeline.create({ viewQuality: noA4c, trustStore })).openProcessor(geom), {
    name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
    message: 'Expected view labels that include A4C beside mirror_check for postprocessing.view.labels of package sonoedge-view-quality but received array of length 5',
  });
  await t.rejects(Pipeline.create({ viewQuality: await vqEdited('negative', (m) => { m.postprocessing.view.mirror_check = { margin: -0.1 }; }), trustStore }), {
    name: 'ModelPackageError', code: 'E_PACKAGE_SCHEMA',
    message: 'Expected manifest.json at /postprocessing/view/mirror_check/margin to satisfy the schema (minimum: must be >= 0) but received -0.1',
  });
});
