// `sonoedge replay` as a user runs it: a real process from dist/, the bundled
// models, recorded studies in every input form, and the bad-input lines.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { calibratedSegmentation, viewIdPackage } from '../helpers/packages.js';
import { flippedFrame, transposeFrame } from '../helpers/sample.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: root });
const SAMPLE = path.join('models', 'samples', 'a4c_cine_16f.dcm');
const FIX = path.join('test', 'fixtures', 'dicom');

type Line = Record<string, unknown> & { seq: number; latency: { totalMs: number; queueMs: number; stages: Record<string, number> } };
const lines = (text: string): Line[] => text.trim().split('\n').map((l) => JSON.parse(l) as Line);
/** Everything but the latency, which is the only field allowed to vary run to run. */
const stable = (ls: Line[]) => ls.map(({ latency: _latency, ...rest }) => JSON.stringify(rest));

const tmp = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-replay-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

const first = run('replay', SAMPLE);

t.test('the bundled DICOM: one JSON line per frame, A4C, LV area, EF, latency; a summary on stderr', async (t) => {
  t.equal(first.status, 0, first.stderr);
  const ls = lines(first.stdout);
  t.same(ls.map((l) => l.seq), Array.from({ length: 16 }, (_, i) => i));
  for (const l of ls) {
    t.same(Object.keys(l).filter((k) => !['ef', 'edSeq', 'esSeq'].includes(k)),
      ['seq', 'view', 'confidence', 'viewShown', 'quality', 'qualityGood', 'state', 'idScore', 'frameState', 'idScoreRaw', 'viewUncertain', 'qualityDisplayed', 'lvAreaMm2', 'lvBeamAngleDeg', 'latency']);
    t.equal(l.viewShown, 'A4C');
    // The sample's LV runs down the beam (pipeline.beam.test.ts turns it across).
    t.ok((l.lvBeamAngleDeg as number) >= 0 && (l.lvBeamAngleDeg as number) < 10, `LV ${l.lvBeamAngleDeg} degrees off the beam`);
    // The bundled view model scores its own simulator's cine in distribution, and is sure of its view: ok on every frame.
    t.same([l.state, l.frameState, l.viewUncertain], ['ok', 'ok', false]);
    t.ok((l.idScore as number) >= 0.9 && (l.idScore as number) <= 1 && (l.idScoreRaw as number) >= 0.9 && (l.idScoreRaw as number) <= 1, `score ${l.idScore} (${l.idScoreRaw})`);
    t.ok((l.lvAreaMm2 as number) > 500 && (l.lvAreaMm2 as number) < 5000, `LV ${l.lvAreaMm2} mm2`);
    t.same(Object.keys(l.latency.stages), ['view_quality.preprocess', 'view_quality.full_gain', 'view_quality.engine', 'view_quality.postprocess',
      'view_quality.mirror_full_gain', 'view_quality.mirror', 'lv_segmentation.preprocess', 'lv_segmentation.engine', 'lv_segmentation.postprocess']);
  }
  // The label's ES is frame 3 and its ED frame 11. Each is confirmed once, a few frames later, on its own line. The
  // bundled LV model (sixteenth wave) finds both; the cine's first frames fall far enough into the ES to stand out,
  // and it is confirmed at frame 5, where the curve is back up by more than the prominence.
  t.same(ls.filter((l) => 'esSeq' in l).map((l) => [l.esSeq, l.seq]), [[3, 5]], 'ES of frame 3, confirmed at frame 5');
  t.same(ls.filter((l) => 'edSeq' in l).map((l) => [l.edSeq, l.seq]), [[11, 14]], 'ED of frame 11, confirmed at frame 14');
  const ef = ls[15].ef as { percent: number; ci: [number, number]; quality: string; qualityReason: string; borderBand: number; beats: number; method: string; edFrame: number; esFrame: number };
  t.same(Object.keys(ef), ['percent', 'ci', 'quality', 'qualityReason', 'borderBand', 'beats', 'method', 'edFrame', 'esFrame']);
  // The bundled LV package's calibration.lv_border threshold: this cine's border band is narrower, so the reason is
  // the beat count and the interval alone.
  const seg = JSON.parse(await readFile(path.join(root, 'models', 'lv_segmentation', 'manifest.json'), 'utf8')) as { calibration: { lv_border: { threshold: number } } };
  const threshold = seg.calibration.lv_border.threshold;
  t.ok(ef.borderBand > 0.2 && ef.borderBand < threshold, `border band ${ef.borderBand} (threshold ${threshold})`);
  t.match(ef.qualityReason, /^0 beats \(2 needed\); interval \+-\d+\.\d points \(at most 10\)$/);
  // Sanity tolerance as in the pipeline test: 10 EF points of the label (69.1636).
  t.ok(Math.abs(ef.percent - 69.1636) <= 10, `EF ${ef.percent}`);
  // No full beat (an ED and the ES after it) in 16 frames: the window's extremes, low quality, the prior beat spread.
  t.same([ef.method, ef.beats, ef.quality, ef.edFrame, ef.esFrame], ['window', 0, 'low', 11, 3]);
  t.ok(ef.ci[0] < ef.percent && ef.percent < ef.ci[1], `CI ${ef.ci}`);
  t.match(first.stderr, /sonoedge replay: 16\/16 frames processed \(0 dropped, 0 failed\), state ok 16, uncertain 0, unknown 0 \(in-distribution score mean [01]\.\d\d, min [01]\.\d\d\), EF \d+\.\d% \(95% CI \d+\.\d-\d+\.\d, 0 beats, low quality\) \(label 69\.2%\), latency p50 \d+\.\d ms, p99 \d+\.\d ms\n$/);
});

