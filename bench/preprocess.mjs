#!/usr/bin/env node
// `npm run bench:preprocess`: frame preprocessing, native versus what a user
// would pick instead, measured in one run on this machine.
//
// For 640x480, 1024x768 and 1920x1080 frames in GRAY8, RGB8, BGR8, RGBA8,
// BGRA8, YUYV and NV12 (YUV as BT.601 limited range), resized to 112, 128, 224
// and 256 square, float32 NCHW (1 channel from GRAY8, 3 RGB channels from the
// others), normalised with mean/std, it times:
//   native   sonoedge Preprocessor.run, area resize, best SIMD kernels
//   ts-ref   the TypeScript reference (src/preprocess/reference.ts)
//   sharp    sharp raw -> resize (kernel 'linear') -> raw, normalise+transpose in JS
//            (GRAY8 and RGB8; ts-ref too, the reference's speed does not
//            depend on the byte order)
//   opencv   opencv-python-headless: cvtColor (all but GRAY8 and RGB8), resize INTER_AREA,
//            astype float32, normalise, transpose (bench/opencv_preprocess.py)
//   memcpy   copying the same input bytes and output bytes (the bandwidth floor)
// YUYV and NV12 run twice: on random bytes, and on in-range content in the rows
// labelled "YUYV (in-range)" and "NV12 (in-range)" (see CONTENT_NOTES). Every
// tool of a row reads the same frame.
// Each (frame size, format, content) runs in a fresh process per tool. Correctness is
// checked while measuring: native against ts-ref (must agree), and the largest
// difference from OpenCV's output is reported.
//
//   npm run bench:preprocess                 full table, writes build/bench/preprocess.json
//   npm run bench:preprocess -- --quick      1024x768 only
//   npm run bench:preprocess -- --formats RGB8,YUYV   only these formats
//   npm run bench:preprocess -- --content in-range    rows of this content only (random, in-range)
//   npm run bench:preprocess -- --write-docs also rewrites the table in docs/BENCHMARKS.md; rows
//                                            this run did not measure are kept there
// For smoke runs and tests: --sizes 64x48,128x96 (frame sizes), --outs 16,32 (output sizes),
// --budget-ms 50 (time each output size this long instead of 1-1.5 s), --out DIR (the JSON and the
// workers' frames, instead of build/bench), --docs FILE (the markdown --write-docs rewrites), --python PATH
// (a python with numpy and OpenCV for the OpenCV rows, instead of build/bench-venv's).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadAverage, machineLine, partialTableBlock, readDocsBlock, writeDocsBlock } from './docs.mjs';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
// Each option, and whether it takes a value.
const OPTIONS = { '--quick': false, '--write-docs': false, '--formats': true, '--content': true, '--sizes': true,
  '--outs': true, '--budget-ms': true, '--out': true, '--docs': true, '--python': true };
function usage(message) {
  process.stderr.write(`bench/preprocess.mjs: ${message} (options: ${Object.keys(OPTIONS).join(', ')})\n`);
  process.exit(2);
}
const opt = {};
for (let i = 0; i < args.length; i++) {
  const takesValue = OPTIONS[args[i]];
  if (takesValue === undefined) usage(`unknown option ${args[i]}`);
  if (takesValue && (i + 1 >= args.length || args[i + 1].startsWith('--'))) usage(`option ${args[i]} needs a value`);
  opt[args[i]] = takesValue ? args[++i] : true;
}
/** The comma-separated values of option `name`, each checked by `ok`; `fallback` without the option. */
function list(name, ok, fallback) {
  if (opt[name] === undefined) return fallback;
  const xs = opt[name].split(',');
  for (const x of xs) if (!ok(x)) usage(`option ${name}: unexpected value "${x}"`);
  return xs;
}

const outDir = path.resolve(opt['--out'] ?? path.join(root, 'build', 'bench'));
const SIZES = list('--sizes', (x) => /^[1-9]\d*x[1-9]\d*$/.test(x), null)?.map((x) => x.split('x').map(Number))
  ?? (opt['--quick'] ? [[1024, 768]] : [[640, 480], [1024, 768], [1920, 1080]]);
