#!/usr/bin/env node
// `npm run bench:pipeline`: the full pipeline on the bundled models with
// 1024x768 GRAY8 frames arriving at a fixed rate, as from a scanner.
// For 30 and 60 fps: end-to-end latency (receipt to result) p50/p90/p99,
// frames dropped by latest-wins, CPU use; then heap and RSS over a long run.
// Segmentation runs on every frame (all views eligible, no quality bar): the
// worst case for the model graph. The frames are the bundled A4C cine scaled
// into 1024x768 (bench/feed.mjs, as bench:streams and the viewer's rows): in
// distribution, so that segmentation runs (the view model rates a synthetic
// frame `unknown`, and then nothing segments); a rate or memory run whose
// frames were segmented fewer than 90% of the time fails (exit 1).
//
//   npm run bench:pipeline                      30 and 60 fps, 20 s each; memory over 20k frames
//   npm run bench:pipeline -- --seconds 60 --memory-frames 100000
//   npm run bench:pipeline -- --memory-only --memory-frames 100000 --write-docs   (its own docs block)
//   npm run bench:pipeline -- --write-docs      also rewrites the table in docs/BENCHMARKS.md
//   npm run bench:pipeline -- --viewer-only --write-docs   the live viewer's cost alone (its own docs block)
//
// The live viewer's rows (bench/pipeline-viewer.mjs): the runtime over its socket at 30 fps with no viewer,
// with the viewer listening and nobody watching, and with one watcher; --viewer-seconds (default 10) per case,
// --viewer-rounds (default 3); --no-viewer skips them.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machineLine, median, quantile, writeDocsBlock } from './docs.mjs';
import { fileURLToPath } from 'node:url';
import { Pipeline, loadTrustStore, MODELS_DIR } from '../dist/index.js';
import { viewerRows } from './pipeline-viewer.mjs';
import { BOX, H, W, cineFrames, paced } from './feed.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const seconds = arg('seconds', 20);
const memoryFrames = arg('memory-frames', 20000);
const variant = args.includes('--int8') ? 'int8' : 'fp32';

const { frames, spacing } = await cineFrames();
const geometry = { input: { width: W, height: H, format: 'GRAY8' }, pixelSpacingMm: spacing, sectorRoi: BOX };
const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
const pipelineOptions = {
  viewQuality: path.join(MODELS_DIR, 'view_quality'), segmentation: path.join(MODELS_DIR, 'lv_segmentation'),
  trustStore, variant, engine: { intraOpThreads: 1 },
  segmentationViews: ['A4C', 'A2C', 'PLAX', 'PSAX', 'OTHER'], qualityThreshold: -Infinity,
};
const pipeline = await Pipeline.create(pipelineOptions);

/** The live viewer's rows: printed, and with --write-docs written to their own block. */
async function viewerSection() {
  const vSeconds = arg('viewer-seconds', 10);
  const vRounds = arg('viewer-rounds', 3);
  const { table, runs, turn } = await viewerRows({
    pipeline: pipelineOptions, fps: 30, seconds: vSeconds, rounds: vRounds, log: (s) => process.stderr.write(s),
  });
  const text = [
    `Machine: ${machineLine()}. Date: ${new Date().toISOString().slice(0, 10)}. Command: \`npm run bench:pipeline -- ${args.filter((a) => a !== '--write-docs').join(' ')}\`. `
      + `Variant ${variant}, 1 intra-op thread per model, segmentation on every frame; the bundled A4C cine scaled into 1024x768 GRAY8 frames (bench/pipeline-viewer.mjs) at 30 fps over the runtime's socket, ${vSeconds} s per case, `
      + `${vRounds} rounds (the order of the cases turns each round); medians over rounds, and the median of each round's p99 ratio to its no-viewer case.`,
    '',
    table,
  ].join('\n');
  process.stdout.write(`${text}\n`);
  writeFileSync(path.join(root, 'build', 'bench-pipeline-viewer.json'), `${JSON.stringify({ machine: machineLine(), turn, runs }, null, 2)}\n`);
  if (args.includes('--write-docs')) {
    writeDocsBlock('pipeline-viewer', text, '## The live viewer\'s cost\n\nThe runtime end to end with and without a viewer page watching (bench/pipeline-viewer.mjs, run by bench/pipeline.mjs).');
  }
}
if (args.includes('--viewer-only')) {
  await viewerSection();
  process.exit(0);
}

/** Fails the benchmark (exit 1) when the models skipped segmentation: the numbers would measure another workload. */
function checkSegmented(what, segmented, processed) {
  if (segmented >= 0.9 * processed) return;
  process.stderr.write(`bench:pipeline: ${what}: segmentation ran on ${segmented} of ${processed} frames (under 90%): the models did not see the frames as an apical view in distribution, so these numbers would not measure the pipeline; no table written\n`);
  process.exit(1);
}

async function atRate(fps) {
  const lat = [];
  const stages = {};
  let counting = false;
  let segmented = 0;
  const stream = await pipeline.openStream(geometry, (r) => {
    if (!counting) return;
    lat.push(r.timing.totalMs);
    if (r.result.lv) segmented++;
    for (const [k, v] of Object.entries(r.timing.stages)) (stages[k] ??= []).push(v);
  });
  // Warm-up (JIT, the in-distribution state settling): a few frames, one at a time, not counted.
  for (let i = 0; i < 5; i++) { stream.submit(frames[i % frames.length], -1 - i); await stream.idle(); }
  const before = { ...stream.stats };
  counting = true;
  const total = Math.round(seconds * fps);
  const load0 = os.loadavg()[0];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await paced(total, fps, (i) => stream.submit(frames[i % frames.length], i, performance.now()));
  await stream.idle();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const stats = { processed: stream.stats.processed - before.processed, dropped: stream.stats.dropped - before.dropped };
  await stream.close();
  checkSegmented(`${fps} fps`, segmented, stats.processed);
  return {
    fps, frames: total, processed: stats.processed, dropped: stats.dropped, segmented, load: [load0, os.loadavg()[0]],
    p50: quantile(lat, 0.5), p90: quantile(lat, 0.9), p99: quantile(lat, 0.99),
    cpuPercent: (100 * (cpu.user + cpu.system)) / 1000 / wall,
    stages: Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, median(v)])),
  };
}

