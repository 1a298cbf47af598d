#!/usr/bin/env node
// `npm run bench:streams`: several streams on one engine (issue 16, part 4).
// N streams of 1024x768 GRAY8 frames at a fixed rate each (default 30 fps),
// both models on every frame (segmentation on every view, no quality bar),
// each stream with its own latest-frame-wins scheduler. Per stream: latency
// from receipt to result (p50, p99) and the share of frames dropped.
// Frames of every stream arrive at the same instants (probes in phase): the
// worst case for the streams that wait for a shared session. The frames are
// the bundled A4C cine scaled into 1024x768 (bench/feed.mjs; each stream
// starts at another frame of it): in distribution, so that
// segmentation runs (a synthetic frame is `unknown`, and nothing segments);
// a case whose streams segmented fewer than 90% of their frames fails.
//
// Two modes per stream count, each case in a fresh process:
//   shared    one Pipeline: one session per model, shared by the streams (the runtime's way)
//   separate  one Pipeline per stream: a session per stream and model (the runtime before sessions were shared)
//
//   npm run bench:streams                        1, 2 and 4 streams, 30 fps, 20 s per case, 3 rounds
//   npm run bench:streams -- --streams 2 --seconds 60 --fps 30
//   npm run bench:streams -- --threads 2        2 intra-op threads per session (default 1, as bench:pipeline)
//   npm run bench:streams -- --rounds 5          rounds of every case (default 3; medians over them)
//   npm run bench:streams -- --provider cuda     the sessions on cuda (or tensorrt) with cpu as fallback (default cpu);
//                                                the table names the provider every session ran on
//   npm run bench:streams -- --write-docs        also rewrites the table in docs/BENCHMARKS.md
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLine, median, quantile, writeDocsBlock } from './docs.mjs';
import { BOX, H, W, cineFrames, paced } from './feed.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const self = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const seconds = Number(opt('seconds', 20));
const fps = Number(opt('fps', 30));
const variant = args.includes('--int8') ? 'int8' : 'fp32';
const threads = Number(opt('threads', 1));
const provider = opt('provider', 'cpu');
if (!['cpu', 'cuda', 'tensorrt'].includes(provider)) {
  process.stderr.write(`bench:streams: --provider expects cpu, cuda or tensorrt but received ${JSON.stringify(provider)}\n`);
  process.exit(2);
}

if (args.includes('--case')) {
  process.stdout.write(`${JSON.stringify(await runCase(Number(opt('case')), opt('mode')))}\n`);
  process.exit(0);
}

/** One case, in this process: `n` streams, sessions shared or separate. */
async function runCase(n, mode) {
  const { Pipeline, loadTrustStore, MODELS_DIR } = await import('../dist/index.js');
  const { frames, spacing } = await cineFrames();
  const geometry = { input: { width: W, height: H, format: 'GRAY8' }, pixelSpacingMm: spacing, sectorRoi: BOX };
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const options = {
    viewQuality: path.join(MODELS_DIR, 'view_quality'), segmentation: path.join(MODELS_DIR, 'lv_segmentation'),
    trustStore, variant, engine: { intraOpThreads: threads, providers: provider === 'cpu' ? ['cpu'] : [provider, 'cpu'] },
    segmentationViews: ['A4C', 'A2C', 'PLAX', 'PSAX', 'OTHER'], qualityThreshold: -Infinity,
  };
  const pipelines = mode === 'shared' ? Array(n).fill(await Pipeline.create(options)) : await Promise.all(Array.from({ length: n }, () => Pipeline.create(options)));
  const lat = Array.from({ length: n }, () => []);
  const segmented = new Array(n).fill(0);
  let counting = false;
  const streams = [];
  for (let s = 0; s < n; s++) {
    streams.push(await pipelines[s].openStream(geometry, (r) => {
      if (!counting) return;
      lat[s].push(r.timing.totalMs);
      if (r.result.lv) segmented[s]++;
    }));
  }
  const sessions = new Set(pipelines).size * 2;
  const ranOn = [...new Set([...new Set(pipelines)].flatMap((pl) => pl.sessions.list().map((x) => x.provider)))].sort();
  // Warm-up (JIT, engines): a few frames per stream, one at a time, not counted.
  for (let i = 0; i < 5; i++) for (const st of streams) { st.submit(frames[i % frames.length], -1 - i); await st.idle(); }
  const before = streams.map((st) => ({ ...st.stats }));
  counting = true;
  const total = Math.round(seconds * fps);
  const load0 = os.loadavg();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await paced(total, fps, (i) => {
    const t = performance.now();
    streams.forEach((st, s) => st.submit(frames[(i + 4 * s) % frames.length], i, t));
  });
  await Promise.all(streams.map((st) => st.idle()));
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const perStream = streams.map((st, s) => {
    const processed = st.stats.processed - before[s].processed;
    const dropped = st.stats.dropped - before[s].dropped;
    if (segmented[s] < 0.9 * processed) throw new Error(`Expected segmentation on every frame of the A4C cine but stream ${s} segmented ${segmented[s]} of ${processed}`);
    return { stream: s, frames: total, processed, dropped, dropPct: (100 * dropped) / total, p50: quantile(lat[s], 0.5), p99: quantile(lat[s], 0.99) };
  });
  for (const st of streams) await st.close();
  return { streams: n, mode, sessions, ranOn, fps, seconds, perStream, cpuPercent: (100 * (cpu.user + cpu.system)) / 1000 / wall, load: [load0, os.loadavg()] };
}

