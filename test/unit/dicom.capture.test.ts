// Auto-capture (src/dicom/capture.ts): which frames make a clip (state ok,
// above the quality gate, one view, unbroken), which clip of a view is kept
// (a valid EF first, then the higher mean quality), seconds and beats, coded
// option errors; and `sonoedge replay --capture` on the bundled cine through
// the real pipeline: the objects pass dciodvfy and the EF highdicom reads from
// the SR equals the runtime's.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AutoCapture, ClipSelector, captureOptions, type CaptureTarget } from '../../src/dicom/capture.js';
import type { PipelineResult } from '../../src/pipeline/index.js';
import { MODELS_DIR } from '../../src/model/package.js';
import { PY, ROOT, validateAndReadBack } from '../helpers/dicom-check.js';

const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const SAMPLE = path.join(MODELS_DIR, 'samples', 'a4c_cine_16f.dcm');

type Ef = NonNullable<PipelineResult['ef']>;
function result(seq: number, o: { view?: string; q?: number; good?: boolean; state?: PipelineResult['state']; ef?: Partial<Ef>; area?: number } = {}): PipelineResult {
  const view = o.view ?? 'A4C';
  const r: PipelineResult = {
    seq, acquiredAt: seq * 33,
    view: { label: view, confidence: 0.99, shown: view, shownConfidence: 0.99, changed: false, probabilities: [] },
    quality: { score: o.q ?? 0.7, smoothed: o.q ?? 0.7, good: o.good ?? true },
    state: o.state ?? 'ok', idScore: null, idScoreRaw: null, frameState: o.state ?? 'ok',
  };
  if (o.area !== undefined) r.lv = { areaMm2: o.area, lengthMm: 80, pixels: 100, beamAngleDeg: 0, contour: [], contourFrame: [1, 1, 5, 1, 5, 5], mask: { width: 1, height: 1, data: new Uint8Array(1) } };
  if (o.ef) {
    r.ef = {
      ef: 60, efRaw: 60, ci: [55, 65], quality: 'ok', method: 'beats', beats: [], edFrame: -1, esFrame: -1, edvMl: 100, esvMl: 40,
      edConfirmed: null, esConfirmed: null, frames: 10, uncertainFrames: 0, valid: true, ...o.ef,
    } as Ef;
  }
  return r;
}
const px = (seq: number) => Uint8Array.of(seq & 255);

t.test('options: defaults and coded errors', async (t) => {
  t.same(captureOptions(), { mode: 'seconds', seconds: 2, beats: 1, views: ['A4C', 'A2C', 'PLAX', 'PSAX'], maxFrames: 300 });
  t.throws(() => captureOptions({ mode: 'frames' as 'beats' }), { code: 'ERR_SONOEDGE_CAPTURE_OPTION', message: 'Expected "seconds" or "beats" for capture.mode but received "frames" of type string' });
  t.throws(() => captureOptions({ seconds: 0 }), { code: 'ERR_SONOEDGE_CAPTURE_OPTION', message: 'Expected a number of seconds in (0, 60] for capture.seconds but received 0 of type number' });
  t.throws(() => captureOptions({ beats: 1.5 }), { code: 'ERR_SONOEDGE_CAPTURE_OPTION' });
  t.throws(() => captureOptions({ views: [] }), { code: 'ERR_SONOEDGE_CAPTURE_OPTION' });
  t.throws(() => captureOptions({ minQuality: 2 }), { code: 'ERR_SONOEDGE_CAPTURE_OPTION' });
  t.throws(() => captureOptions({ second: 2 } as never), { code: 'ERR_SONOEDGE_UNKNOWN_OPTION' });
});

