// The in-distribution state, view temperature and EF calibration through the
// real pipeline: signed packages built at test time around a tiny committed
// view model with an id_score output (test/helpers/packages.ts), the bundled
// LV segmentation model, and the bundled A4C cine, bright (in distribution)
// and dimmed (out of it).
import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Pipeline, type FrameInfo, type PipelineResult, type Processed } from '../../src/pipeline/index.js';
import { loadTrustStore, MODELS_DIR } from '../../src/model/package.js';
import { softmax } from '../../src/pipeline/postprocess.js';
import { ResultFlag } from '../../src/protocol/constants.js';
import { toFrameResult } from '../../src/runtime/index.js';
import { resultLine } from '../../src/cli/replay.js';
import { readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { calibratedSegmentation, viewIdPackage } from '../helpers/packages.js';
import { runFrames } from '../helpers/stream.js';

const VQ = path.join(MODELS_DIR, 'view_quality');
const SEG = path.join(MODELS_DIR, 'lv_segmentation');
const geometry = { input: { width: 256, height: 256, format: 'GRAY8' as const }, pixelSpacingMm: SAMPLE_SPACING_MM };
/** float32 model outputs against double arithmetic. */
const F32_TOL = 1e-6;
const EF_TOL = 1e-9;

type Out = Processed<FrameInfo, PipelineResult>;

const scratch = async (t: Test): Promise<string> => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
};

/** Runs frames through a fresh stream one at a time; returns the results. */
async function run(t: Test, pipeline: Pipeline, frames: Uint8Array[]): Promise<PipelineResult[]> {
  return (await runFrames(t, pipeline, geometry, frames)).map((r) => r.result);
}

const mean = (f: Uint8Array): number => f.reduce((a, b) => a + b, 0) / f.length;
const dim = (f: Uint8Array, k: number): Uint8Array => f.map((v) => Math.round(v * k));
/** What the fixture model scores a frame: clip(10 x mean / 255 - 0.3, 0, 1). */
const idOf = (f: Uint8Array): number => Math.min(1, Math.max(0, (10 * mean(f)) / 255 - 0.3));

t.test('a view package without id_score: every result is ok with a null score', async (t) => {
  const dir = await scratch(t);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const { frames } = await readSampleCine();
  // Dimmed frames too: a package that cannot abstain says ok whatever it sees.
  const input = [...frames.slice(0, 2), ...frames.slice(0, 2).map((f) => dim(f, 0.1))];
  const results = await run(t, await Pipeline.create({ viewQuality: await viewIdPackage(path.join(dir, 'vq'), { idScore: false }), trustStore }), input);
  t.same(results.map((r) => [r.state, r.idScore, r.idScoreRaw, r.frameState]), new Array(4).fill(['ok', null, null, 'ok']));
});