t.test('deterministic on CPU: a second run gives identical lines apart from latency', async (t) => {
  const out = path.join(tmp, 'second.jsonl');
  const r = run('replay', SAMPLE, '--out', out);
  t.equal(r.status, 0, r.stderr);
  t.same(stable(lines(await readFile(out, 'utf8'))), stable(lines(first.stdout)));
});

t.test('RLE and raw inputs of the same frames give the same results', async (t) => {
  const rle = run('replay', path.join(FIX, 'a4c_rle.dcm'));
  t.equal(rle.status, 0, rle.stderr);
  t.same(stable(lines(rle.stdout)), stable(lines(first.stdout)).slice(0, 4));

  // The sample's pixels as a raw file (its pixel data is the file's tail), with the spacing stated.
  const dcm = await readFile(path.join(root, SAMPLE));
  const raw = path.join(tmp, 'cine.raw');
  await writeFile(raw, dcm.subarray(dcm.length - 16 * 65536));
  const r = run('replay', raw, '--geometry', '256x256:GRAY8', '--pixel-spacing', String(0.07243791557261749 * 10));
  t.equal(r.status, 0, r.stderr);
  t.same(stable(lines(r.stdout)), stable(lines(first.stdout)));
  t.match(r.stderr, /16\/16 frames processed \(0 dropped, 0 failed\), state ok 16, uncertain 0, unknown 0 \(.*\), EF \d+\.\d% \(.*\), latency/);

  // The same frames shown mirrored (a scanner set to the other display convention), with --flip horizontal.
  const frames = dcm.subarray(dcm.length - 16 * 65536);
  const mirrored = Buffer.concat(Array.from({ length: 16 }, (_, i) => flippedFrame(frames.subarray(i * 65536, (i + 1) * 65536), 'horizontal')));
  const mraw = path.join(tmp, 'mirrored.raw');
  await writeFile(mraw, mirrored);
  const m = run('replay', mraw, '--geometry', '256x256:GRAY8', '--pixel-spacing', String(0.07243791557261749 * 10), '--flip', 'horizontal', '--report', path.join(tmp, 'mirrored-report'));
  t.equal(m.status, 0, m.stderr);
  // The report draws the outline on the mirrored frames: the LV on the left half, where the upright cine has it on the right.
  const html = await readFile(path.join(tmp, 'mirrored-report', 'index.html'), 'utf8');
  t.match(html, /frames flipped horizontal for the models/, 'the report says so');
  const meanX = (h: string) => {
    const xs = [...h.matchAll(/<polygon class="lv-contour" points="([^"]+)"/g)].flatMap((p) => p[1].trim().split(' ').map((xy) => Number(xy.split(',')[0])));
    return xs.reduce((a, v) => a + v, 0) / xs.length;
  };
  const up = run('replay', raw, '--geometry', '256x256:GRAY8', '--pixel-spacing', String(0.07243791557261749 * 10), '--report', path.join(tmp, 'upright-report'));
  t.equal(up.status, 0, up.stderr);
  const [mx, ux] = [meanX(html), meanX(await readFile(path.join(tmp, 'upright-report', 'index.html'), 'utf8'))];
  t.ok(ux > 128 && mx < 128 && Math.abs(mx - (255 - ux)) < 2, `outline centre x ${mx.toFixed(1)} mirrored, ${ux.toFixed(1)} upright`);
  t.match(m.stderr, /sonoedge replay: frames flipped horizontal for the models \(--flip\); LV outlines as the input shows them\n/);
  const [a, b] = [lines(r.stdout), lines(m.stdout)] as Array<Array<Record<string, any>>>;
  t.equal(b.length, 16);
  b.forEach((x, i) => {
    const y = a[i];
    t.same([x.viewShown, x.qualityGood, x.state, x.ef?.percent], [y.viewShown, y.qualityGood, y.state, y.ef?.percent], `frame ${i}: view, gate, state and EF`);
    t.ok(Math.abs(x.confidence - y.confidence) <= 1e-5 && Math.abs(x.quality - y.quality) <= 1e-5, `frame ${i}: confidence and quality within 1e-5`);
  });
  const unflipped = run('replay', mraw, '--geometry', '256x256:GRAY8', '--pixel-spacing', '0.7244');
  t.match(unflipped.stderr, /EF n\/a/, 'without --flip the mirrored cine gets no EF');

  await writeFile(raw, dcm.subarray(dcm.length - 16 * 65536 - 100));
  const partial = run('replay', raw, '--geometry', '256x256:GRAY8');
  t.equal(partial.status, 1);
  t.equal(partial.stderr, `sonoedge replay: [ERR_SONOEDGE_RAW] Expected ${raw} to hold whole 256x256 GRAY8 frames of 65536 bytes but received 1048676 bytes (16 frames and 100 bytes over)\n`);
});

