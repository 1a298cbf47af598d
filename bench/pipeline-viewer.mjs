// The live viewer's cost to the pipeline, for bench/pipeline.mjs: the whole
// runtime (socket in, models, results out) at a fixed frame rate, with and
// without a page watching. Each round runs the cases back to back on a fresh
// runtime each: no viewer at all, the viewer listening with nobody watching,
// and one watcher (a WebSocket client in a child process that takes every
// picture, as a browser on another machine would). Latency is the runtime's
// own, receipt to result (RESULT.latency.totalMs), as the firmware sees it
// less the socket; the figures are medians over rounds, and ratios to the
// no-viewer case of the same round (the machine is shared and noisy).
//
// The frames are the bundled A4C cine (models/samples), each 256x256 frame
// scaled to 740x740 (bilinear) inside a black 1024x768 GRAY8 frame, the sector
// box as the stream's roi: the models see an apical view, so segmentation, the
// contour and EF run as in use, and the pictures are of a real-looking image.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Runtime } from '../dist/runtime/index.js';
import { SocketClient } from '../dist/transport/socket-client.js';
import { parseResult } from '../dist/protocol/messages.js';
import { MessageType } from '../dist/protocol/constants.js';
import { ViewerServer } from '../dist/viewer/server.js';
import { encodeJpeg, snapshot, snapshotBytes } from '../dist/viewer/encode.js';
import { JpegEncoder } from '../dist/viewer/encoder.js';
import { median, quantile } from './docs.mjs';
import { BOX, H, W, cineFrames, paced } from './feed.mjs';

const here = fileURLToPath(import.meta.url);

/** The watcher, run as a child: `node pipeline-viewer.mjs --watch URL`; prints {pictures, bytes} when told to stop. */
if (process.argv[2] === '--watch') {
  const { WebSocket } = await import('ws');
  const url = process.argv[3].replace(/^http/, 'ws').replace(/\/(\?|$)/, '/ws$1');
  const ws = new WebSocket(url);
  let pictures = 0;
  let bytes = 0;
  ws.on('message', (data, binary) => { if (binary) { pictures++; bytes += data.length; } });
  ws.on('open', () => process.send({ open: true }));
  ws.on('error', (err) => { process.send({ error: err.message }); process.exit(1); });
  process.on('message', () => { process.send({ pictures, bytes }); ws.close(); setTimeout(() => process.exit(0), 100); });
} 