async function memory() {
  let segmented = 0;
  const stream = await pipeline.openStream(geometry, (r) => { if (r.result.lv) segmented++; });
  const samples = [];
  for (let i = 0; i < memoryFrames; i++) {
    stream.submit(frames[i % frames.length], i);
    await stream.idle();
    if (i % Math.max(1, Math.floor(memoryFrames / 10)) === 0 || i === memoryFrames - 1) {
      globalThis.gc?.();
      const m = process.memoryUsage();
      samples.push({ frame: i, heapMB: m.heapUsed / 2 ** 20, rssMB: m.rss / 2 ** 20 });
    }
  }
  await stream.close();
  checkSegmented(`memory over ${memoryFrames} frames`, segmented, memoryFrames);
  return samples;
}

const memoryOnly = args.includes('--memory-only');
const rates = [];
for (const fps of memoryOnly ? [] : [30, 60]) {
  process.stderr.write(`${fps} fps for ${seconds} s...\n`);
  rates.push(await atRate(fps));
}
process.stderr.write(`memory over ${memoryFrames} frames...\n`);
const mem = await memory();

const machine = machineLine();
const f = (x) => x.toFixed(2);
const rows = rates.map((r) => `| ${r.fps} | ${r.frames} | ${r.processed} | ${r.segmented} | ${r.dropped} (${((100 * r.dropped) / r.frames).toFixed(1)}%) | ${f(r.p50)} | ${f(r.p90)} | ${f(r.p99)} | ${r.cpuPercent.toFixed(0)}% | ${r.load.map((x) => x.toFixed(1)).join('-')} | ${r.fps === 60 ? (r.p99 <= 16.7 && r.dropped === 0 ? 'met' : 'missed') : ''} |`);
const stageRows = rates.map((r) => `| ${r.fps} | ${Object.entries(r.stages).map(([k, v]) => `${k} ${f(v)}`).join(', ')} |`);
const memoryLine = (samples) => {
  const a = samples[1] ?? samples[0];
  const b = samples[samples.length - 1];
  const slope = (b.frame > a.frame) ? ((b.rssMB - a.rssMB) * 1024) / ((b.frame - a.frame) / 1000) : 0;
  return `Memory over ${memoryFrames} frames (after the first tenth, with gc when exposed): heap ${f(a.heapMB)} -> ${f(b.heapMB)} MB, RSS ${f(a.rssMB)} -> ${f(b.rssMB)} MB (${slope.toFixed(1)} KiB per 1000 frames). Samples (frame: heap MB / RSS MB): ${samples.map((x) => `${x.frame}: ${f(x.heapMB)}/${f(x.rssMB)}`).join(', ')}.`;
};
if (memoryOnly) {
  const text = [`Machine: ${machine}. Date: ${new Date().toISOString().slice(0, 10)}. Command: \`npm run bench:pipeline -- ${args.filter((a) => a !== '--write-docs').join(' ')}\`. Variant ${variant}, the bundled A4C cine scaled into 1024x768 GRAY8 frames (bench/feed.mjs), view/quality and segmentation on every frame, one frame at a time. Load average (1 min) at the end: ${os.loadavg()[0].toFixed(1)}.`, '', memoryLine(mem)].join('\n');
  process.stdout.write(`${text}\n`);
  if (args.includes('--write-docs')) writeDocsBlock('pipeline-memory', text, '## Pipeline memory over a long run\n\nHeap and RSS sampled ten times over the run (bench/pipeline.mjs --memory-only).');
  process.exit(0);
}
const table = [
  `Machine: ${machine}. Date: ${new Date().toISOString().slice(0, 10)}. Command: \`npm run bench:pipeline${args.length ? ` -- ${args.filter((a) => a !== '--write-docs').join(' ')}` : ''}\`. Variant ${variant}, 1 intra-op thread per model, segmentation on every frame; the bundled A4C cine scaled into 1024x768 GRAY8 frames (bench/feed.mjs), 5 warm-up frames per rate not counted. `
    + `Load average: the 1-minute figure at the start and end of each rate's run. Niceness ${os.getPriority()}.`,
  '',
  '| fps | frames | processed | segmented | dropped | p50 ms | p90 ms | p99 ms | CPU (of one core) | load average | 60 fps, p99 <= 16.7 ms, no drops |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
  '',
  'Median stage times (ms):',
  '',
  '| fps | stages |',
  '| --- | --- |',
  ...stageRows,
  '',
  memoryLine(mem),
].join('\n');
process.stdout.write(`${table}\n`);
writeFileSync(path.join(root, 'build', 'bench-pipeline.json'), `${JSON.stringify({ machine, rates, memory: mem }, null, 2)}\n`);
if (args.includes('--write-docs')) {
  writeDocsBlock('pipeline', table, '## Full pipeline\n\nThe bundled models end to end (bench/pipeline.mjs).');
}
if (!args.includes('--no-viewer')) await viewerSection();