t.test('a folder of PNG files without spacing warns and assumes 1 mm per pixel', async (t) => {
  const dir = path.join(tmp, 'png');
  const dcm = await readFile(path.join(root, SAMPLE));
  await import('node:fs/promises').then((fs) => fs.mkdir(dir));
  for (let i = 0; i < 2; i++) {
    const png = new PNG({ width: 256, height: 256, colorType: 0, inputColorType: 0, inputHasAlpha: false });
    png.data = dcm.subarray(dcm.length - 16 * 65536 + i * 65536, dcm.length - 16 * 65536 + (i + 1) * 65536);
    await writeFile(path.join(dir, `f${i}.png`), PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false }));
  }
  const r = run('replay', dir);
  t.equal(r.status, 0, r.stderr);
  t.equal(lines(r.stdout).length, 2);
  t.match(r.stderr, new RegExp(`^sonoedge replay: ${dir} gives no pixel spacing; LV areas assume 1 mm per pixel \\(set --pixel-spacing\\)\n`));
  // Same frames, same classification; areas scale with the assumed spacing.
  t.same(lines(r.stdout).map((l) => l.view), lines(first.stdout).slice(0, 2).map((l) => l.view));
});

t.test('--realtime paces at the frame rate: every frame is processed or counted as dropped', async (t) => {
  const r = run('replay', SAMPLE, '--realtime', '--fps', '100');
  t.equal(r.status, 0, r.stderr);
  const m = /(\d+)\/16 frames processed \((\d+) dropped, 0 failed\)/.exec(r.stderr);
  t.ok(m, r.stderr);
  t.equal(Number(m![1]) + Number(m![2]), 16);
  t.equal(lines(r.stdout).length, Number(m![1]));
});