t.test('id_score: per-frame state, smoothed shown state, and no LV or EF while unknown', async (t) => {
  const dir = await scratch(t);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const pipeline = await Pipeline.create({ viewQuality: await viewIdPackage(path.join(dir, 'vq')), segmentation: SEG, trustStore });
  const { frames } = await readSampleCine();
  // 32 frames of the cine (in distribution: score 1), 10 dimmed to 0.3 (score ~0.09: unknown), 24 bright again.
  const input = [...frames, ...frames, ...frames.slice(0, 10).map((f) => dim(f, 0.3)), ...frames, ...frames.slice(0, 8)];
  const results = await run(t, pipeline, input);
  results.forEach((r, i) => t.ok(Math.abs(r.idScoreRaw! - idOf(input[i])) <= F32_TOL, `frame ${i}: raw score ${r.idScoreRaw} vs ${idOf(input[i])}`));
  // Smoothed like the quality: an exponential moving average with alpha 0.3.
  let s = NaN;
  results.forEach((r, i) => {
    s = Number.isNaN(s) ? r.idScoreRaw! : 0.3 * r.idScoreRaw! + 0.7 * s;
    t.ok(Math.abs(r.idScore! - s) <= EF_TOL, `frame ${i}: smoothed ${r.idScore} vs ${s}`);
  });
  t.same(results.slice(0, 32).map((r) => r.state), new Array(32).fill('ok'));
  t.ok(results.slice(0, 32).every((r) => r.lv !== undefined && r.ef !== undefined), 'in distribution: LV and EF on every frame');
  t.equal(results[31].ef!.valid, true, 'an EF after two loops');
  // The dimmed stretch: each frame is unknown on its own at once; the shown state follows the smoothed score
  // (0.3 x 0.09 + 0.7 x 1 = 0.73 ok, 0.54 and 0.40 uncertain, then below 0.4 unknown).
  t.same(results.slice(32, 42).map((r) => r.frameState), new Array(10).fill('unknown'));
  const shown = results.map((r) => r.state);
  t.same(shown.slice(32, 42), ['ok', 'uncertain', 'uncertain', 'unknown', 'unknown', 'unknown', 'unknown', 'unknown', 'unknown', 'unknown']);
  // An unknown frame that is still shown ok or uncertain is segmented (the LV is drawn) but not measured for EF.
  t.same(results.slice(32, 35).map((r) => r.ef!.frames), new Array(3).fill(results[31].ef!.frames), 'the EF window skips them');
  t.ok(results.slice(32, 35).every((r) => r.lv !== undefined));
  for (let i = 35; i < 42; i++) t.same([results[i].lv, results[i].ef], [undefined, undefined], `frame ${i}: unknown, no LV, no EF`);
  // Back in distribution: the shown state recovers only after 5 frames in a row say better; the EF starts over.
  // Smoothed 0.38 (unknown), then 0.57, 0.70, 0.79, 0.85, 0.90: the fifth better frame in a row shows its state, ok.
  t.same(shown.slice(42, 50), ['unknown', 'unknown', 'unknown', 'unknown', 'unknown', 'ok', 'ok', 'ok'],
    `recovery ${results.slice(42, 50).map((r) => r.idScore!.toFixed(2)).join(' ')}`);
  const back = results.findIndex((r, i) => i > 42 && r.state === 'ok');
  t.ok(back > 0, `ok again at frame ${back}`);
  for (let i = 42; i < results.length; i++) {
    if (results[i].state === 'unknown') continue;
    const ef = results[i].ef!;
    t.ok(ef.frames <= i - 41, `frame ${i}: the EF window (${ef.frames} frames) holds no frame of the unknown stretch`);
    if (ef.valid && results[i].state === 'uncertain') t.equal(ef.quality, 'low', `frame ${i}: uncertain frames make the EF low quality`);
  }
});

t.test('a clip that is unknown throughout gets no LV and no EF', async (t) => {
  const dir = await scratch(t);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const pipeline = await Pipeline.create({ viewQuality: await viewIdPackage(path.join(dir, 'vq')), segmentation: SEG, trustStore });
  const { frames } = await readSampleCine();
  const results = await run(t, pipeline, [...frames, ...frames].map((f) => dim(f, 0.3)));
  t.same(results.map((r) => r.state), new Array(32).fill('unknown'));
  t.ok(results.every((r) => r.lv === undefined && r.ef === undefined), 'no LV, no EF');
  t.same(results.map((r) => r.view.shown), new Array(32).fill('A4C'), 'the view is still shown (the state says not to trust it)');
});

t.test('view temperature: probabilities are softmax(logits / T)', async (t) => {
  const dir = await scratch(t);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const { frames } = await readSampleCine();
  const logits = [2, 0, -1, -1, -1];
  for (const temperature of [undefined, 2, 0.5]) {
    const vq = await viewIdPackage(path.join(dir, `vq-${temperature}`), { temperature });
    const [r] = await run(t, await Pipeline.create({ viewQuality: vq, trustStore }), [frames[0]]);
    const want = softmax(logits, new Float64Array(5), 0, 5, temperature ?? 1);
    t.ok(r.view.probabilities.every((p, i) => Math.abs(p - want[i]) <= F32_TOL), `T ${temperature}: ${r.view.probabilities.map((p) => p.toFixed(4))}`);
    t.equal(r.view.confidence, r.view.probabilities[0]);
  }
});

