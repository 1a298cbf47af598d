// The PACS outbox's state where the firmware reads it (docs/PROTOCOL.md):
// STATUS.outbox on the socket and bits 2-3 of the serial HEARTBEAT/STATUS
// flags, from a real runtime (socket server on a Unix socket, serial link on
// a socat pty pair, the real outbox). Without a PACS: outbox nil, bits 2-3
// zero. With a PACS nobody listens for, a clip left in pending/ makes the
// last try fail (bit 2, lastErrorCode ERR_SONOEDGE_PACS), and a pending entry
// that cannot be read (a folder) goes to failed/ (bit 3: an operator is
// needed). An object left in failed/ by an earlier run sets bit 3 from the
// first heartbeat (STATUS.outbox.inFailed: in failed/ now; failed: moved there
// since start).
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadTrustStore, MODELS_DIR } from '../../src/model/package.js';
import { msg, parseStatusReply, type StatusReply } from '../../src/protocol/messages.js';
import { frameRecord, HeartbeatFlag, type HeartbeatRecord } from '../../src/protocol/serial.js';
import type { DicomServiceConfig } from '../../src/dicom/service.js';
import { Runtime } from '../../src/runtime/index.js';
import { SocketClient } from '../../src/transport/socket-client.js';
import { seedFailed, tinyCapture } from '../helpers/capture.js';
import { freePort } from '../helpers/net.js';
import { firmwareEnd, ptyPair } from '../helpers/pty.js';
import { until } from '../helpers/wait.js';

const VQ = path.join(MODELS_DIR, 'view_quality');
const SEG = path.join(MODELS_DIR, 'lv_segmentation');
const noSocat = spawnSync('sh', ['-c', 'command -v socat']).status !== 0 ? 'socat missing (.ci/run installs it)' : false;
const noop = () => undefined;

/** A runtime with `dicom` on a socket and a pty pair; its STATUS reply and its serial HEARTBEAT/STATUS records, read as the firmware would. */
async function start(t: Test, dir: string, dicom?: DicomServiceConfig) {
  const { a, b, proc } = await ptyPair();
  t.teardown(() => { proc.kill(); });
  const rt = await Runtime.start({
    pipeline: { viewQuality: VQ, segmentation: SEG, trustStore: await loadTrustStore(path.join(MODELS_DIR, 'trust')) },
    socket: { path: path.join(dir, 'rt.sock') },
    serial: { path: a, baudRate: 115200, heartbeatMs: 50 },
    ...(dicom ? { dicom } : {}),
    log: { info: noop, warn: noop, error: noop, debug: noop } as never,
  });
  t.teardown(() => rt.close());
  const { fw, records } = await firmwareEnd<HeartbeatRecord>(t, b, (r) => r.kind === 'HEARTBEAT' || r.kind === 'STATUS');
  const c = await SocketClient.connect(rt.server.path);
  t.teardown(() => c.close());
  await c.hello('outbox-status-test');
  const status = async (): Promise<StatusReply> => parseStatusReply((await c.request((seq) => msg.status(seq))).body);
  /** The next heartbeat, and the STATUS record answering a CMD_REQUEST_STATUS sent now. */
  const serial = async (cmdSeq: number) => {
    const from = records.length;
    fw.write(frameRecord({ kind: 'CMD_REQUEST_STATUS', cmdSeq }));
    return until(() => {
      const got = records.slice(from);
      const beat = got.find((r) => r.kind === 'HEARTBEAT');
      const st = got.find((r) => r.kind === 'STATUS' && r.cmdSeq === cmdSeq);
      return beat && st ? { beat, status: st } : undefined;
    }, `a heartbeat and the STATUS record answering ${cmdSeq}`);
  };
  return { rt, status, serial, records };
}

/** Bits 2 and 3 of the flags (docs/PROTOCOL.md), written out: the constants are checked against them here. */
const PACS_BITS = 0b1100;
t.same([HeartbeatFlag.PACS_FAILING, HeartbeatFlag.PACS_ATTENTION], [0b0100, 0b1000], 'HeartbeatFlag: bits 2 and 3');

t.test('no PACS: STATUS.outbox is nil, serial flags bits 2-3 are zero', { skip: noSocat }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-rt-outbox-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { status, serial } = await start(t, dir);
  const st = await status();
  t.equal(st.outbox, null, 'outbox nil');
  const { beat, status: rec } = await serial(3);
  t.equal(beat.flags & PACS_BITS, 0, 'heartbeat: bits 2-3 zero');
  t.equal(rec.flags & PACS_BITS, 0, 'status record: bits 2-3 zero');
  t.equal(beat.flags & HeartbeatFlag.MODEL_LOADED, HeartbeatFlag.MODEL_LOADED, 'bit 1 (model loaded) as before');

  // A folder of captures only (dicom without pacs) has no outbox either.
  const dir2 = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-rt-outbox-'));
  t.teardown(() => rm(dir2, { recursive: true, force: true }));
  const captures = await start(t, dir2, { dir: path.join(dir2, 'dicom') });
  t.equal((await captures.status()).outbox, null, 'dicom without pacs: outbox nil');
  t.equal((await captures.serial(4)).beat.flags & PACS_BITS, 0, 'dicom without pacs: bits 2-3 zero');
});

