// The runtime's DICOM capture hook (Runtime with the `dicom` option) in
// process, for what a spawned serve cannot show cheaply: a SWAP writes what a
// stream captured on the old models before it goes on with the new ones (each
// SR names the models its frames ran on; one study throughout), and a
// reconfigured stream starts a new capture in its new study; a capture that
// cannot be written is a log line with its code and nothing else. Frames go in
// lockstep over the real socket, through the real pipeline.
import t, { type Test } from 'tap';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadTrustStore, MODELS_DIR } from '../../src/model/package.js';
import { msg, type ConfigureStream, type ResultBody } from '../../src/protocol/messages.js';
import { Runtime } from '../../src/runtime/index.js';
import type { SocketClient } from '../../src/transport/socket-client.js';
import { subscribedClient } from '../helpers/client.js';
import { signManifest } from '../helpers/packages.js';
import { readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { until } from '../helpers/wait.js';

const VQ = path.join(MODELS_DIR, 'view_quality');
const SEG = path.join(MODELS_DIR, 'lv_segmentation');

/** A client of `rt` (closed, with `rt`, at the end of `t`), subscribed: its RESULT bodies in order, and the sample cine's frames. */
async function subscribed(t: Test, rt: Runtime): Promise<{ c: SocketClient; results: ResultBody[]; frames: Uint8Array[] }> {
  t.teardown(() => rt.close());
  const { c, results } = await subscribedClient(t, rt, 'runtime-dicom-test');
  const { frames } = await readSampleCine();
  return { c, results, frames };
}

t.test('a SWAP and a new CONFIGURE_STREAM each end a capture: every SR names the models its frames ran on, in its stream\'s study', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-rt-dicom-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // The bundled view package as version 1.0.1 (re-signed with the development key): a model the SR can tell apart.
  const next = path.join(dir, 'vq-1.0.1');
  await cp(VQ, next, { recursive: true });
  const manifest = JSON.parse(await readFile(path.join(VQ, 'manifest.json'), 'utf8'));
  await signManifest(next, { ...manifest, version: '1.0.1' });
  /** The runtime's 'clip captured' log lines. */
  const captured: { seqs: [number, number]; study: string; objects: string[] }[] = [];
  const noop = () => undefined;
  const rt = await Runtime.start({
    pipeline: { viewQuality: VQ, segmentation: SEG, trustStore: await loadTrustStore(path.join(MODELS_DIR, 'trust')) },
    socket: { path: path.join(dir, 'rt.sock') },
    // 8 frames at 32 fps: a quarter second.
    dicom: { dir: path.join(dir, 'dicom'), capture: { seconds: 0.25 } },
    log: { info: (o: object, m: string) => { if (m === 'clip captured') captured.push(o as (typeof captured)[number]); }, warn: noop, error: noop, debug: noop } as never,
  });
  const { c, results, frames } = await subscribed(t, rt);
  const send = async (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const n = results.length;
      c.sendFrame(1, i, frames[i]);
      await until(() => results.length === n + 1, `the result of frame ${i}`);
    }
  };
  const geometry: ConfigureStream = { stream: 1, width: 256, height: 256, format: 'GRAY8', spacing: [SAMPLE_SPACING_MM, SAMPLE_SPACING_MM], fps: 32 };
  await c.configure({ ...geometry, study: { PatientID: 'P-1', StudyInstanceUID: '1.2.826.0.1.3680043.8.498.1' } });
  await send(0, 8);
  await c.request((seq) => msg.loadModel(seq, { path: next }));
  await c.request((seq) => msg.swap(seq, { id: 'sonoedge-view-quality@1.0.1' }));
  await until(() => captured.length === 1, 'the capture made before the swap');
  t.same([captured[0].seqs, captured[0].study], [[0, 7], '1.2.826.0.1.3680043.8.498.1'], 'written at the swap: the frames that ran on the old model');
  await send(8, 16);
  await c.configure({ ...geometry, study: { PatientID: 'P-2', StudyInstanceUID: '1.2.826.0.1.3680043.8.498.2' } });
  await until(() => captured.length === 2, 'the capture made after the swap');
  t.same([captured[1].seqs, captured[1].study], [[8, 15], '1.2.826.0.1.3680043.8.498.1'], 'the frames after the swap, still in the stream\'s study, written at the new CONFIGURE_STREAM');
  await send(0, 8);
  await c.request((seq) => msg.closeStream(seq, { stream: 1 }));
  await until(() => captured.length === 3, 'the capture of the new configuration');
  t.same([captured[2].seqs, captured[2].study], [[0, 7], '1.2.826.0.1.3680043.8.498.2'], 'the new configuration, in its own study');
  t.equal(rt.dicom?.capture.written, 3);
  // Each SR names the view model its frames ran on (TID 4019 algorithm parameters: name@version).
  const models = async (s: (typeof captured)[number]) => {
    const sr = (await readFile(path.join(dir, 'dicom', 'captures', s.objects.find((o) => o.startsWith('sr-'))!))).toString('latin1');
    return ['1.0.0', '1.0.1'].filter((v) => sr.includes(`sonoedge-view-quality@${v}`));
  };
  t.same([await models(captured[0]), await models(captured[1]), await models(captured[2])], [['1.0.0'], ['1.0.1'], ['1.0.1']]);
});

t.test('a capture that cannot be written is logged with its code; the stream\'s results are not touched', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-rt-dicom-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const errors: { code?: string; msg: string }[] = [];
  const noop = () => undefined;
  const rt = await Runtime.start({
    pipeline: { viewQuality: VQ, segmentation: SEG, trustStore: await loadTrustStore(path.join(MODELS_DIR, 'trust')) },
    socket: { path: path.join(dir, 'rt.sock') },
    dicom: { dir: path.join(dir, 'dicom'), capture: { seconds: 0.25 } },
    log: { info: noop, warn: noop, error: (o: { code?: string }, m: string) => errors.push({ code: o.code, msg: m }), debug: noop } as never,
  });
  const { c, results, frames } = await subscribed(t, rt);
  await c.configure({ stream: 2, width: 256, height: 256, format: 'GRAY8', spacing: [SAMPLE_SPACING_MM, SAMPLE_SPACING_MM], fps: 32 });
  // The capture folder's temporary folder becomes a file: every write fails (ENOTDIR), whoever runs the test.
  await rm(path.join(dir, 'dicom', 'captures', '.tmp'), { recursive: true });
  await writeFile(path.join(dir, 'dicom', 'captures', '.tmp'), '');
  for (let i = 0; i < 16; i++) {
    c.sendFrame(2, i, frames[i]);
    await until(() => results.length === i + 1, `the result of frame ${i}`);
  }
  await c.request((seq) => msg.closeStream(seq, { stream: 2 }));
  // The stream's close does not wait for its captures (they are written off it), and the runtime is 'ready' again
  // only once the stream's models have closed: the failure's log line and that come in either order.
  await until(() => errors.length >= 1 && rt.state !== 'running', 'the failure to be logged and the stream\'s models closed');
  t.same(errors, [{ code: 'ENOTDIR', msg: 'capture failed' }], 'one line, with the error\'s code');
  t.same(results.map((r) => r.seq), Array.from({ length: 16 }, (_, i) => i), 'every frame had its result');
  t.equal(rt.dicom?.capture.written, 0);
  t.equal(rt.state, 'ready', 'the runtime is not faulted by it (ready: no stream open)');
});