t.test('view threshold: the shown view averaged under thresholds.uncertain makes the state uncertain, nothing else', async (t) => {
  const dir = await scratch(t);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const { frames } = await readSampleCine();
  const input = [...frames, ...frames];
  // The fixture's constant logits [2, 0, -1, -1, -1]: A4C shown on every frame at 0.7784 (averaged, the same).
  const a4c = softmax([2, 0, -1, -1, -1], new Float64Array(5))[0];
  t.ok(Math.abs(a4c - 0.7784) < 1e-4, `A4C ${a4c}`);
  const runWith = async (name: string, viewUncertain?: number) =>
    run(t, await Pipeline.create({ viewQuality: await viewIdPackage(path.join(dir, name), { viewUncertain }), segmentation: SEG, trustStore }), input);
  const [none, under, over] = [await runWith('none'), await runWith('under', 0.8), await runWith('over', 0.7)];
  t.same(none.map((r) => [r.view.uncertain, r.state]), new Array(32).fill([undefined, 'ok']), 'no threshold: no view state');
  t.same(over.map((r) => [r.view.uncertain, r.state]), new Array(32).fill([false, 'ok']), '0.7784 >= 0.7: ok');
  t.same(under.map((r) => [r.view.uncertain, r.state, r.frameState]), new Array(32).fill([true, 'uncertain', 'ok']),
    '0.7784 < 0.8: uncertain on every frame; the frame\'s own (id_score) state stays ok');
  t.same(under.map((r) => r.idScore), none.map((r) => r.idScore), 'the id_score untouched');
  // The same LV and EF, its quality included: the view state is for the display; which apical view a frame is drawn
  // from does not change its LV volume, so the EF's quality keeps its own reasons (the id_score's uncertain among them).
  const lvEf = (r: PipelineResult) => [r.lv?.areaMm2, r.ef?.ef, r.ef?.quality, r.ef?.qualityReason, r.ef?.uncertainFrames, r.ef?.edConfirmed, r.ef?.esConfirmed];
  t.same(under.map(lvEf), none.map(lvEf));
  t.same(over.map(lvEf), none.map(lvEf));
  t.same([under[31].ef!.valid, under[31].ef!.uncertainFrames], [true, 0]);
  t.equal(toFrameResult(under[31]).flags! & ResultFlag.UNCERTAIN, ResultFlag.UNCERTAIN, 'the socket and serial flag');
  const line = (result: PipelineResult) => resultLine({ frame: { seq: result.seq, acquiredAt: 0 }, result, timing: { totalMs: 0, queueMs: 0, stages: {} } } as Out);
  t.same([line(under[0]).viewUncertain, 'viewUncertain' in line(none[0])], [true, false], 'the replay line');
  // A package without id_score: the state follows the view alone, the score stays null.
  const noId = await run(t, await Pipeline.create({ viewQuality: await viewIdPackage(path.join(dir, 'noid'), { idScore: false, viewUncertain: 0.8 }), trustStore }), input.slice(0, 3));
  t.same(noId.map((r) => [r.state, r.idScore, r.frameState, r.view.uncertain]), new Array(3).fill(['uncertain', null, 'ok', true]));
});

