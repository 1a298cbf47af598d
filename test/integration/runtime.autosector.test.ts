// CONFIGURE_STREAM.autoSector over a real socket, with the real runtime and the
// bundled models: full-screen frames (a speckled fan inside scanner UI, from
// test/helpers/screen.ts) go in without a roi; the first `frames` frames go to
// the sector finder (each answered with a SECTOR_SEARCH result), then the
// models open on the box found and every later result carries it as `roi`.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTrustStore, MODELS_DIR } from '../../src/model/package.js';
import { findSector } from '../../src/preprocess/sector.js';
import { MessageType, ResultFlag } from '../../src/protocol/constants.js';
import { WireError } from '../../src/protocol/errors.js';
import { parseConfigureReply, parseError, type ConfigureStream } from '../../src/protocol/messages.js';
import { Runtime } from '../../src/runtime/index.js';
import { RemoteError } from '../../src/transport/socket-client.js';
import { subscribedClient } from '../helpers/client.js';
import { makeScreen } from '../helpers/screen.js';
import { until } from '../helpers/wait.js';

const W = 640;
const H = 480;
const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-autosector-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const screen = makeScreen({
  width: W, height: H, format: 'GRAY8', frames: 6, seed: 3,
  shape: { kind: 'sector', apex: { x: 320, y: 60 }, angleStart: -0.6, angleEnd: 0.6, radius: 380 },
});

const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
const rt = await Runtime.start({
  pipeline: { viewQuality: path.join(MODELS_DIR, 'view_quality'), segmentation: path.join(MODELS_DIR, 'lv_segmentation'), trustStore },
  socket: { path: path.join(dir, 'rt.sock') },
});
t.teardown(() => rt.close());
const { c, results } = await subscribedClient(t, rt, 'autosector-test');
const errors: { seq: number; code: number; message: string }[] = [];
c.on('message', (m) => {
  if (m.header.type !== MessageType.ERROR) return;
  const e = parseError(m.body);
  errors.push({ seq: m.header.seq, code: e.code, message: e.message });
});

const base = (stream: number): ConfigureStream => ({ stream, width: W, height: H, format: 'GRAY8', spacing: [0.3, 0.3], fps: 30 });

t.test('a full-screen stream finds its sector from its first frames, then runs the models on the box found', async (t) => {
  const reply = parseConfigureReply((await c.configure({ ...base(0), autoSector: { frames: 3 } })).body);
  t.same(reply, { stream: 0, frameBytes: W * H }, 'the reply comes at once: no models are loaded before the sector is found');
  t.equal(rt.state, 'ready', 'no stream models yet');

  for (let i = 0; i < 3; i++) c.sendFrame(0, i, screen.frames[i]);
  await until(() => results.length === 3);
  for (const [i, r] of results.entries()) {
    t.same({ seq: r.seq, flags: r.flags, state: r.state, view: r.view, quality: r.quality, lvAreaMm2: r.lvAreaMm2, roi: r.roi },
      { seq: i, flags: ResultFlag.SECTOR_SEARCH | ResultFlag.UNKNOWN, state: 'unknown', view: null, quality: null, lvAreaMm2: null, roi: undefined },
      `frame ${i}: answered by the search, no values`);
  }
  const expected = findSector(screen.frames.slice(0, 3), W, H, 'GRAY8');
  t.equal(expected.found, true);
  const box = expected.found ? expected.box : undefined;
  // The finder's box against the fan drawn: within 2 pixels on every side.
  const truth = screen.truth;
  const SIDE_TOLERANCE_PX = 2;
  for (const [a, b] of [[box!.x, truth.x], [box!.y, truth.y], [box!.x + box!.width, truth.x + truth.width], [box!.y + box!.height, truth.y + truth.height]]) {
    t.ok(Math.abs(a - b) <= SIDE_TOLERANCE_PX, `box side ${a} within ${SIDE_TOLERANCE_PX} px of the drawn ${b}`);
  }

  // The models load on the box found; frames sent meanwhile wait (latest wins), later ones run.
  await until(() => rt.state === 'running');
  for (let i = 3; i < 6; i++) {
    const before = results.length;
    c.sendFrame(0, i, screen.frames[i]);
    await until(() => results.length > before);
  }
  const after = results.slice(3);
  t.same(after.map((r) => r.seq), [3, 4, 5]);
  for (const r of after) {
    t.equal(r.flags & ResultFlag.SECTOR_SEARCH, 0, `frame ${r.seq}: from the models`);
    t.same(r.roi, box, `frame ${r.seq}: carries the box found`);
    t.type(r.view, 'string');
    t.type(r.quality, 'number');
  }
  t.same(rt.server.stats.framesIn, 6);
  t.same(rt.server.stats.framesProcessed, 6, 'every frame got a result: three from the search, three from the models');
  t.same(errors, []);
});