t.test('seconds: only unbroken runs of ok, good frames of one view; the best window per view', async (t) => {
  const s = new ClipSelector({ seconds: 0.1 }, 25); // 4 frames
  const feed: [number, Parameters<typeof result>[1]][] = [
    [0, { q: 0.9 }], [1, { q: 0.9 }], [2, { q: 0.9, state: 'uncertain' }], // broken by an uncertain frame before 4 frames
    [3, { q: 0.6 }], [4, { q: 0.6 }], [5, { q: 0.6 }], [6, { q: 0.6 }], // a 4-frame A4C clip, mean 0.6
    [7, { q: 0.8 }], [8, { q: 0.8, state: 'unknown' }], // unknown: never captured
    [9, { q: 0.95, good: false }], // below the gate
    [10, { view: 'PLAX', q: 0.7 }], [11, { view: 'PLAX', q: 0.7 }], [12, { view: 'PLAX', q: 0.7 }], [13, { view: 'PLAX', q: 0.7 }],
    [14, { view: 'OTHER', q: 0.99 }], // not a captured view
    [15, { q: 0.7 }], [16, { q: 0.7 }], [17, { q: 0.7 }], [18, { q: 0.7 }], [19, { q: 0.9 }], // better A4C windows
  ];
  const kept = feed.map(([seq, o]) => s.offer(px(seq), result(seq, o)));
  t.same(kept.map((k, i) => (k ? feed[i][0] : -1)).filter((x) => x >= 0), [0, 1, 3, 4, 5, 6, 7, 10, 11, 12, 13, 15, 16, 17, 18, 19], 'frames copied: only qualifying ones');
  const best = s.take();
  t.same(best.map((c) => [c.view, c.entries.map((e) => e.result.seq), Number(c.qualityMean.toFixed(3))]), [['A4C', [16, 17, 18, 19], 0.75], ['PLAX', [10, 11, 12, 13], 0.7]]);
  t.same([...best[0].entries[0].frame], [16], 'the clip holds copies of the offered pixels');
  t.same(s.take(), [], 'take() forgets');
});

t.test('a clip with a valid EF beats a better-looking one without', async (t) => {
  const s = new ClipSelector({ seconds: 0.1, views: ['A4C'] }, 25);
  for (let i = 0; i < 4; i++) s.offer(px(i), result(i, { q: 0.6, ef: i === 3 ? { ef: 55 } : undefined }));
  s.offer(px(4), result(4, { state: 'uncertain' }));
  for (let i = 5; i < 9; i++) s.offer(px(i), result(i, { q: 0.95 }));
  const [c] = s.take();
  t.same([c.entries.map((e) => e.result.seq), c.ef?.ef], [[0, 1, 2, 3], 55]);
});

t.test('beats: from one confirmed ED to the next, N beats', async (t) => {
  const s = new ClipSelector({ mode: 'beats', beats: 2 }, 33);
  const eds: Record<number, number> = { 4: 2, 12: 10, 20: 18 }; // frame that confirms -> the ED it confirms
  for (let i = 0; i < 24; i++) {
    s.offer(px(i), result(i, { q: i >= 10 ? 0.9 : 0.6, ef: eds[i] !== undefined ? { edConfirmed: eds[i], ef: 50 + i } : undefined }));
  }
  const [c] = s.take();
  t.same([c.entries[0].result.seq, c.entries[c.entries.length - 1].result.seq, c.ef?.ef], [2, 17, 70], 'ED 2 to just before ED 18 (2 beats), EF of the confirming frame');
});

t.test('frame buffers are reused only when no run or best clip holds them: every clip keeps the pixels it was offered', async (t) => {
  // Quality rises and falls so that the best window moves, is kept, and runs break (a view change, a bad frame).
  const sel = new ClipSelector({ seconds: 0.1 }, 20); // 5-frame windows
  const frame = (seq: number) => Uint8Array.of(seq & 255, (seq >> 8) & 255, 7, 9);
  const q = (seq: number) => 0.5 + 0.4 * Math.abs(Math.sin(seq / 9));
  let taken: ReturnType<ClipSelector['take']> = [];
  for (let seq = 0; seq < 400; seq++) {
    const view = seq % 97 < 60 ? 'A4C' : 'A2C';
    const buf = frame(seq);
    sel.offer(buf, result(seq, { view, q: q(seq), good: seq % 41 !== 0 }));
    buf.fill(0); // the caller's buffer goes back (a socket buffer, a ring slot): the copy must not care
    if (seq === 250) taken = sel.take();
  }
  const check = (clips: ReturnType<ClipSelector['take']>, what: string) => {
    for (const c of clips) {
      t.equal(c.entries.length, 5, `${what} ${c.view}: a 5-frame window`);
      t.same(c.entries.map((e) => [...e.frame]), c.entries.map((e) => [...frame(e.result.seq)]), `${what} ${c.view}: each frame holds its own pixels`);
    }
  };
  t.same(taken.map((c) => c.view).sort(), ['A2C', 'A4C']);
  check(taken, 'taken at 250, after 150 more frames');
  check([...sel.best.values()], 'best at the end');
});