t.test('manifest errors: thresholds out of order or missing, a bad temperature', async (t) => {
  const dir = await scratch(t);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const open = async (name: string, o: Parameters<typeof viewIdPackage>[1]) =>
    (await Pipeline.create({ viewQuality: await viewIdPackage(path.join(dir, name), o), trustStore })).openStream(geometry, () => undefined);
  await t.rejects(open('order', { thresholds: { ok: 0.3, unknown: 0.5 } }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
    message: 'Expected {ok, unknown} with 0 <= unknown <= ok <= 1 for postprocessing.id_score.thresholds of package test-view-id but received object {"ok":0.3,"unknown":0.5}',
  });
  await t.rejects(open('absent', { thresholds: null }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
    message: 'Expected {ok, unknown} with 0 <= unknown <= ok <= 1 for postprocessing.id_score.thresholds of package test-view-id but received undefined',
  });
  // The schema: thresholds need both keys in [0, 1]; a temperature is > 0.
  await t.rejects(open('one', { thresholds: { ok: 0.5 } }), { name: 'ModelPackageError', code: 'E_PACKAGE_SCHEMA', where: '/postprocessing/id_score/thresholds/unknown' });
  await t.rejects(open('range', { thresholds: { ok: 1.5, unknown: 0.5 } }), { name: 'ModelPackageError', code: 'E_PACKAGE_SCHEMA', where: '/postprocessing/id_score/thresholds/ok' });
  await t.rejects(open('cold', { temperature: 0 }), { name: 'ModelPackageError', code: 'E_PACKAGE_SCHEMA', where: '/postprocessing/view/temperature' });
  await t.rejects(open('view', { viewUncertain: 1.5 }), { name: 'ModelPackageError', code: 'E_PACKAGE_SCHEMA', where: '/postprocessing/view/thresholds/uncertain' });
});

t.test('EF calibration from the segmentation package: EF = slope x raw + intercept, interval from residual_sd', async (t) => {
  const dir = await scratch(t);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const calibration = { ef: { slope: 1.1, intercept: -3, residual_sd: 4, fitted_on: 'test: made-up numbers', n: 60 } };
  const seg = await calibratedSegmentation(path.join(dir, 'seg'), calibration);
  const uncalibrated = await calibratedSegmentation(path.join(dir, 'seg-plain'), null);
  const { frames } = await readSampleCine();
  const input = [...frames, ...frames, ...frames];
  const plain = await run(t, await Pipeline.create({ viewQuality: VQ, segmentation: uncalibrated, trustStore }), input);
  const cal = await run(t, await Pipeline.create({ viewQuality: VQ, segmentation: seg, trustStore }), input);
  const [p, c] = [plain[47].ef!, cal[47].ef!];
  t.ok(p.valid && c.valid, 'both valid');
  t.equal(c.efRaw, p.efRaw, 'the same raw EF');
  t.ok(Math.abs(c.ef - (1.1 * p.efRaw - 3)) <= EF_TOL, `calibrated ${c.ef} from ${p.efRaw}`);
  t.equal(p.ef, p.efRaw, 'no calibration: EF = raw');
  // The interval (docs/PROTOCOL.md, "EF"): 1.96 sqrt(residual_sd^2 + s^2 / n), s^2 = (5^2 + sum (ef_i - mean)^2) / n.
  const n = Math.max(1, c.beats.length);
  const cals = c.beats.map((b) => b.ef);
  const m = cals.reduce((x, y) => x + y, 0) / n;
  const s2 = (25 + cals.reduce((x, y) => x + (y - m) ** 2, 0)) / n;
  const half = 1.96 * Math.sqrt(16 + s2 / n);
  t.ok(Math.abs(c.ci![0] - Math.max(0, c.ef - half)) <= EF_TOL && Math.abs(c.ci![1] - Math.min(100, c.ef + half)) <= EF_TOL, `CI ${c.ci} (+-${half})`);
  t.ok(c.ci![1] - c.ci![0] > p.ci![1] - p.ci![0], 'wider than without the residual');
});