t.test('a PACS nobody listens for: STATUS.outbox says the last try failed and why; bit 2 set; an object in failed/ sets bit 3', { skip: noSocat }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-rt-outbox-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // A clip left in pending/ by an earlier run: sent at the start, to a port nobody listens on.
  const box = path.join(dir, 'dicom', 'outbox');
  const study = { PatientID: 'P-O', StudyInstanceUID: '1.2.826.0.1.3680043.8.498.1416' };
  const [clip] = tinyCapture(study);
  await mkdir(path.join(box, 'pending'), { recursive: true });
  await writeFile(path.join(box, 'pending', '00000000000001-000000-clip.dcm'), clip.bytes);
  const pacs = { host: '127.0.0.1', port: await freePort(), calledAet: 'NOBODY', retryMinMs: 100, retryMaxMs: 200 };
  const { rt, status, serial } = await start(t, dir, { dir: path.join(dir, 'dicom'), pacs });
  const failing = await until(async () => { const s = await status(); return s.outbox?.lastTryFailed ? s : undefined; }, 'the last try failed');
  t.same(failing.outbox, { pending: 1, held: 0, failed: 0, inFailed: 0, lastTryFailed: true, lastErrorCode: 'ERR_SONOEDGE_PACS' }, 'STATUS.outbox: one waits, the last try failed, a PACS error');
  const { beat, status: rec } = await serial(5);
  t.equal(beat.flags & PACS_BITS, HeartbeatFlag.PACS_FAILING, 'heartbeat: bit 2 (the last try failed), not bit 3');
  t.equal(rec.flags & PACS_BITS, HeartbeatFlag.PACS_FAILING, 'status record: bit 2, not bit 3');
  t.equal(rec.cmdSeq, 5);

  // A pending entry that cannot be read (a folder: EISDIR) goes to failed/ after maxReadFailures (3) tries in a row, a
  // few retries on: then an operator is needed, and bit 3 says so.
  await mkdir(path.join(box, 'pending', '00000000000002-000000-sr.dcm'));
  // Read once the tries after the move have listed pending/ again (the clip alone, failing at the PACS).
  const attention = await until(async () => {
    const s = await status();
    return s.outbox && s.outbox.failed > 0 && s.outbox.pending === 1 && s.outbox.lastErrorCode === 'ERR_SONOEDGE_PACS' ? s : undefined;
  }, 'the unreadable entry moved to failed/, the clip failing alone');
  t.same(attention.outbox, { pending: 1, held: 0, failed: 1, inFailed: 1, lastTryFailed: true, lastErrorCode: 'ERR_SONOEDGE_PACS' }, 'STATUS.outbox: one in failed/, the clip still waits');
  const after = await serial(6);
  t.equal(after.beat.flags & PACS_BITS, PACS_BITS, 'heartbeat: bits 2 and 3');
  t.equal(after.status.flags & PACS_BITS, PACS_BITS, 'status record: bits 2 and 3');
  t.equal(rt.dicom?.outboxStats?.failed, 1);
});

t.test('an object left in failed/ by an earlier run: bit 3 from the first heartbeat, STATUS.outbox.inFailed 1 and failed 0', { skip: noSocat }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-rt-outbox-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await seedFailed(path.join(dir, 'dicom', 'outbox', 'failed'), ['00000000000001-000000-sr.dcm'], 'NOBODY@127.0.0.1');
  // Nothing pending: no try is made, none fails (bit 2 clear).
  const pacs = { host: '127.0.0.1', port: await freePort(), calledAet: 'NOBODY', retryMinMs: 100, retryMaxMs: 200 };
  const { status, serial, records } = await start(t, dir, { dir: path.join(dir, 'dicom'), pacs });
  // Before, bit 3 followed `failed` (moves since this start): 0 after a restart, with the refused object still there.
  const first = await until(() => records.find((r) => r.kind === 'HEARTBEAT'), 'the first heartbeat');
  t.equal(first.flags & PACS_BITS, HeartbeatFlag.PACS_ATTENTION, 'the first heartbeat: bit 3 (an operator is needed), not bit 2');
  t.same((await status()).outbox, { pending: 0, held: 0, failed: 0, inFailed: 1, lastTryFailed: false, lastErrorCode: null }, 'STATUS.outbox: 1 in failed/, none moved there since start');
  const { status: rec } = await serial(7);
  t.equal(rec.flags & PACS_BITS, HeartbeatFlag.PACS_ATTENTION, 'status record: bit 3');
});
