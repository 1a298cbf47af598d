// Several streams, one engine: streams share one ONNX Runtime session per
// model (src/pipeline/sessions.ts) while each keeps its own preprocessing,
// tensors and latest-frame-wins scheduler. Real parts throughout: the bundled
// models on real sessions, the runtime's socket server and a client over a
// Unix socket, the metrics endpoint over HTTP.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTrustStore, MODELS_DIR } from '../../src/model/package.js';
import { msg, type ConfigureStream, type ResultBody } from '../../src/protocol/messages.js';
import { Pipeline } from '../../src/pipeline/index.js';
import type { StageTimer } from '../../src/pipeline/scheduler.js';
import { geometryOf, Runtime } from '../../src/runtime/index.js';
import { MetricsServer } from '../../src/telemetry/metrics.js';
import { subscribedClient } from '../helpers/client.js';
import { readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { until } from '../helpers/wait.js';

const VQ = path.join(MODELS_DIR, 'view_quality');
const SEG = path.join(MODELS_DIR, 'lv_segmentation');
const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-streams-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const spacing: [number, number] = [SAMPLE_SPACING_MM, SAMPLE_SPACING_MM];
// Two geometries: each stream has a preprocessing plan (and tensors) of its own over the shared sessions.
const streamA: ConfigureStream = { stream: 0, width: 256, height: 256, format: 'GRAY8', spacing, fps: 30 };
const streamB: ConfigureStream = { stream: 1, width: 256, height: 256, format: 'GRAY8', spacing, fps: 30, roi: { x: 8, y: 8, width: 240, height: 240 } };

const VQ_ID = 'sonoedge-view-quality@1.0.0';
const SEG_ID = 'sonoedge-lv-segmentation@1.0.0';
const sessions = (rt: Runtime) => rt.pipeline.sessions.list().map((s) => [s.model, s.variant, s.provider, s.users]);

async function startRuntime(t: Test) {
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const rt = await Runtime.start({ pipeline: { viewQuality: VQ, segmentation: SEG, trustStore, engine: { intraOpThreads: 1 } }, socket: { path: path.join(dir, `rt${n++}.sock`) } });
  t.teardown(() => rt.close());
  const { c, results: all } = await subscribedClient(t, rt, 'streams-test');
  /** The results of one stream, in order. */
  const results = (stream: number): ResultBody[] => all.filter((r) => r.stream === stream);
  return { rt, c, results };
}

t.test('two streams of one pipeline: one session per model, each stream its own tensors; closing one leaves the session to the other', async (t) => {
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const pipeline = await Pipeline.create({ viewQuality: VQ, segmentation: SEG, trustStore, engine: { intraOpThreads: 1 } });
  const { frames } = await readSampleCine();
  const a = await pipeline.openProcessor(geometryOf(streamA));
  const b = await pipeline.openProcessor(geometryOf(streamB));
  t.equal(pipeline.sessions.size, 2, 'one session per model, not one per stream and model');
  t.same(pipeline.sessions.list().map((s) => [s.model, s.users]), [[VQ_ID, 2], [SEG_ID, 2]]);
  t.equal(a.runners[0].engine, b.runners[0].engine, 'the view/quality session is shared');
  t.equal(a.runners[1].engine, b.runners[1].engine, 'the segmentation session is shared');
  t.not(a.runners[0].input, b.runners[0].input, 'each stream writes its own input tensor');
  t.not(a.runners[1].outputs.logits, b.runners[1].outputs.logits, 'and reads its own outputs');
  const stage: StageTimer = async (_name, fn) => fn();
  // Both at once on the shared sessions: the same frame gives each stream the view its geometry gives alone.
  const [ra, rb] = await Promise.all([a.process({ data: frames[0], seq: 0, acquiredAt: 0 }, stage), b.process({ data: frames[0], seq: 0, acquiredAt: 0 }, stage)]);
  t.equal(ra.view.label, 'A4C');
  t.equal(rb.view.label, 'A4C');
  t.ok(ra.lv && rb.lv, 'both segmented');
  await a.close();
  t.same(pipeline.sessions.list().map((s) => [s.model, s.users]), [[VQ_ID, 1], [SEG_ID, 1]], 'a closed stream gives its hold back');
  t.equal(b.runners[0].engine.closed, false, 'the shared session stays open for the other stream');
  const again = await b.process({ data: frames[1], seq: 1, acquiredAt: 0 }, stage);
  t.equal(again.view.label, 'A4C', 'and the other stream runs on');
  await b.close();
  t.equal(pipeline.sessions.size, 0, 'the last hold closes the sessions');
  t.same([b.runners[0].engine.closed, b.runners[1].engine.closed], [true, true]);
});

t.test('the runtime: two streams over the socket share one session per model (metrics say so), both get results, closing one keeps the other running', async (t) => {
  const { rt, c, results } = await startRuntime(t);
  const metrics = await MetricsServer.start(rt, { port: 0 });
  t.teardown(() => metrics.close());
  const scrape = async () => (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text();
  const { frames } = await readSampleCine();
  t.equal(rt.pipeline.sessions.size, 0, 'no session before a stream is configured');
  await c.configure(streamA);
  await c.configure(streamB);
  t.same(sessions(rt), [[VQ_ID, 'fp32', 'cpu', 2], [SEG_ID, 'fp32', 'cpu', 2]]);
  const text = await scrape();
  t.match(text, /^sonoedge_engine_sessions 2$/m);
  t.match(text, /^sonoedge_engine_session_users\{model="sonoedge-view-quality@1\.0\.0",variant="fp32",provider="cpu"\} 2$/m);
  t.match(text, /^sonoedge_engine_session_users\{model="sonoedge-lv-segmentation@1\.0\.0",variant="fp32",provider="cpu"\} 2$/m);
  for (let i = 0; i < 8; i++) {
    c.sendFrame(0, i, frames[i]);
    c.sendFrame(1, i, frames[i]);
    await until(() => results(0).length === i + 1 && results(1).length === i + 1, `frame ${i}'s result on both streams`);
  }
  for (const s of [0, 1]) {
    t.same(results(s).map((r) => r.seq), [...Array(8).keys()], `stream ${s}: every frame answered`);
    t.ok(results(s).every((r) => r.view === 'A4C' && r.lvAreaMm2! > 0), `stream ${s}: view and LV area`);
  }

  // Stream 0 closes while stream 1 streams: the sessions stay (one user each), stream 1's frames keep coming back.
  await c.request((seq) => msg.closeStream(seq, { stream: 0 }));
  await until(() => rt.pipeline.sessions.list().every((s) => s.users === 1), 'stream 0\'s holds given back');
  t.same(sessions(rt), [[VQ_ID, 'fp32', 'cpu', 1], [SEG_ID, 'fp32', 'cpu', 1]]);
  t.match(await scrape(), /^sonoedge_engine_sessions 2$/m);
  for (let i = 8; i < 12; i++) {
    c.sendFrame(1, i, frames[i]);
    await until(() => results(1).length === i + 1, `stream 1's frame ${i}`);
  }
  t.same(results(1).slice(8).map((r) => [r.seq, r.view]), [[8, 'A4C'], [9, 'A4C'], [10, 'A4C'], [11, 'A4C']]);
  t.equal(rt.streams.stats.framesFailed, 0);
  await c.request((seq) => msg.closeStream(seq, { stream: 1 }));
  await until(() => rt.pipeline.sessions.size === 0, 'the sessions closed with the last stream');
  t.match(await scrape(), /^sonoedge_engine_sessions 0$/m);
});

t.test('fairness under saturation: two streams offered far more frames than the shared sessions can run are served in turn', async (t) => {
  const { rt, c, results } = await startRuntime(t);
  const { frames } = await readSampleCine();
  await c.configure(streamA);
  await c.configure(streamB);
  // Both streams offered a frame every 2 ms (500 fps each, several times what the sessions can run on 2 cores) for
  // 3 s; latest frame wins on each. The sessions run one frame at a time in arrival order and each stream has at
  // most one run queued on each, so they take turns: the processed counts differ by a few frames in theory. Bound
  // (loose for a loaded machine): the smaller count at least 80% of the larger, and both streams drop frames (the
  // load was real).
  const end = performance.now() + 3000;
  let seq = 0;
  while (performance.now() < end) {
    c.sendFrame(0, seq, frames[seq % 16]);
    c.sendFrame(1, seq, frames[(seq + 8) % 16]);
    seq++;
    await new Promise((r) => setTimeout(r, 2));
  }
  await until(() => rt.streams.busy === 0 && rt.streams.perStream.get(0)!.framesIn === seq && rt.streams.perStream.get(1)!.framesIn === seq, 'both streams idle');
  const [a, b] = [rt.streams.perStream.get(0)!, rt.streams.perStream.get(1)!];
  t.comment(`offered ${seq} frames per stream; processed ${a.framesProcessed} and ${b.framesProcessed}; dropped ${a.framesDropped} and ${b.framesDropped}`);
  t.ok(a.framesDropped > 0 && b.framesDropped > 0, 'saturated: both streams dropped frames');
  t.equal(a.framesProcessed + a.framesDropped, seq, 'stream 0: every frame processed or counted as dropped');
  t.equal(b.framesProcessed + b.framesDropped, seq, 'stream 1: every frame processed or counted as dropped');
  t.ok(Math.min(a.framesProcessed, b.framesProcessed) >= 0.8 * Math.max(a.framesProcessed, b.framesProcessed),
    `processed ${a.framesProcessed} and ${b.framesProcessed}: the smaller at least 80% of the larger`);
  t.ok(Math.min(a.framesProcessed, b.framesProcessed) >= 10, 'each stream got results');
  await until(() => results(0).length === a.framesProcessed && results(1).length === b.framesProcessed, 'every result delivered');
  t.equal(rt.streams.stats.framesFailed, 0);
});