t.test("EF interval from the segmentation package: with_uncalibrated also covers the raw EF; an unknown mode is refused", async (t) => {
  const dir = await scratch(t);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const ef = { slope: 1.1, intercept: -3, residual_sd: 4, fitted_on: 'test: made-up numbers' };
  const stat = await calibratedSegmentation(path.join(dir, 'seg'), { ef });
  const both = await calibratedSegmentation(path.join(dir, 'seg-raw'), { ef: { ...ef, interval: 'with_uncalibrated' } });
  const { frames } = await readSampleCine();
  const input = [...frames, ...frames, ...frames];
  const s = (await run(t, await Pipeline.create({ viewQuality: VQ, segmentation: stat, trustStore }), input))[47].ef!;
  const b = (await run(t, await Pipeline.create({ viewQuality: VQ, segmentation: both, trustStore }), input))[47].ef!;
  t.ok(s.valid && b.valid, 'both valid');
  t.same({ ...b, ci: null }, { ...s, ci: null }, 'the same EF, beats and quality flag');
  // The statistical half-width around the calibrated EF, and around the raw one (docs/PROTOCOL.md, "EF").
  const half = (s.ci![1] - s.ci![0]) / 2;
  t.ok(half > 0 && s.ci![0] > 0 && s.ci![1] < 100, `statistical CI ${s.ci} unclamped`);
  const lo = Math.min(b.ef, b.efRaw) - half;
  const hi = Math.max(b.ef, b.efRaw) + half;
  t.ok(Math.abs(b.ci![0] - Math.max(0, lo)) <= EF_TOL && Math.abs(b.ci![1] - Math.min(100, hi)) <= EF_TOL, `CI ${b.ci} from ${b.ef} and ${b.efRaw} +-${half}`);
  t.ok(Math.abs(b.ef - b.efRaw) > 1, `the two EFs apart (${b.ef}, ${b.efRaw}), so the interval is wider`);
  const bad = await calibratedSegmentation(path.join(dir, 'seg-bad'), { ef: { ...ef, interval: 'both' } });
  await t.rejects(Pipeline.create({ viewQuality: VQ, segmentation: bad, trustStore }), {
    name: 'ModelPackageError', code: 'E_PACKAGE_SCHEMA', where: '/calibration/ef/interval',
    message: 'Expected manifest.json at /calibration/ef/interval to satisfy the schema (enum: must be equal to one of the allowed values) but received "both"',
  });
});

t.test('EF trim from the segmentation package: the same beats, each from the means beside its ED and ES; a trim past 0.5 is refused', async (t) => {
  const dir = await scratch(t);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const seg = await calibratedSegmentation(path.join(dir, 'seg'), { ef: { slope: 1, intercept: 0, residual_sd: 0, trim: 0.1, fitted_on: 'test' } });
  const uncalibrated = await calibratedSegmentation(path.join(dir, 'seg-plain'), null);
  const { frames } = await readSampleCine();
  const input = [...frames, ...frames, ...frames];
  const p = (await run(t, await Pipeline.create({ viewQuality: VQ, segmentation: uncalibrated, trustStore }), input))[47].ef!;
  const c = (await run(t, await Pipeline.create({ viewQuality: VQ, segmentation: seg, trustStore }), input))[47].ef!;
  t.ok(p.valid && c.valid && p.beats.length > 0, `both valid, ${p.beats.length} beats`);
  t.same(c.beats.map((b) => [b.edSeq, b.esSeq]), p.beats.map((b) => [b.edSeq, b.esSeq]), 'the trim does not move the beats');
  // A mean of the k largest (smallest) is at most the largest (at least the smallest): EF falls or stays.
  t.ok(c.beats.every((b, i) => b.edvMl <= p.beats[i].edvMl && b.esvMl >= p.beats[i].esvMl && b.efRaw <= p.beats[i].efRaw), 'each beat');
  t.ok(c.efRaw < p.efRaw, `EF ${c.efRaw} against ${p.efRaw}`);
  const bad = await calibratedSegmentation(path.join(dir, 'seg-bad'), { ef: { slope: 1, intercept: 0, residual_sd: 0, trim: 0.6 } });
  await t.rejects(Pipeline.create({ viewQuality: VQ, segmentation: bad, trustStore }), {
    name: 'ModelPackageError', code: 'E_PACKAGE_SCHEMA', where: '/calibration/ef/trim',
    message: 'Expected manifest.json at /calibration/ef/trim to satisfy the schema (maximum: must be <= 0.5) but received 0.6',
  });
});