t.test('a stream whose frames hold no image: ERROR SECTOR_NOT_FOUND once per batch, and the search goes on', async (t) => {
  errors.length = 0;
  results.length = 0;
  await c.configure({ ...base(1), autoSector: { frames: 2 } });
  const blank = new Uint8Array(W * H);
  const seqs = [0, 1, 2, 3].map((i) => c.sendFrame(1, i, blank));
  await until(() => results.length === 4 && errors.length === 2);
  const message = 'Expected an image region in the first 2 frames of stream 1 (CONFIGURE_STREAM.autoSector) but the sector finder found none '
    + '(BLANK: Expected an image region in the 640x480 frames but received nothing that differs from the background (grey level 0)); it looks again at the next 2';
  t.same(errors, [
    { seq: seqs[1], code: WireError.SECTOR_NOT_FOUND, message },
    { seq: seqs[3], code: WireError.SECTOR_NOT_FOUND, message },
  ], 'a reply to the frame that completed each batch');
  t.same(results.map((r) => [r.stream, r.seq, r.flags]), [0, 1, 2, 3].map((i) => [1, i, ResultFlag.SECTOR_SEARCH | ResultFlag.UNKNOWN]));
  // Then an image: found on the next batch.
  c.sendFrame(1, 4, screen.frames[0]);
  c.sendFrame(1, 5, screen.frames[1]);
  await until(() => results.length === 6);
  await until(() => rt.streams.get(1)?.sectorRoi !== undefined);
  const found = findSector(screen.frames.slice(0, 2), W, H, 'GRAY8');
  t.same(rt.streams.get(1)?.sectorRoi, found.found ? found.box : null);
});

t.test('autoSector refused where the finder cannot serve it', async (t) => {
  const refused = async (cfg: ConfigureStream) => {
    try {
      await c.configure(cfg);
    } catch (e) {
      return { code: (e as RemoteError).wireCode, message: (e as RemoteError).message };
    }
    throw new Error('Expected an ERROR reply but received success');
  };
  t.same(await refused({ ...base(2), autoSector: { frames: 3 }, roi: { x: 0, y: 0, width: 10, height: 10 } }),
    { code: WireError.BAD_FIELD, message: 'Expected either CONFIGURE_STREAM.roi or CONFIGURE_STREAM.autoSector but received both' });
  t.same(await refused({ ...base(2), format: 'YUYV', autoSector: { frames: 3 } }),
    { code: WireError.BAD_FIELD, message: 'Expected GRAY8, RGB8, BGR8, RGBA8 or BGRA8 with autoSector (the formats the sector finder reads) for CONFIGURE_STREAM.format but received "YUYV" of type string' });
  t.same(await refused({ ...base(2), stride: 700, autoSector: { frames: 3 } }),
    { code: WireError.BAD_FIELD, message: 'Expected no stride or 640 (packed rows) with autoSector for CONFIGURE_STREAM.stride but received 700 of type number' });
  t.same(await refused({ ...base(2), autoSector: { frames: 65 } }),
    { code: WireError.BAD_FIELD, message: 'Expected integer 1..64 for CONFIGURE_STREAM.autoSector.frames but received 65 of type number' });
  t.equal(rt.streams.get(2), undefined, 'nothing configured');
});