/** One case on a fresh runtime: frames at `fps` for `seconds`; mode 'none' | 'idle' | 'watched'. */
async function runCase({ pipeline, frames, spacing, fps, seconds, mode }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-bench-viewer-'));
  const rt = await Runtime.start({ pipeline, socket: { path: path.join(dir, 's.sock'), mode: 0o600 } });
  let viewer;
  let child;
  const client = await SocketClient.connect(path.join(dir, 's.sock'));
  try {
    if (mode !== 'none') viewer = await ViewerServer.start(rt, { port: 0, rate: 30 });
    if (mode === 'watched') {
      child = fork(here, ['--watch', viewer.url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      await new Promise((resolve, reject) => child.once('message', (m) => (m.open ? resolve() : reject(new Error(m.error)))));
    }
    await client.hello('bench-viewer');
    await client.configure({ stream: 1, width: W, height: H, format: 'GRAY8', spacing: [spacing, spacing], roi: BOX, fps });
    await client.subscribe({});
    const lat = [];
    let segmented = 0;
    client.on('message', (m) => {
      if (m.header.type !== MessageType.RESULT) return;
      const r = parseResult(m.body);
      lat.push(r.latency.totalMs);
      if (r.latency.stages['lv_segmentation.engine'] !== undefined) segmented++;
    });
    const total = Math.round(seconds * fps);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await paced(total, fps, (i) => client.sendFrame(1, i, frames[i % frames.length]));
    const deadline = performance.now() + 10000;
    while (lat.length + rt.server.stats.framesDropped < total && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    let watched;
    if (child) {
      child.send('stop');
      watched = await new Promise((resolve) => child.once('message', resolve));
    }
    const turns = viewer?.stats.turns ?? 0;
    return {
      turnUs: turns ? (1000 * viewer.stats.turnMs) / (lat.length || 1) : 0,
      mode, load: os.loadavg()[0], frames: total, results: lat.length, segmented, dropped: rt.server.stats.framesDropped,
      p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), cpuPercent: (100 * (cpu.user + cpu.system)) / 1000 / wall,
      pictures: watched?.pictures ?? 0, picturesPerS: watched ? watched.pictures / (wall / 1000) : 0, kbPerPicture: watched?.pictures ? watched.bytes / watched.pictures / 1024 : 0,
    };
  } finally {
    await client.close();
    await viewer?.close();
    await rt.close();
    child?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What a picture costs the event loop, alone (medians over `n` pictures of the cine, one at a time): the copy of the
 * rows, the post to the encoder thread (buffer transferred), and for comparison sharp's own call on this thread.
 */
async function turnCost(frames, n = 200) {
  const g = { width: W, height: H, format: 'GRAY8' };
  const encoder = new JpegEncoder();
  let buffer = new ArrayBuffer(snapshotBytes(g));
  const copy = [];
  const post = [];
  const direct = [];
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    snapshot(frames[i % frames.length], g, new Uint8Array(buffer));
    copy.push(performance.now() - t);
    t = performance.now();
    const p = encoder.encode(buffer, snapshotBytes(g), g, 70);
    post.push(performance.now() - t);
    buffer = (await p).buffer;
    const packed = new Uint8Array(buffer);
    t = performance.now();
    const d = encodeJpeg(packed, g, { quality: 70 });
    direct.push(performance.now() - t);
    await d;
  }
  await encoder.close();
  return { copyUs: 1000 * median(copy), postUs: 1000 * median(post), sharpUs: 1000 * median(direct) };
}

/** Rounds of the three cases; returns the markdown rows and the raw runs. */
export async function viewerRows({ pipeline, fps = 30, seconds = 10, rounds = 3, log = () => {} }) {
  const { frames, spacing } = await cineFrames();
  log('viewer: the cost of a picture on the event loop...\n');
  const turn = await turnCost(frames);
  const runs = [];
  // A discarded case first: the process's first runtime pays for JIT and first loads, whatever its case.
  log('viewer warm-up (discarded)...\n');
  await runCase({ pipeline, frames, spacing, fps, seconds: Math.min(3, seconds), mode: 'watched' });
  for (let r = 0; r < rounds; r++) {
    // The order turns each round, so that no case always runs first (warm-up) or last.
    const order = ['none', 'idle', 'watched'];
    for (let k = 0; k < r % 3; k++) order.push(order.shift());
    for (const mode of order) {
      log(`viewer round ${r + 1}/${rounds}: ${mode}, ${fps} fps for ${seconds} s...\n`);
      const run = await runCase({ pipeline, frames, spacing, fps, seconds, mode });
      // Correctness while measuring: the models segmented the cine (the viewer's outline has something to show).
      // Under 90% (as bench/pipeline.mjs and bench/streams.mjs) the rows would measure another workload: fail.
      if (run.segmented < run.results * 0.9) throw new Error(`Expected segmentation on at least 90% of the frames of the A4C cine but it ran on ${run.segmented} of ${run.results}`);
      runs.push({ round: r, ...run });
    }
  }
  const f = (x) => x.toFixed(2);
  const label = { none: 'no viewer', idle: 'viewer listening, nobody watching', watched: 'one viewer watching (30 pictures/s at most)' };
  const rows = ['none', 'idle', 'watched'].map((mode) => {
    const mine = runs.filter((x) => x.mode === mode);
    const ratio = (key) => median(mine.map((x) => x[key] / runs.find((y) => y.round === x.round && y.mode === 'none')[key]));
    const m = (key) => median(mine.map((x) => x[key]));
    return `| ${label[mode]} | ${mine.length} | ${f(m('p50'))} | ${f(m('p99'))} | ${mode === 'none' ? '1' : f(ratio('p99'))} | ${m('dropped')} of ${mine[0].frames} | ${m('cpuPercent').toFixed(0)}% | ${mode === 'watched' ? `${m('picturesPerS').toFixed(1)}/s, ${m('kbPerPicture').toFixed(0)} KiB each` : ''} | ${mode === 'watched' ? m('turnUs').toFixed(0) : mode === 'idle' ? '0' : ''} |`;
  });
  const perRound = ['none', 'idle', 'watched'].map((mode) => `${label[mode]} ${runs.filter((x) => x.mode === mode).map((x) => f(x.p99)).join(' / ')}`).join('; ');
  const load = runs.map((x) => x.load);
  return {
    runs,
    turn,
    table: [
      '| case | rounds | p50 ms | p99 ms | p99 / no viewer | dropped | CPU (of one core, runtime process) | pictures received | viewer on the frame\'s turn, us per frame |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      `A picture on the event loop, alone (medians over 200): the copy of the rows ${turn.copyUs.toFixed(0)} us and the post to the encoder thread ${turn.postUs.toFixed(0)} us, against ${turn.sharpUs.toFixed(0)} us for sharp's own call had it run on the event loop. The last column above is the mean over the run, on the loaded machine (preemption included).`,
      '',
      `p99 per round (ms): ${perRound}. The machine's load average (1 min) over the cases: ${Math.min(...load).toFixed(1)} to ${Math.max(...load).toFixed(1)} on ${os.cpus().length} cores.`,
    ].join('\n'),
  };
}
