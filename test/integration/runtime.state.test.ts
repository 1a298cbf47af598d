// What firmware sees of the in-distribution state and the EF over the real
// runtime: socket RESULTs (state, idScore, UNCERTAIN/UNKNOWN, efCi, ED/ES with
// edSeq/esSeq) and serial RESULT records (bytes 22-23) on a socat pty pair,
// from the real pipeline on the bundled cine; the view model with an id_score
// output is the tiny test package (test/helpers/packages.ts).
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadTrustStore, MODELS_DIR } from '../../src/model/package.js';
import { ResultFlag, ResultState } from '../../src/protocol/constants.js';
import { msg, parseModelReply, type ConfigureStream, type ResultBody } from '../../src/protocol/messages.js';
import { WireError } from '../../src/protocol/errors.js';
import type { ResultRecord } from '../../src/protocol/serial.js';
import { Runtime } from '../../src/runtime/index.js';
import { RemoteError, SocketClient } from '../../src/transport/socket-client.js';
import { subscribedClient } from '../helpers/client.js';
import { viewIdPackage } from '../helpers/packages.js';
import { firmwareEnd, ptyPair } from '../helpers/pty.js';
import { readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { until, within } from '../helpers/wait.js';

const VQ = path.join(MODELS_DIR, 'view_quality');
const SEG = path.join(MODELS_DIR, 'lv_segmentation');
const stream0: ConfigureStream = { stream: 0, width: 256, height: 256, format: 'GRAY8', spacing: [SAMPLE_SPACING_MM, SAMPLE_SPACING_MM], fps: 30 };
const noSocat = spawnSync('sh', ['-c', 'command -v socat']).status !== 0 ? 'socat missing (.ci/run installs it)' : false;

async function scratch(t: Test): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-rtstate-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A subscribed client of `rt` configures stream 0 and sends `frames` one at a time (each after the previous RESULT). */
async function stream(t: Test, rt: Runtime, frames: Uint8Array[]): Promise<ResultBody[]> {
  const { c, results: out } = await subscribedClient(t, rt, 'runtime-state-test');
  await c.configure(stream0);
  for (let i = 0; i < frames.length; i++) {
    c.sendFrame(0, i, frames[i]);
    await until(() => out.length >= i + 1, `the RESULT of frame ${i}`, 20000);
  }
  return out;
}

t.test('socket: ED and ES on every beat of the looped cine, each flagged once with the confirmed frame', async (t) => {
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const rt = await Runtime.start({ pipeline: { viewQuality: VQ, segmentation: SEG, trustStore }, socket: { path: path.join(await scratch(t), 'rt.sock') } });
  t.teardown(() => rt.close());
  const { frames, label } = await readSampleCine();
  const loops = 6;
  const results = await stream(t, rt, Array.from({ length: loops * 16 }, (_, i) => frames[i % 16]));
  // The bundled view model scores its own simulator's cine in distribution: ok, with a score, on every frame.
  t.same(results.map((r) => r.state), new Array(loops * 16).fill('ok'), 'ok on every frame');
  t.ok(results.every((r) => r.idScore !== null && r.idScore >= 0.9 && r.idScore <= 1), 'in-distribution scores near 1');
  const ed = results.filter((r) => r.flags & ResultFlag.ED);
  const es = results.filter((r) => r.flags & ResultFlag.ES);
  t.ok(results.every((r) => ((r.flags & ResultFlag.ED) !== 0) === (r.edSeq !== null) && ((r.flags & ResultFlag.ES) !== 0) === (r.esSeq !== null)), 'flag <=> seq');
  // The cine's ED is frame 11 and its ES frame 3 of every 16 (the label); a beat is confirmed a few frames after it.
  t.ok(ed.length >= loops - 1 && es.length >= loops - 1, `${ed.length} EDs, ${es.length} ESs over ${loops} beats`);
  t.same(ed.map((r) => r.edSeq), [...new Set(ed.map((r) => r.edSeq))], 'each ED once');
  t.same(es.map((r) => r.esSeq), [...new Set(es.map((r) => r.esSeq))], 'each ES once');
  for (const r of ed) t.ok(Math.abs((r.edSeq! % 16) - label.ed) <= 1 && r.seq - r.edSeq! >= 2 && r.seq - r.edSeq! <= 8, `ED ${r.edSeq} confirmed at ${r.seq}`);
  for (const r of es) t.ok(Math.abs((r.esSeq! % 16) - label.es) <= 1 && r.seq - r.esSeq! >= 2 && r.seq - r.esSeq! <= 8, `ES ${r.esSeq} confirmed at ${r.seq}`);
  // EF with its interval from the second loop on; from 2 beats the quality is no longer low for that reason.
  const last = results[results.length - 1];
  t.ok(last.ef !== null && last.efCi !== null && last.efCi[0] <= last.ef && last.ef <= last.efCi[1], `EF ${last.ef} in ${last.efCi}`);
  t.ok(Math.abs(last.ef! - label.ef) <= 10, `EF ${last.ef} vs label ${label.ef}`);
  t.ok(results.every((r) => (r.ef === null) === (r.efCi === null)), 'an interval exactly when there is an EF');
});

t.test('socket and serial: state and score on every result; unknown frames carry no LV and no EF', { skip: noSocat }, async (t) => {
  const dir = await scratch(t);
  const { a, b, proc } = await ptyPair();
  t.teardown(() => { proc.kill(); });
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const rt = await Runtime.start({
    pipeline: { viewQuality: await viewIdPackage(path.join(dir, 'vq')), segmentation: SEG, trustStore },
    socket: { path: path.join(dir, 'rt.sock') },
    serial: { path: a, baudRate: 115200, resultRate: 1000, heartbeatMs: 1000 },
  });
  t.teardown(() => rt.close());
  const { records } = await firmwareEnd<ResultRecord>(t, b, (r) => r.kind === 'RESULT');

  const { frames } = await readSampleCine();
  const dim = (f: Uint8Array): Uint8Array => f.map((v) => Math.round(v * 0.3));
  const results = await stream(t, rt, [...frames, ...frames.slice(0, 10).map(dim)]);
  t.same(results.slice(0, 16).map((r) => r.state), new Array(16).fill('ok'));
  t.ok(results.slice(0, 16).every((r) => r.idScore! > 0.95 && (r.flags & (ResultFlag.UNCERTAIN | ResultFlag.UNKNOWN)) === 0), 'score near 1, no state flag');
  const states = results.slice(16).map((r) => r.state);
  t.same(states, ['ok', 'uncertain', 'uncertain', 'unknown', 'unknown', 'unknown', 'unknown', 'unknown', 'unknown', 'unknown']);
  for (const r of results.slice(16)) {
    const want = r.state === 'unknown' ? ResultFlag.UNKNOWN : r.state === 'uncertain' ? ResultFlag.UNCERTAIN : 0;
    t.equal(r.flags & (ResultFlag.UNCERTAIN | ResultFlag.UNKNOWN), want, `frame ${r.seq}: ${r.state} flag`);
    if (r.state === 'unknown') t.same([r.lvAreaMm2, r.ef, r.efCi, r.flags & (ResultFlag.HAS_LV_AREA | ResultFlag.HAS_EF)], [null, null, null, 0], `frame ${r.seq}: no LV, no EF`);
  }
  // The serial line: one record per result here (1000 per second allowed, one frame at a time), bytes 22-23.
  await within(() => records.length >= results.length, 5000);
  const bySeq = new Map(records.map((r) => [r.seq, r]));
  for (const r of results) {
    const rec = bySeq.get(r.seq);
    if (!rec) continue; // newest wins between two send slots
    t.equal(rec.resultState, ResultState[r.state], `record ${r.seq}: state ${r.state}`);
    t.ok(Math.abs(rec.idScore! - r.idScore!) <= 0.0025, `record ${r.seq}: score ${rec.idScore} vs ${r.idScore} (steps of 0.005)`);
    t.equal(rec.flags, r.flags, `record ${r.seq}: flags`);
  }
  t.ok(records.some((r) => r.resultState === ResultState.unknown), 'an unknown record went out');
});

t.test('LOAD_MODEL of a view package whose id_score thresholds are out of order is refused; the running models stay', async (t) => {
  const dir = await scratch(t);
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const rt = await Runtime.start({ pipeline: { viewQuality: VQ, segmentation: SEG, trustStore }, socket: { path: path.join(dir, 'rt.sock') } });
  t.teardown(() => rt.close());
  const { frames } = await readSampleCine();
  await stream(t, rt, frames.slice(0, 1)); // a stream is open: LOAD_MODEL loads for it
  const c = await SocketClient.connect(rt.server.path);
  t.teardown(() => c.close());
  await c.hello('runtime-state-test');
  const bad = await viewIdPackage(path.join(dir, 'bad'), { thresholds: { ok: 0.2, unknown: 0.6 } });
  const e = await c.request((seq) => msg.loadModel(seq, { path: bad, id: 'bad' }), 30000).then(() => undefined, (err: RemoteError) => err);
  t.equal(e?.wireCode, WireError.MODEL_FAILED);
  t.match(e?.message, /Expected \{ok, unknown\} with 0 <= unknown <= ok <= 1 for postprocessing\.id_score\.thresholds of package test-view-id/);
  t.equal(rt.current(), 'sonoedge-view-quality@1.0.0+sonoedge-lv-segmentation@1.0.0');
  const good = await viewIdPackage(path.join(dir, 'good'));
  t.same(parseModelReply((await c.request((seq) => msg.loadModel(seq, { path: good, id: 'id' }), 30000)).body), { id: 'id', previous: 'sonoedge-view-quality@1.0.0' });
  await c.request((seq) => msg.swap(seq, { id: 'id' }), 30000);
  t.equal(rt.current(), 'id+sonoedge-lv-segmentation@1.0.0', 'a package with a score swaps in');
});