t.test('--report writes frames with the LV contour and the two charts', async (t) => {
  const dir = path.join(tmp, 'report');
  const r = run('replay', SAMPLE, '--out', path.join(tmp, 'r.jsonl'), '--report', dir);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, `sonoedge replay: report ${path.join(dir, 'index.html')}\n`);
  const html = await readFile(path.join(dir, 'index.html'), 'utf8');
  t.equal(html.match(/<figure class="frame" data-seq="\d+">/g)?.length, 16);
  t.equal(html.match(/<polygon class="lv-contour" points="/g)?.length, 16);
  t.match(html, /<section class="chart" id="lv-area">/);
  t.match(html, /<section class="chart" id="latency">/);
  t.match(html, /<section class="chart" id="ef">/, 'EF with its interval over frames');
  t.match(html, /<path class="series" data-name="95% CI low"/);
  t.match(html, /<section class="chart" id="id-score">/, 'the in-distribution score over frames (the bundled view model has one)');
  t.match(html, /<figcaption>#15 A4C ok \(id [01]\.\d\d\) q \d\.\d\d, LV \d+ mm2, EF \d+\.\d% \(95% CI \d+\.\d-\d+\.\d\)<\/figcaption>/);
  t.match(html, /<tr><th>in-distribution state<\/th><td>ok 16, uncertain 0, unknown 0/);
  t.match(html, /<path class="series" data-name="LV area"/);
  t.match(html, /<img src="frames\/000015\.png"/);
  // The contour lies on the frame (source pixels), not in the 112x112 model input.
  const pts = /<polygon class="lv-contour" points="([^"]+)"/.exec(html)![1].trim().split(/[ ,]/).map(Number);
  t.ok(pts.every((v) => v >= 0 && v <= 256) && Math.max(...pts) > 112, 'contour in 256x256 frame coordinates');
});

t.test('--models with an in-distribution score and an EF calibration: state and score per line, unknown frames without LV or EF', async (t) => {
  const models = path.join(tmp, 'models-id');
  await viewIdPackage(path.join(models, 'view_quality'));
  await calibratedSegmentation(path.join(models, 'lv_segmentation'), { ef: { slope: 1, intercept: 2.5, residual_sd: 3, fitted_on: 'test' } });
  const report = path.join(tmp, 'report-id');
  const bright = run('replay', SAMPLE, '--models', models, '--report', report);
  t.equal(bright.status, 0, bright.stderr);
  const ls = lines(bright.stdout);
  t.same(ls.map((l) => [l.state, l.frameState]), new Array(16).fill(['ok', 'ok']));
  t.ok(ls.every((l) => (l.idScore as number) > 0.95 && (l.idScoreRaw as number) > 0.95 && typeof l.lvAreaMm2 === 'number'), 'in distribution: scores near 1, LV');
  // The raw EF plus the calibration's intercept (the same segmentation model and frames, without the bundled
  // package's own calibration).
  const uncal = path.join(tmp, 'models-uncal');
  await viewIdPackage(path.join(uncal, 'view_quality'));
  await calibratedSegmentation(path.join(uncal, 'lv_segmentation'), null);
  const uncalRun = run('replay', SAMPLE, '--models', uncal);
  t.equal(uncalRun.status, 0, uncalRun.stderr);
  const plain = (lines(uncalRun.stdout)[15].ef as { percent: number }).percent;
  t.ok(Math.abs((ls[15].ef as { percent: number }).percent - (plain + 2.5)) <= 1e-9, `calibrated ${(ls[15].ef as { percent: number }).percent} vs ${plain} + 2.5`);
  t.match(bright.stderr, /state ok 16, uncertain 0, unknown 0 \(in-distribution score mean [01]\.\d\d, min [01]\.\d\d\)/);
  const html = await readFile(path.join(report, 'index.html'), 'utf8');
  t.match(html, /<section class="chart" id="id-score">/, 'the score over frames');
  t.match(html, /<path class="series" data-name="score"/);
  t.match(html, /<figcaption>#0 A4C ok \(id [01]\.\d\d\) q /, 'each frame says its state and score');

  // The same frames dimmed to 0.3 (as a raw file): unknown from the first frame on, no LV, no EF.
  const dcm = await readFile(path.join(root, SAMPLE));
  const raw = path.join(tmp, 'dim.raw');
  await writeFile(raw, dcm.subarray(dcm.length - 16 * 65536).map((v) => Math.round(v * 0.3)));
  const dim = run('replay', raw, '--geometry', '256x256:GRAY8', '--pixel-spacing', '0.7244', '--models', models);
  t.equal(dim.status, 0, dim.stderr);
  const dl = lines(dim.stdout);
  t.same(dl.map((l) => [l.state, 'lvAreaMm2' in l, 'ef' in l]), new Array(16).fill(['unknown', false, false]));
  t.match(dim.stderr, /state ok 0, uncertain 0, unknown 16 \(in-distribution score mean [01]\.\d\d, min [01]\.\d\d\), EF n\/a \(an LV on 0 of 16 frames: 16 in state unknown\), /);
});

t.test('a models folder without an LV package: views and quality, no LV, and the summary says why there is no EF', async (t) => {
  const models = path.join(tmp, 'vq-only');
  await mkdir(models);
  for (const d of ['view_quality', 'trust']) await cp(path.join(root, 'models', d), path.join(models, d), { recursive: true });
  const r = run('replay', SAMPLE, '--models', models);
  t.equal(r.status, 0, r.stderr);
  const ls = lines(r.stdout);
  t.same(ls.map((l) => [l.viewShown, 'lvAreaMm2' in l, 'ef' in l]), new Array(16).fill(['A4C', false, false]));
  t.match(r.stderr, /state ok 16, uncertain 0, unknown 0 \([^)]*\), EF n\/a \(no LV segmentation package\), latency /);
});