/** Runs frames through a fresh stream one at a time; with each result, this frame's segmentation logits (a copy) when it was segmented. */
async function runWithLogits(t: Test, pipeline: Pipeline, frames: Uint8Array[]): Promise<{ result: PipelineResult; logits?: Float32Array }[]> {
  const out: { result: PipelineResult; logits?: Float32Array }[] = [];
  const stream = await pipeline.openStream(geometry, (r) => out.push({ result: r.result }));
  t.teardown(() => stream.close());
  for (let i = 0; i < frames.length; i++) {
    stream.submit(frames[i], i);
    await stream.idle();
    const seg = stream.processor.runners[1];
    if (out[i].result.lv) out[i].logits = Float32Array.from(seg.outputs[seg.engine.outputs[0].name]);
  }
  return out;
}

/** The band width as docs/MODEL_PACKAGE.md defines it, the direct way: softmax per pixel, then each mask pixel's 8 neighbours. */
function directBand(logits: Float32Array, mask: { width: number; height: number; data: Uint8Array }, lv: number, low: number, high: number): number | null {
  const { width: w, height: h, data } = mask;
  const n = w * h;
  const C = logits.length / n;
  const p = new Float64Array(C);
  const px = new Float64Array(C);
  let band = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) px[c] = logits[c * n + i];
    softmax(px, p);
    if (p[lv] > low && p[lv] < high) band++;
  }
  let border = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!data[y * w + x]) continue;
      let out = false;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const [xx, yy] = [x + dx, y + dy];
        if ((dx || dy) && xx >= 0 && yy >= 0 && xx < w && yy < h && !data[yy * w + xx]) out = true;
      }
      if (out) border++;
    }
  }
  return border === 0 ? null : band / border;
}

t.test('LV border band from calibration.lv_border: measured per frame, its window mean flags the EF above the threshold', async (t) => {
  const dir = await scratch(t);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const border = (threshold: number) => ({ lv_border: { low: 0.2, high: 0.8, threshold, fitted_on: 'test: made-up threshold', n: 0 } });
  const tiny = await calibratedSegmentation(path.join(dir, 'seg-tiny'), border(1e-6));
  const huge = await calibratedSegmentation(path.join(dir, 'seg-huge'), border(1000));
  const plainPkg = await calibratedSegmentation(path.join(dir, 'seg-plain'), null);
  const { frames } = await readSampleCine();
  const input = [...frames, ...frames, ...frames];
  const flagged = await runWithLogits(t, await Pipeline.create({ viewQuality: VQ, segmentation: tiny, trustStore }), input);
  const wide = await run(t, await Pipeline.create({ viewQuality: VQ, segmentation: huge, trustStore }), input);
  const plain = await run(t, await Pipeline.create({ viewQuality: VQ, segmentation: plainPkg, trustStore }), input);

  // Per frame: the pipeline's band equals the direct definition on the same logits and mask (the LV is class 1).
  const segmented = flagged.filter((f) => f.result.lv !== undefined);
  t.equal(segmented.length, input.length, 'every frame segmented');
  for (const { result, logits } of segmented) {
    t.equal(result.lv!.borderBand, directBand(logits!, result.lv!.mask, 1, 0.2, 0.8), `frame ${result.seq}: band ${result.lv!.borderBand}`);
  }
  const bands = segmented.map((f) => f.result.lv!.borderBand!);
  t.ok(bands.every((b) => b > 0), `the model has an uncertain border on every frame: ${bands.map((b) => b.toFixed(2)).join(' ')}`);

  // The EF: the mean over the window's frames, above the tiny threshold: low with the reason; the huge one: not.
  const last = flagged[47].result.ef!;
  t.equal(last.frames, 48, 'all 48 frames in the window');
  const mean = bands.reduce((a, b) => a + b, 0) / bands.length;
  t.ok(Math.abs(last.borderBand! - mean) <= 1e-12, `window mean ${last.borderBand} vs ${mean}`);
  t.equal(last.quality, 'low');
  t.ok(last.qualityReason!.split('; ').includes(`LV border uncertain: band ${mean.toFixed(2)} px wide (at most 0.000001)`), `reason: ${last.qualityReason}`);
  const w = wide[47].ef!;
  const p = plain[47].ef!;
  t.equal(w.borderBand, last.borderBand, 'the same band with another threshold');
  t.same([w.quality, w.qualityReason, w.ef, w.ci], [p.quality, p.qualityReason, p.ef, p.ci], 'huge threshold: the EF as without lv_border');
  t.notOk(/LV border/.test(w.qualityReason ?? ''));
  t.ok(plain.every((r) => !('borderBand' in r.ef!) && !('borderBand' in r.lv!)), 'without lv_border: no band on the EF or the LV');
  // Every frame's EF carries the running mean.
  t.ok(flagged.every((f) => typeof f.result.ef!.borderBand === 'number'));
});

