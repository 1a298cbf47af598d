// RESULT's in-distribution and EF fields over a real Unix socket: what each
// subscription gets. The frame handler is a stand-in for the ML pipeline only.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MessageType, ResultFlag } from '../../src/protocol/constants.js';
import { parseResult, type ConfigureStream } from '../../src/protocol/messages.js';
import { SocketClient } from '../../src/transport/socket-client.js';
import { SocketServer, type FrameHandler } from '../../src/transport/socket-server.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-sockres-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const geometry: ConfigureStream = { stream: 0, width: 16, height: 8, format: 'GRAY8', spacing: [0.3, 0.3], fps: 30 };

t.test('state and idScore go to every subscriber; efCi, edSeq and esSeq with ef; a handler that says nothing is ok with no score', async (t) => {
  const standIn: FrameHandler = async (f) => (f.seq === 1
    ? { view: 'A4C', confidence: 0.9, quality: 0.8 }
    : {
      view: 'A4C', confidence: 0.9, quality: 0.8, state: 'uncertain', idScore: 0.55, lvAreaMm2: 1500, ef: 61.5, efCi: [55.25, 67.75], edSeq: null, esSeq: 1,
      flags: ResultFlag.HAS_LV_AREA | ResultFlag.HAS_EF | ResultFlag.ES | ResultFlag.UNCERTAIN | ResultFlag.EF_LOW_QUALITY,
    });
  const server = new SocketServer({ path: path.join(dir, 's.sock'), handler: standIn });
  await server.listen();
  t.teardown(() => server.close());
  const connect = async (results?: ('view' | 'quality' | 'lv' | 'ef')[]) => {
    const c = await SocketClient.connect(server.path);
    t.teardown(() => c.close());
    await c.hello('socket-result-test');
    await c.subscribe(results ? { results } : {});
    return c;
  };
  const all = await connect();
  const viewOnly = await connect(['view']);
  await all.configure(geometry);
  const pick = (r: ReturnType<typeof parseResult>) => [r.state, r.idScore, r.ef, r.efCi, r.edSeq, r.esSeq, r.flags];

  let a = all.next(MessageType.RESULT);
  let v = viewOnly.next(MessageType.RESULT);
  all.sendFrame(0, 1, Buffer.alloc(128));
  t.same(pick(parseResult((await a).body)), ['ok', null, null, null, null, null, 0], 'a stand-in without a state: ok, no score');
  t.same(pick(parseResult((await v).body)), ['ok', null, null, null, null, null, 0]);

  a = all.next(MessageType.RESULT);
  v = viewOnly.next(MessageType.RESULT);
  all.sendFrame(0, 2, Buffer.alloc(128));
  const flags = ResultFlag.HAS_LV_AREA | ResultFlag.HAS_EF | ResultFlag.ES | ResultFlag.UNCERTAIN | ResultFlag.EF_LOW_QUALITY;
  t.same(pick(parseResult((await a).body)), ['uncertain', 0.55, 61.5, [55.25, 67.75], null, 1, flags]);
  t.same(pick(parseResult((await v).body)), ['uncertain', 0.55, null, null, null, null, flags], 'view only: the state, not the EF');
});