t.test('AutoCapture: a written capture per view, the target told each object; failures reported, not thrown', async (t) => {
  const put: string[] = [];
  const target: CaptureTarget = { putAll: async (objects) => { for (const { obj, name } of objects) put.push(`${obj.kind}:${name.startsWith(`${obj.kind}-A4C-`)}`); } };
  const errors: string[] = [];
  const cap = new AutoCapture({ capture: { seconds: 0.1 }, target, onError: (err) => errors.push((err as Error).message) });
  cap.open(7, { width: 1, height: 1, format: 'GRAY8', frameTimeMs: 25, spacingMm: [0.5, 0.5], study: { PatientID: 'X' } }, () => []);
  for (let i = 0; i < 4; i++) cap.offer(7, px(i), result(i, { ef: i === 3 ? { edFrame: 1, esFrame: 2 } : undefined, area: 1000 + i }));
  cap.offer(99, px(0), result(0)); // a stream never opened: ignored
  const [s] = await cap.finish(7);
  t.same(put, ['clip:true', 'sr:true']);
  t.same([s.stream, s.view, s.frames, s.seqs, s.ef, s.objects.map((o) => o.kind)], [7, 'A4C', 4, [0, 3], 60, ['clip', 'sr']]);
  t.match(s.studyInstanceUid, /^2\.25\.\d+$/, 'a new study when the input names none');
  t.same(await cap.finish(7), [], 'finished once');
  const bad = new AutoCapture({ capture: { seconds: 0.1 }, target, onError: (err, where) => errors.push(`${where.view}: ${(err as Error).message}`) });
  bad.open(1, { width: 2, height: 2, format: 'GRAY8', frameTimeMs: 25, spacingMm: [0.5, 0.5], study: {} }, () => []);
  for (let i = 0; i < 4; i++) bad.offer(1, px(i), result(i)); // 1-byte frames for a 2x2 geometry
  t.same(await bad.finish(1), []);
  t.same(errors, ['A4C: Expected clip frame 0 of 4 bytes (2x2 GRAY8) but received 1']);
});