t.test('manifest errors: calibration.lv_border with low >= high, or outside the schema', async (t) => {
  const dir = await scratch(t);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const open = async (name: string, lvBorder: Record<string, unknown>) => {
    const seg = await calibratedSegmentation(path.join(dir, name), { lv_border: lvBorder });
    return (await Pipeline.create({ viewQuality: VQ, segmentation: seg, trustStore })).openStream(geometry, () => undefined);
  };
  for (const [name, b] of [['reversed', { low: 0.8, high: 0.2, threshold: 1 }], ['equal', { low: 0.5, high: 0.5, threshold: 1 }]] as const) {
    await t.rejects(open(name, b), {
      name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
      message: `Expected {low, high, threshold} with low < high for calibration.lv_border of package sonoedge-lv-segmentation but received object ${JSON.stringify(b)}`,
    }, name);
  }
  await t.rejects(open('zero', { low: 0.2, high: 0.8, threshold: 0 }), { name: 'ModelPackageError', code: 'E_PACKAGE_SCHEMA', where: '/calibration/lv_border/threshold' });
  await t.rejects(open('one', { low: 0.2, high: 1, threshold: 1 }), { name: 'ModelPackageError', code: 'E_PACKAGE_SCHEMA', where: '/calibration/lv_border/high' });
  await t.rejects(open('partial', { low: 0.2, high: 0.8 }), { name: 'ModelPackageError', code: 'E_PACKAGE_SCHEMA', where: '/calibration/lv_border/threshold' });
  const ok = await open('ok', { low: 0.2, high: 0.8, threshold: 1.5, fitted_on: 'test', quantile: 0.9 });
  t.teardown(() => ok.close());
  t.ok(ok, 'a package with lv_border loads');
});

/**
 * The bundled cine, `k` saturated frames (mean 1) and the cine again through a view package whose model breaks on
 * bright frames (`broken`: view_nanq.onnx or view_nanv.onnx) and the bundled LV package; n is the cine's length.
 */
async function brokenOnSaturated(t: Test, broken: { nanQuality?: boolean; nanView?: boolean }, k: number): Promise<{ results: PipelineResult[]; n: number }> {
  const dir = await scratch(t);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const pipeline = await Pipeline.create({ viewQuality: await viewIdPackage(path.join(dir, 'vq'), broken), segmentation: SEG, trustStore });
  const { frames } = await readSampleCine();
  const saturated = new Uint8Array(frames[0].length).fill(255);
  return { results: await run(t, pipeline, [...frames, ...new Array<Uint8Array>(k).fill(saturated), ...frames]), n: frames.length };
}