const ALL_FORMATS = ['GRAY8', 'RGB8', 'BGR8', 'RGBA8', 'BGRA8', 'YUYV', 'NV12'];
const FORMATS = list('--formats', (x) => ALL_FORMATS.includes(x), ALL_FORMATS);
const YUV = new Set(['YUYV', 'NV12']);
const CONTENTS = list('--content', (x) => x === 'random' || x === 'in-range', ['random', 'in-range']);
const DEFAULT_OUTS = [112, 128, 224, 256];
const OUTS = list('--outs', (x) => /^[1-9]\d*$/.test(x), DEFAULT_OUTS.map(String)).map(Number);
const BUDGET_MS = opt['--budget-ms'] === undefined ? [] : list('--budget-ms', (x) => /^[1-9]\d*$/.test(x));
if (BUDGET_MS.length > 1) usage('option --budget-ms takes one value');
if (opt['--python'] !== undefined && !existsSync(opt['--python'])) usage(`option --python: ${opt['--python']} does not exist`);
// The slow JavaScript tools run on the formats of the earlier tables only.
const JS_TOOL_FORMATS = new Set(['GRAY8', 'RGB8', 'YUYV']);

// What the frames hold. Random bytes for every format; YUYV and NV12 also in range. The two take different paths
// through the AVX2 YUV kernel (docs/PREPROCESSING.md section 8a), so the table shows both.
const CONTENT_NOTES = {
  random: 'YUYV and NV12 rows: random bytes (seeded), saturated colours whose R, G or B clamps in the conversion '
    + 'almost everywhere, so the AVX2 kernel converts every pixel of every tap row to RGB before resampling '
    + '(the per-pixel path).',
  'in-range': '"(in-range)" rows: the same formats, sizes and tools on content a capture card delivers from gray or '
    + 'mildly coloured video: Y 60-190, U and V 118-138, each byte seeded (the ranges of `bench_hot_path --table RUNS '
    + 'FORMAT tinted`). No pixel clamps (R, G and B stay within 31-223), so on AVX2 the output rows of 3 or more tap '
    + 'rows sum Y, U and V over their tap rows first (the interior rows in 16-bit integers) and convert once per '
    + 'column, exactly (`yuvLinearAvx2`); output rows of fewer tap rows (some of 640x480 to 256) convert per pixel '
    + 'either way.',
};
/** The table's format column: the pixel format, and the content where it is not random bytes. */
const label = (format, content) => (content === 'random' ? format : `${format} (${content})`);
// Every (format, content) of a full run in the table's order, each YUV format's in-range rows after its random ones.
const ALL_CASES = ALL_FORMATS.flatMap((f) => (YUV.has(f) ? [[f, 'random'], [f, 'in-range']] : [[f, 'random']]));
const ALL_LABELS = ALL_CASES.map(([f, c]) => label(f, c));
const CASES = ALL_CASES.filter(([f, c]) => FORMATS.includes(f) && CONTENTS.includes(c));
if (CASES.length === 0) usage(`no rows: --content in-range applies to YUYV and NV12 only`);

function python() {
  if (opt['--python'] !== undefined) return opt['--python'];
  // A small venv of its own with pinned numpy and OpenCV, created on first run.
  const venv = path.join(root, 'build', 'bench-venv');
  const py = path.join(venv, 'bin', 'python');
  if (!existsSync(py)) {
    process.stderr.write('creating build/bench-venv (numpy, opencv-python-headless)\n');
    let r = spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    if (r.status === 0) {
      r = spawnSync(path.join(venv, 'bin', 'pip'), ['install', '-q', '--disable-pip-version-check',
        'numpy==2.2.6', 'opencv-python-headless==4.12.0.88'], { stdio: 'inherit' });
    }
    if (r.status !== 0) return undefined;
  }
  return py;
}

