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
// Each (frame size, format) runs in a fresh process per tool. Correctness is
// checked while measuring: native against ts-ref (must agree), and the largest
// difference from OpenCV's output is reported.
//
//   npm run bench:preprocess                 full table, writes build/bench/preprocess.json
//   npm run bench:preprocess -- --quick      1024x768 only
//   npm run bench:preprocess -- --formats RGB8,YUYV   only these formats
//   npm run bench:preprocess -- --write-docs also rewrites the table in docs/BENCHMARKS.md
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { machineLine, writeDocsBlock } from './docs.mjs';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'build', 'bench');
const args = process.argv.slice(2);
const quick = args.includes('--quick');

const SIZES = quick ? [[1024, 768]] : [[640, 480], [1024, 768], [1920, 1080]];
const ALL_FORMATS = ['GRAY8', 'RGB8', 'BGR8', 'RGBA8', 'BGRA8', 'YUYV', 'NV12'];
const formatsArg = args.indexOf('--formats');
const FORMATS = formatsArg >= 0 ? args[formatsArg + 1].split(',') : ALL_FORMATS;
// The slow JavaScript tools run on the formats of the earlier tables only.
const JS_TOOL_FORMATS = new Set(['GRAY8', 'RGB8', 'YUYV']);
const OUTS = [112, 128, 224, 256];

function python() {
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

function runCase(tool, w, h, format) {
  const cmd = tool === 'opencv' ? pythonBin : process.execPath;
  const script = tool === 'opencv' ? path.join(root, 'bench', 'opencv_preprocess.py') : path.join(root, 'bench', 'preprocess-case.mjs');
  const r = spawnSync(cmd, [script, tool, String(w), String(h), format, OUTS.join(','), outDir],
    { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) {
    process.stderr.write(`${tool} ${w}x${h} ${format} failed:\n${r.stderr}\n`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

mkdirSync(outDir, { recursive: true });
const pythonBin = python();
const rows = [];
for (const [w, h] of SIZES) {
  for (const format of FORMATS) {
    process.stderr.write(`${w}x${h} ${format} `);
    const byTool = {};
    for (const tool of ['native', 'memcpy', 'opencv', 'sharp', 'ts-ref']) {
      if (tool === 'opencv' && !pythonBin) continue;
      if ((tool === 'sharp' || tool === 'ts-ref') && !JS_TOOL_FORMATS.has(format)) continue;
      byTool[tool] = runCase(tool, w, h, format);
      process.stderr.write('.');
    }
    process.stderr.write('\n');
    for (const o of OUTS) {
      const pick = (tool) => byTool[tool]?.results?.find((r) => r.out === o);
      rows.push({
        frame: `${w}x${h}`, format, out: o,
        native: pick('native'), tsref: pick('ts-ref'), sharp: pick('sharp'), opencv: pick('opencv'), memcpy: pick('memcpy'),
      });
    }
  }
}

const machine = machineLine();
const f = (r) => (r ? `${r.median.toFixed(0)} / ${r.p99.toFixed(0)}` : 'n/a');
const ratio = (a, b) => (a && b ? (b.median / a.median).toFixed(2) : 'n/a');
const header = '| frame | format | out | native | ts-ref | sharp | opencv | memcpy | opencv/native | ts-ref/native | native/memcpy | max abs diff vs opencv |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |';
const lines = rows.map((r) => `| ${r.frame} | ${r.format} | ${r.out} | ${f(r.native)} | ${f(r.tsref)} | ${f(r.sharp)} | ${f(r.opencv)} | ${f(r.memcpy)} | ${ratio(r.native, r.opencv)} | ${ratio(r.native, r.tsref)} | ${r.native && r.memcpy ? (r.native.median / r.memcpy.median).toFixed(2) : 'n/a'} | ${r.opencv?.maxDiffVsNative?.toExponential(1) ?? 'n/a'} |`);
const table = `${header}\n${lines.join('\n')}`;
const json = { machine, date: new Date().toISOString(), command: `npm run bench:preprocess${quick ? ' -- --quick' : ''}`, rows };
writeFileSync(path.join(outDir, 'preprocess.json'), `${JSON.stringify(json, null, 2)}\n`);
process.stdout.write(`Machine: ${machine}\nMedian / p99 microseconds per frame.\n\n${table}\n`);

const bad = rows.filter((r) => r.native && r.native.agreesWithReference === false);
if (bad.length > 0) {
  process.stderr.write(`native disagrees with the reference in ${bad.length} cases\n`);
  process.exitCode = 1;
}

if (args.includes('--write-docs')) {
  writeDocsBlock('preprocess',
    `Machine: ${machine}. Date: ${json.date.slice(0, 10)}. Command: \`${json.command}\`.\nMedian / p99 microseconds per frame; ratios of medians.\n\n${table}`,
    '## Frame preprocessing');
}