t.test('an LV across the beam: no LV in the line, lvRejected instead, and the summary counts the frames', async (t) => {
  // A view package that always says A4C at good quality, so the bundled LV model runs on the sample turned a quarter
  // (transposed: the apex on the left), where it draws its LV across the beam (test/integration/pipeline.beam.test.ts).
  const models = path.join(tmp, 'models-beam');
  await viewIdPackage(path.join(models, 'view_quality'));
  await calibratedSegmentation(path.join(models, 'lv_segmentation'), null);
  const dcm = await readFile(path.join(root, SAMPLE));
  const frames = dcm.subarray(dcm.length - 16 * 65536);
  const raw = path.join(tmp, 'turned.raw');
  await writeFile(raw, Buffer.concat(Array.from({ length: 16 }, (_, i) => transposeFrame(frames.subarray(i * 65536, (i + 1) * 65536)))));
  const r = run('replay', raw, '--geometry', '256x256:GRAY8', '--pixel-spacing', '0.7244', '--models', models);
  t.equal(r.status, 0, r.stderr);
  const ls = lines(r.stdout);
  t.same(ls.map((l) => ['lvAreaMm2' in l, (l.lvRejected as { code?: string } | undefined)?.code, 'ef' in l]), new Array(16).fill([false, 'LV_ACROSS_BEAM', false]));
  t.ok(ls.every((l) => (l.lvRejected as { beamAngleDeg: number }).beamAngleDeg > 60), 'each with its angle, over 60 degrees');
  t.match(r.stderr, /state ok 16, uncertain 0, unknown 0 \([^)]*\), LV across the beam on 16 frames \(not shown\), EF n\/a \(an LV on 0 of 16 frames: 16 with the LV across the beam\), /);
  // Upright, nothing is withheld and the summary says nothing of it.
  const upright = run('replay', SAMPLE, '--models', models);
  t.equal(upright.status, 0, upright.stderr);
  t.notMatch(upright.stderr, /across the beam/);
});