t.test('replay --capture: the bundled cine through the real pipeline, to DICOM', async (t) => {
  if (!existsSync(CLI)) {
    t.skip('dist/ is not built (npx tsc -p tsconfig.json)', () => {});
    return;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-capture-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'results.jsonl');
  const r = spawnSync(process.execPath, [CLI, 'replay', SAMPLE, '--capture', path.join(dir, 'dicom'), '--secondary-capture', '--out', out], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const lines = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  const runtimeEf = [...lines].reverse().find((l) => l.ef)?.ef.percent;
  t.type(runtimeEf, 'number', 'the runtime reported an EF');
  const captures = JSON.parse(await readFile(path.join(dir, 'dicom', 'captures.json'), 'utf8'));
  t.same(captures.map((c: any) => [c.view, c.frames, c.seqs, c.ef, c.objects.map((o: any) => o.kind)]), [['A4C', 16, [0, 15], runtimeEf, ['clip', 'sc', 'sr']]],
    'one A4C clip: the whole 16-frame cine (shorter than 2 s), with the runtime\'s EF');
  t.match(r.stderr, /sonoedge replay: captured A4C frames 0\.\.15 \(mean quality 0\.\d\d, EF \d+\.\d%\): clip-A4C-/);
  const files = (await readdir(path.join(dir, 'dicom'))).filter((f) => f.endsWith('.dcm')).sort().map((f) => path.join(dir, 'dicom', f));
  t.equal(files.length, 3);
  const read = validateAndReadBack(t, files, 'the SR is not read back');
  if (!read) return;
  const sr = read.find((x) => x.sr)!;
  const study = spawnSync(PY, ['-c', `import pydicom; print(pydicom.dcmread(${JSON.stringify(SAMPLE)}).StudyInstanceUID)`], { encoding: 'utf8' }).stdout.trim();
  for (const x of read) t.equal(x.study, study, `${path.basename(x.file)}: in the input's study`);
  const ef = sr.sr.num.find((n: any) => n.name[0] === '18043-0');
  t.equal(ef.value, runtimeEf, 'the EF highdicom reads from the SR equals the runtime\'s');
  t.same(ef.text['Algorithm Parameters'].map((p: string) => p.split(' ')[2]), ['sonoedge-view-quality@1.0.0', 'sonoedge-lv-segmentation@1.0.0']);
  t.match(ef.text['Algorithm Parameters'][0], /sha256 [0-9a-f]{64} manifest sha256 [0-9a-f]{64}$/);
});

t.test('replay --capture over an earlier capture folder: captures.json is replaced whole, never rewritten in place', async (t) => {
  if (!existsSync(CLI)) {
    t.skip('dist/ is not built (npx tsc -p tsconfig.json)', () => {});
    return;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-capture-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'dicom');
  const index = path.join(out, 'captures.json');
  const replay = () => spawnSync(process.execPath, [CLI, 'replay', SAMPLE, '--capture', out], { encoding: 'utf8' });
  const first = replay();
  t.equal(first.status, 0, first.stderr);
  const earlier = await readFile(index, 'utf8');
  // A program that has the earlier index open while a new run writes its own reads the earlier one whole. Before,
  // captures.json was truncated and rewritten in place: the reader got the new run's UIDs (or nothing, midway).
  const reader = await open(index, 'r');
  t.teardown(() => reader.close());
  const second = replay();
  t.equal(second.status, 0, second.stderr);
  t.equal(await reader.readFile('utf8'), earlier, 'the open earlier index reads whole and unchanged');
  const now = JSON.parse(await readFile(index, 'utf8'));
  t.not(now[0].objects[0].sopInstanceUid, JSON.parse(earlier)[0].objects[0].sopInstanceUid, 'the new run\'s index is in place');
  t.same((await readdir(out)).filter((f) => !f.endsWith('.dcm')).sort(), ['.tmp', 'captures.json'], 'no temporary file left');

  // A folder where captures.json goes: the run fails after its clips are written, naming the folder; nothing else changes.
  await rm(index);
  await mkdir(path.join(index, 'inside'), { recursive: true });
  const dcms = (await readdir(out)).filter((f) => f.endsWith('.dcm')).length;
  const failed = replay();
  t.equal(failed.status, 1, failed.stderr);
  const stage = path.join(out, `.captures.json.${failed.pid}.partial`);
  t.equal(failed.stderr.trim().split('\n').pop(), `sonoedge replay: [EISDIR] Expected to write captures.json in ${out} but received EISDIR: illegal operation on a directory, `
    + `rename '${path.join(stage, 'new', 'captures.json')}' -> '${index}'; what was there before is unchanged`);
  t.same(await readdir(index), ['inside']);
  t.equal((await readdir(out)).filter((f) => f.endsWith('.dcm')).length, dcms + 2, 'the clip and SR written before, whole');
  t.same((await readdir(out)).filter((f) => !f.endsWith('.dcm')).sort(), ['.tmp', 'captures.json'], 'no temporary file left');
});

t.test('replay: capture flags need --capture', async (t) => {
  if (!existsSync(CLI)) {
    t.skip('dist/ is not built', () => {});
    return;
  }
  const r = spawnSync(process.execPath, [CLI, 'replay', SAMPLE, '--capture-seconds', '3'], { encoding: 'utf8' });
  t.equal(r.status, 2);
  t.match(r.stderr, /option --capture-seconds needs --capture DIR/);
});