function runCase(tool, w, h, format, content) {
  const cmd = tool === 'opencv' ? pythonBin : process.execPath;
  const script = tool === 'opencv' ? path.join(root, 'bench', 'opencv_preprocess.py') : path.join(root, 'bench', 'preprocess-case.mjs');
  const r = spawnSync(cmd, [script, tool, String(w), String(h), format, OUTS.join(','), outDir, content, ...BUDGET_MS],
    { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) {
    process.stderr.write(`${tool} ${w}x${h} ${label(format, content)} failed:\n${r.stderr}\n`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

mkdirSync(outDir, { recursive: true });
const pythonBin = python();
const loadAtStart = loadAverage();
const rows = [];
for (const [w, h] of SIZES) {
  for (const [format, content] of CASES) {
    process.stderr.write(`${w}x${h} ${label(format, content)} `);
    const byTool = {};
    for (const tool of ['native', 'memcpy', 'opencv', 'sharp', 'ts-ref']) {
      if (tool === 'opencv' && !pythonBin) continue;
      if ((tool === 'sharp' || tool === 'ts-ref') && !JS_TOOL_FORMATS.has(format)) continue;
      byTool[tool] = runCase(tool, w, h, format, content);
      process.stderr.write('.');
    }
    process.stderr.write('\n');
    for (const o of OUTS) {
      const pick = (tool) => byTool[tool]?.results?.find((r) => r.out === o);
      rows.push({
        frame: `${w}x${h}`, format, content, label: label(format, content), out: o,
        native: pick('native'), tsref: pick('ts-ref'), sharp: pick('sharp'), opencv: pick('opencv'), memcpy: pick('memcpy'),
      });
    }
  }
}
const loadAtEnd = loadAverage();

const machine = machineLine();
const f = (r) => (r ? `${r.median.toFixed(0)} / ${r.p99.toFixed(0)}` : 'n/a');
const ratio = (a, b) => (a && b ? (b.median / a.median).toFixed(2) : 'n/a');
const header = '| frame | format | out | native | ts-ref | sharp | opencv | memcpy | opencv/native | ts-ref/native | native/memcpy | max abs diff vs opencv |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |';
const lines = rows.map((r) => `| ${r.frame} | ${r.label} | ${r.out} | ${f(r.native)} | ${f(r.tsref)} | ${f(r.sharp)} | ${f(r.opencv)} | ${f(r.memcpy)} | ${ratio(r.native, r.opencv)} | ${ratio(r.native, r.tsref)} | ${ratio(r.memcpy, r.native)} | ${r.opencv?.maxDiffVsNative?.toExponential(1) ?? 'n/a'} |`);
const command = `npm run bench:preprocess${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
const date = new Date().toISOString();
const load = `load average (1, 5, 15 min) ${loadAtStart} at the start, ${loadAtEnd} at the end`;
const json = { machine, date, command, loadAverage: { start: loadAtStart, end: loadAtEnd }, rows };
writeFileSync(path.join(outDir, 'preprocess.json'), `${JSON.stringify(json, null, 2)}\n`);
/** The notes on the YUV contents among the format column's `labels`, random bytes first. */
function notesOf(labels) {
  const yuv = labels.filter((l) => /^(YUYV|NV12)\b/.test(l));
  return ['random', 'in-range'].filter((c) => yuv.some((l) => l.endsWith('(in-range)') === (c === 'in-range')))
    .map((c) => CONTENT_NOTES[c]);
}
const units = 'Median / p99 microseconds per frame; ratios of medians.';
process.stdout.write(`Machine: ${machine}. Date: ${date}. Command: \`${command}\`. ${load[0].toUpperCase()}${load.slice(1)}.\n${units}\n${
  notesOf(rows.map((r) => r.label)).map((n) => `${n}\n`).join('')}\n${header}\n${lines.join('\n')}\n`);

const bad = rows.filter((r) => r.native && r.native.agreesWithReference === false);
if (bad.length > 0) {
  process.stderr.write(`native disagrees with the reference in ${bad.length} cases\n`);
  process.exitCode = 1;
}

if (opt['--write-docs']) {
  const docs = opt['--docs'] === undefined ? undefined : path.resolve(opt['--docs']);
  // The rows this run measured replace those of the same frame, format column and output size; the others stay.
  const body = partialTableBlock(readDocsBlock('preprocess', docs), {
    lines, header, units, notes: notesOf, labels: ALL_LABELS, defaultOuts: DEFAULT_OUTS, machine, date, command, load,
  });
  writeDocsBlock('preprocess', body, '## Frame preprocessing', docs);
}