t.test('bad input: one clear line and a non-zero exit', async (t) => {
  const missing = run('replay', 'no-such-study.dcm');
  t.equal(missing.status, 1);
  t.equal(missing.stdout, '');
  t.equal(missing.stderr, 'sonoedge replay: [ERR_SONOEDGE_INPUT_NOT_FOUND] Expected a DICOM file, a folder of PNG files or a raw file but received "no-such-study.dcm", which does not exist\n');

  const j2k = run('replay', path.join(FIX, 'j2k.dcm'));
  t.equal(j2k.status, 1);
  // j2k.dcm's fragments are not a JPEG 2000 codestream: OpenJPEG finds no image in them.
  t.equal(j2k.stderr, `sonoedge replay: [ERR_SONOEDGE_DICOM_DECODE] Expected frame 0 of ${path.join(FIX, 'j2k.dcm')} to decode to an image but the JPEG 2000 Image Compression (Lossless Only) decoder returned none: the codestream is corrupt\n`);

  const flag = run('replay', SAMPLE, '--relatime');
  t.equal(flag.status, 2);
  t.equal(flag.stderr, 'sonoedge replay: unknown option --relatime; did you mean --realtime? (see sonoedge replay --help)\n');

  const geometry = run('replay', SAMPLE, '--geometry', '256x256');
  t.equal(geometry.status, 2);
  t.equal(geometry.stderr, 'sonoedge replay: option --geometry expects a geometry WIDTHxHEIGHT:FORMAT (1..16384 pixels, FORMAT GRAY8 or RGB8, e.g. 1024x768:GRAY8) but received "256x256"\n');

  const variant = run('replay', SAMPLE, '--variant', 'int4');
  t.equal(variant.status, 2);
  t.equal(variant.stderr, 'sonoedge replay: option --variant: unknown value "int4"; did you mean "int8"? (known: fp32, int8)\n');

  const flip = run('replay', SAMPLE, '--flip', 'mirror');
  t.equal(flip.status, 2);
  t.equal(flip.stderr, 'sonoedge replay: option --flip: unknown value "mirror" (known: none, horizontal, vertical, both)\n');

  const none = run('replay');
  t.equal(none.status, 2);
  t.equal(none.stderr, 'sonoedge replay: missing argument: usage: sonoedge replay [options] INPUT\n');

  const debug = run('replay', 'no-such-study.dcm', '--debug');
  t.match(debug.stderr, /\n {4}at /, '--debug adds the stack');
});

t.test('output paths: one that cannot be written is a usage error before any work; a failed run leaves no --out file', async (t) => {
  const nowhere = path.join(tmp, 'no-such-folder', 'r.jsonl');
  const missing = run('replay', SAMPLE, '--out', nowhere);
  t.equal(missing.status, 2);
  t.equal(missing.stdout, '');
  t.equal(missing.stderr, `sonoedge replay: option --out expects a file sonoedge can write but received ${JSON.stringify(nowhere)} (ENOENT)\n`);

  const folder = run('replay', SAMPLE, '--out', tmp);
  t.equal(folder.status, 2);
  t.equal(folder.stderr, `sonoedge replay: option --out expects a file sonoedge can write but received ${JSON.stringify(tmp)} (EISDIR)\n`);

  const file = path.join(tmp, 'a-file');
  await writeFile(file, 'x');
  for (const dir of [file, path.join(file, 'report')]) {
    const r = run('replay', SAMPLE, '--report', dir);
    t.equal(r.status, 2, dir);
    t.equal(r.stderr, `sonoedge replay: option --report expects a folder sonoedge can write but received ${JSON.stringify(dir)} (ENOTDIR)\n`);
  }

  // The view package has fp32 only: --variant int8 fails once the pipeline opens its sessions, after --out was opened.
  const models = path.join(tmp, 'models-fp32-only');
  await mkdir(models);
  await viewIdPackage(path.join(models, 'view_quality'));
  const dir = await mkdtemp(path.join(tmp, 'out-'));
  const earlier = path.join(dir, 'earlier.jsonl');
  await writeFile(earlier, 'an earlier run\n');
  for (const out of [path.join(dir, 'new.jsonl'), earlier]) {
    const failed = run('replay', SAMPLE, '--models', models, '--variant', 'int8', '--out', out);
    t.equal(failed.status, 1, out);
    t.equal(failed.stderr.split('\n').at(-2), 'sonoedge replay: [ERR_SONOEDGE_ENGINE_OPTION] Expected one of fp32 for variant but received "int8" of type string');
  }
  t.same(await readdir(dir), ['earlier.jsonl'], 'no new file, no partial file');
  t.equal(await readFile(earlier, 'utf8'), 'an earlier run\n', 'the earlier file is kept');

  const ok = run('replay', SAMPLE, '--models', models, '--out', earlier);
  t.equal(ok.status, 0, ok.stderr);
  t.equal(lines(await readFile(earlier, 'utf8')).length, 16);
  t.same(await readdir(dir), ['earlier.jsonl']);
});