const counts = String(opt('streams', '1,2,4')).split(',').map(Number);
const modes = String(opt('modes', 'shared,separate')).split(',');
const rounds = Number(opt('rounds', 3));
const plan = counts.flatMap((n) => modes.filter((m) => n > 1 || m === 'shared').map((mode) => ({ n, mode }))); // one stream: shared = separate
// Each round runs every case once, in an order turned by one each round (the machine's load drifts).
const runs = plan.map(() => []);
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < plan.length; k++) {
    const j = (k + r) % plan.length;
    const { n, mode } = plan[j];
    process.stderr.write(`round ${r + 1}/${rounds}: ${n} stream(s), sessions ${mode}, ${fps} fps for ${seconds} s...\n`);
    const out = spawnSync(process.execPath, [self, '--case', String(n), '--mode', mode, '--seconds', String(seconds), '--fps', String(fps), '--threads', String(threads), '--provider', provider, ...(variant === 'int8' ? ['--int8'] : [])],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (out.status !== 0) throw new Error(`case ${n} ${mode} failed with status ${out.status}`);
    runs[j].push(JSON.parse(out.stdout.trim().split('\n').pop()));
  }
}

const f = (x) => x.toFixed(2);
const rows = [];
const verdicts = [];
plan.forEach(({ n, mode }, j) => {
  const rs = runs[j];
  // Per round: the worst stream's p99 and the spread of the streams' drop rates; the target is judged on their medians.
  const worst = median(rs.map((c) => Math.max(...c.perStream.map((s) => s.p99))));
  const spread = median(rs.map((c) => Math.max(...c.perStream.map((s) => s.dropPct)) - Math.min(...c.perStream.map((s) => s.dropPct))));
  const met = worst <= 33 && spread <= 2;
  verdicts.push({ streams: n, mode, worstP99: worst, dropSpread: spread, met });
  const loads = rs.flatMap((c) => [c.load[0][0], c.load[1][0]]);
  for (let s = 0; s < n; s++) {
    const p = (k) => median(rs.map((c) => c.perStream[s][k]));
    const p99s = rs.map((c) => c.perStream[s].p99);
    rows.push(`| ${s === 0 ? `${n}` : ''} | ${s === 0 ? `${mode} (${rs[0].sessions})` : ''} | ${s} | ${p('dropPct').toFixed(1)}% | ${f(p('p50'))} | ${f(p('p99'))} (${f(Math.min(...p99s))}-${f(Math.max(...p99s))}) | `
      + `${s === 0 ? `${median(rs.map((c) => c.cpuPercent)).toFixed(0)}%` : ''} | ${s === 0 ? `${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}` : ''} | `
      + `${s === 0 ? `${met ? 'met' : 'missed'} (worst p99 ${f(worst)} ms, drop spread ${spread.toFixed(1)} pt)` : ''} |`);
  }
});
const command = `npm run bench:streams${args.filter((a) => a !== '--write-docs').length ? ` -- ${args.filter((a) => a !== '--write-docs').join(' ')}` : ''}`;
const table = [
  `Machine: ${machineLine()}. Date: ${new Date().toISOString().slice(0, 10)}. Command: \`${command}\`. `
    + `Variant ${variant}, ${threads} intra-op thread${threads === 1 ? '' : 's'} per session, provider ${provider}${provider === 'cpu' ? '' : ` with cpu as fallback (the sessions ran on ${[...new Set(runs.flat().flatMap((c) => c.ranOn))].join(', ')})`}, 1024x768 GRAY8 at ${fps} fps per stream (${Math.round(seconds * fps)} frames each), frames of every stream at the same instants (stream 0 first), both models on every frame, `
    + `${seconds} s per case, each case in a fresh process, ${rounds} round${rounds === 1 ? '' : 's'} (the order of the cases turned each round). Per stream: medians over the rounds, and the range of p99 over them. `
    + `Load average: the 1-minute figure's range at the starts and ends of the case's runs. Niceness ${os.getPriority()}.`,
  '',
  '| streams | sessions (open) | stream | dropped | p50 ms | p99 ms (range) | CPU (of one core) | load average | target: p99 <= 33 ms per stream, drop rates within 2 pt (medians over rounds) |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
].join('\n');
process.stdout.write(`${table}\n`);
mkdirSync(path.join(root, 'build'), { recursive: true });
writeFileSync(path.join(root, 'build', 'bench-streams.json'), `${JSON.stringify({ machine: machineLine(), verdicts, runs }, null, 2)}\n`);
if (args.includes('--write-docs')) {
  writeDocsBlock('streams', table, '## Several streams, one engine\n\nN streams on the bundled models, sessions shared or one per stream (bench/streams.mjs, `npm run bench:streams`).');
}