t.test('a quality output that is not a number: poor at once, no LV, the score null on the socket; the smoothing restarts after', async (t) => {
  // The cine (quality sigmoid(3)), 4 saturated frames (mean 1: quality NaN, id_score 1, view A4C), the cine again.
  const { results, n } = await brokenOnSaturated(t, { nanQuality: true }, 4);
  const Q = 1 / (1 + Math.exp(-3));
  const before = results[n - 1];
  t.ok(Math.abs(before.quality.smoothed - Q) <= F32_TOL && before.quality.good && before.lv !== undefined, 'the cine: good, segmented');
  for (let i = n; i < n + 4; i++) {
    const r = results[i];
    t.same([r.state, r.view.shown, Number.isNaN(r.quality.score), Number.isNaN(r.quality.smoothed), r.quality.good, r.lv],
      ['ok', 'A4C', true, true, false, undefined], `frame ${i}: poor, not segmented`);
    // The EF window bridges 3 such frames (a skip, not a reset); the fourth empties it.
    if (i < n + 3) t.same([r.ef!.frames, r.ef!.valid], [before.ef!.frames, before.ef!.valid], `frame ${i}: the EF window holds`);
    const sent = toFrameResult(r);
    t.same([sent.quality, sent.lvAreaMm2, sent.flags! & ResultFlag.LOW_QUALITY, sent.flags! & ResultFlag.HAS_LV_AREA], [null, null, ResultFlag.LOW_QUALITY, 0],
      `frame ${i}: no score on the socket, LOW_QUALITY`);
  }
  const reset = results[n + 3].ef!;
  t.same([reset.frames, reset.valid, reset.reason],
    [0, false, `4 frames in a row without a usable LV measurement (at most 3 are bridged); the last at frame ${n + 3}: quality not a number`]);
  // The NaN does not stick in the average: the next finite score starts it over, and the gate opens at once.
  const after = results[n + 4];
  t.ok(Math.abs(after.quality.smoothed - Q) <= F32_TOL && after.quality.good && after.lv !== undefined, `the cine again: ${after.quality.smoothed}, good, segmented`);
  t.equal(after.ef!.frames, 1, 'a new window');
});

t.test('a view output that is not a number: no LV on that frame, no confidence on the socket, the shown view held', async (t) => {
  // The cine (view A4C), 2 saturated frames (view logits NaN; quality sigmoid(3), id_score 1), the cine again.
  const { results, n } = await brokenOnSaturated(t, { nanView: true }, 2);
  t.ok(results[n - 1].lv !== undefined && results[n - 1].view.shown === 'A4C', 'the cine: A4C, segmented');
  for (const i of [n, n + 1]) {
    const r = results[i];
    t.same([r.view.shown, Number.isNaN(r.view.shownConfidence), r.quality.good, r.lv], ['A4C', true, true, undefined], `frame ${i}: held A4C, not segmented`);
    t.same([r.ef!.frames, r.ef!.valid], [results[n - 1].ef!.frames, results[n - 1].ef!.valid], `frame ${i}: the EF window bridges it`);
    const sent = toFrameResult(r);
    t.same([sent.view, sent.confidence, sent.lvAreaMm2], ['A4C', null, null], `frame ${i}: no confidence on the socket`);
  }
  const after = results[n + 2];
  t.ok(after.lv !== undefined && Math.abs(after.view.shownConfidence - softmax([2, 0, -1, -1, -1], new Float64Array(5))[0]) <= F32_TOL,
    `the cine again: segmented, confidence ${after.view.shownConfidence}`);
  t.equal(after.ef!.frames, results[n - 1].ef!.frames + 1, 'the same EF window goes on');
});
