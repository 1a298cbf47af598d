// A stream reconfigured while frames are in flight, through the real runtime: the bundled models on real sessions,
// its socket server and a client over a Unix socket. A frame running when CONFIGURE_STREAM arrives finishes on the
// models of its own configuration; the frame waiting behind it belongs to a configuration that is gone.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTrustStore, MODELS_DIR } from '../../src/model/package.js';
import { ResultFlag } from '../../src/protocol/constants.js';
import { msg, parseConfigureReply, type ConfigureStream } from '../../src/protocol/messages.js';
import { Runtime } from '../../src/runtime/index.js';
import { flipMask } from '../../src/preprocess/flip.js';
import { subscribedClient } from '../helpers/client.js';
import { flippedFrame, readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { until } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-reconf-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const spacing: [number, number] = [SAMPLE_SPACING_MM, SAMPLE_SPACING_MM];
const before: ConfigureStream = { stream: 0, width: 256, height: 256, format: 'GRAY8', spacing, fps: 30 };
const after: ConfigureStream = { ...before, roi: { x: 8, y: 8, width: 240, height: 240 } };

/** A runtime on the bundled models whose log's 'stream models loaded' lines are collected in `loads`. */
async function countingRuntime(t: Test, sock: string) {
  const loads: Array<{ width: number; ms: number }> = [];
  const log = {
    info: (o: object, m: string) => { if (m === 'stream models loaded') loads.push(o as { width: number; ms: number }); },
    warn: () => undefined, error: () => undefined, debug: () => undefined,
  };
  const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  const rt = await Runtime.start({
    pipeline: { viewQuality: path.join(MODELS_DIR, 'view_quality'), segmentation: path.join(MODELS_DIR, 'lv_segmentation'), trustStore, engine: { intraOpThreads: 1 } },
    socket: { path: path.join(dir, sock) }, log: log as never,
  });
  t.teardown(() => rt.close());
  return { rt, loads };
}

t.test('CONFIGURE_STREAM with a frame running and one waiting: the models load once for the new configuration, not again for the old one and back', async (t) => {
  // Before, the waiting frame (of the old configuration) ran after the new models were loading: the runtime closed
  // them and loaded the old configuration's again for that one frame, and the first frame after the reply loaded the
  // new one's a second time (four loads for one reconfigure; that first frame waited for a whole load and warm-up).
  const { rt, loads } = await countingRuntime(t, 'rt.sock');
  const { c, results } = await subscribedClient(t, rt, 'reconfigure-test');
  const { frames } = await readSampleCine();
  await c.configure(before);
  t.equal(loads.length, 1, 'loaded for the first configuration');
  // Written in one go: frame 1 starts, frame 2 waits behind it, then the reconfigure.
  c.send(msg.frame(c.nextSeq(), { stream: 0, seq: 1, t: 0 }, frames[0]));
  c.send(msg.frame(c.nextSeq(), { stream: 0, seq: 2, t: 33 }, frames[1]));
  const reply = parseConfigureReply((await c.configure(after)).body);
  t.same(reply, { stream: 0, frameBytes: 65536 });
  await until(() => results.some((r) => r.seq === 1), 'the result of frame 1');
  c.send(msg.frame(c.nextSeq(), { stream: 0, seq: 3, t: 66 }, frames[2]));
  await until(() => results.some((r) => r.seq === 3), 'the result of frame 3');
  t.same(results.map((r) => r.seq), [1, 3], 'frame 1 ran on its own models; frame 2, of a configuration gone, was dropped');
  t.equal(results[1].flags & ResultFlag.DROPPED_BEFORE, ResultFlag.DROPPED_BEFORE, 'frame 3\'s result says a frame before it was dropped (DROPPED_BEFORE)');
  t.equal(loads.length, 2, `models loaded once per configuration (loads: ${JSON.stringify(loads)})`);
  t.match(rt.server.stats, { framesIn: 3, framesProcessed: 2, framesDropped: 1 });
});

t.test('CONFIGURE_STREAM that changes only fps keeps the loaded models; one that changes the geometry loads new ones', async (t) => {
  // Before, any new configuration object reloaded the stream's models (a new preprocessing plan and a warm-up), even
  // one that kept the geometry: fps is read only by DICOM capture (frame time), never by the models or preprocessing.
  const { rt, loads } = await countingRuntime(t, 'rt-fps.sock');
  const { c, results } = await subscribedClient(t, rt, 'reconfigure-fps-test');
  const { frames } = await readSampleCine();
  await c.configure(before);
  t.equal(loads.length, 1, 'loaded for the first configuration');
  c.send(msg.frame(c.nextSeq(), { stream: 0, seq: 1, t: 0 }, frames[0]));
  await until(() => results.some((r) => r.seq === 1), 'the result of frame 1');
  await c.configure({ ...before, fps: 50 });
  c.send(msg.frame(c.nextSeq(), { stream: 0, seq: 2, t: 20 }, frames[1]));
  await until(() => results.some((r) => r.seq === 2), 'the result of frame 2');
  t.equal(loads.length, 1, `fps only: the models loaded for the first configuration serve on (loads: ${JSON.stringify(loads)})`);
  await c.configure({ ...after, fps: 50 });
  c.send(msg.frame(c.nextSeq(), { stream: 0, seq: 3, t: 40 }, frames[2]));
  await until(() => results.some((r) => r.seq === 3), 'the result of frame 3');
  t.equal(loads.length, 2, 'a new roi: models loaded for the new geometry');
  t.same(results.map((r) => r.seq), [1, 2, 3], 'every frame answered');
  t.match(rt.server.stats, { framesIn: 3, framesProcessed: 3, framesDropped: 0, framesFailed: 0 });
});

t.test('CONFIGURE_STREAM.flip: a new flip loads the models for it, and a mirrored frame reads as the upright one', async (t) => {
  const { rt, loads } = await countingRuntime(t, 'rt-flip.sock');
  const { c, results } = await subscribedClient(t, rt, 'reconfigure-flip-test', { masks: true, contours: true });
  const { frames } = await readSampleCine();
  const mirrored = flippedFrame(frames[3], 'horizontal');
  await c.configure({ ...after, flip: 'none' }); // its sector box is centred, so the mirrored frame's crop is the upright crop mirrored
  await c.configure(after);
  t.equal(loads.length, 1, 'flip none and no flip are the same geometry: the models stay');
  c.send(msg.frame(c.nextSeq(), { stream: 0, seq: 1, t: 0 }, frames[3]));
  await until(() => results.some((r) => r.seq === 1), 'the result of frame 1');
  await c.configure({ ...after, flip: 'horizontal' });
  t.equal(loads.length, 2, 'a new flip: models loaded for it');
  await c.configure({ ...after, flip: 'horizontal', fps: 50 });
  t.equal(loads.length, 2, 'the same flip again (fps changed): the models stay');
  c.send(msg.frame(c.nextSeq(), { stream: 0, seq: 2, t: 33 }, mirrored));
  await until(() => results.some((r) => r.seq === 2), 'the result of frame 2');
  const [upright, flipped] = [1, 2].map((s) => results.find((r) => r.seq === s)!);
  t.equal(flipped.view, upright.view, `view ${flipped.view}`);
  t.ok(Math.abs(flipped.quality! - upright.quality!) <= 1e-5, `quality ${flipped.quality} vs ${upright.quality}`);
  t.ok(upright.lvAreaMm2 !== null && flipped.lvAreaMm2 === upright.lvAreaMm2, `LV area ${flipped.lvAreaMm2} vs ${upright.lvAreaMm2}`);
  // The mask and contour come in the flipped frame's orientation: the upright ones mirrored.
  const m = upright.mask!;
  t.same(Array.from(flipped.mask!.data), Array.from(flipMask(m.data, m.width, m.height, 'horizontal')), 'the mask, mirrored');
  const xs = (c: number[]) => c.filter((_, i) => i % 2 === 0);
  const [a, b] = [xs(flipped.contour!), xs(upright.contour!)];
  // Frame x of the mirrored frame is 255 - x; the simplified outlines keep other vertices, so their extents are compared.
  t.ok(Math.abs(Math.min(...a) - (255 - Math.max(...b))) <= 2 && Math.abs(Math.max(...a) - (255 - Math.min(...b))) <= 2,
    `the contour, mirrored: x ${Math.min(...a)}..${Math.max(...a)} against 255 - (${Math.min(...b)}..${Math.max(...b)})`);
});