t.test('a --report that fails midway (its frames written, the page cannot go into place) leaves the earlier report as it was', async (t) => {
  const dir = path.join(await mkdtemp(path.join(tmp, 'report-fails-')), 'report');
  const earlier = run('replay', SAMPLE, '--report', dir);
  t.equal(earlier.status, 0, earlier.stderr);
  // An earlier report this run's cannot be mistaken for (a frame this cine does not have), whose index.html is a
  // folder: the page is the last thing to go into place, so the failure comes after every frame is written.
  // Before, the earlier frames were deleted first and the new ones written in their place.
  await writeFile(path.join(dir, 'frames', '999999.png'), 'earlier');
  await rm(path.join(dir, 'index.html'));
  await mkdir(path.join(dir, 'index.html', 'inside'), { recursive: true });
  const snapshot = async () => {
    const frames = (await readdir(path.join(dir, 'frames'))).sort();
    return { top: (await readdir(dir)).sort(), frames: await Promise.all(frames.map(async (n) => [n, (await readFile(path.join(dir, 'frames', n))).toString('base64')])) };
  };
  const before = await snapshot();
  t.same(before.top, ['frames', 'index.html']);
  t.equal(before.frames.length, 17);
  const r = run('replay', SAMPLE, '--report', dir);
  t.equal(r.status, 1, r.stderr);
  const partial = path.join(dir, `.report.${r.pid}.partial`);
  t.equal(r.stderr.trim().split('\n').pop(), `sonoedge replay: [EISDIR] Expected to write the report in ${dir} but received EISDIR: illegal operation on a directory, `
    + `rename '${path.join(partial, 'index.html')}' -> '${path.join(dir, 'index.html')}'; an earlier report there is unchanged`);
  t.same(await snapshot(), before, 'the earlier frames byte for byte, nothing new, no temporary folder');
  // Once the page can go into place, the new report replaces the earlier one whole: no earlier frame lingers.
  await rm(path.join(dir, 'index.html'), { recursive: true });
  const again = run('replay', SAMPLE, '--report', dir);
  t.equal(again.status, 0, again.stderr);
  const after = await snapshot();
  t.same(after.top, ['frames', 'index.html']);
  t.same(after.frames.map(([n]) => n), Array.from({ length: 16 }, (_, i) => `${String(i).padStart(6, '0')}.png`));
});

t.test('an interrupted run (SIGINT) leaves no --out file, temporary or not', async (t) => {
  const dir = await mkdtemp(path.join(tmp, 'interrupted-'));
  // Two frames a second: 8 s for the cine, interrupted once the pipeline has written a line or two.
  const child = spawn(process.execPath, [cli, 'replay', SAMPLE, '--realtime', '--fps', '2', '--out', path.join(dir, 'r.jsonl')], { cwd: root });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  while (!/warnings {9}/.test(stderr) && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 1500));
  t.equal((await readdir(dir)).length, 1, 'a temporary file while it runs');
  child.kill('SIGINT');
  t.equal(await exited, 'SIGINT', 'it ends as SIGINT ends a process');
  t.same(await readdir(dir), [], 'the temporary file is gone');
});
