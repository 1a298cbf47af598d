// Golden vectors of the firmware protocols, generated from the TypeScript
// codec: one .bin per message or record under test/fixtures/protocol/, an
// index.json describing each, and index.txt (the same, line-oriented, for the
// C tests). Run: node --import tsx scripts/gen-protocol-fixtures.ts [outdir]
// test/unit/protocol.golden.test.ts checks the committed files match.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeMessage, encodeMessage, type EncodeInput } from '../src/protocol/codec.js';
import { messageTypeName, ResultFlag, ResultState, RuntimeState } from '../src/protocol/constants.js';
import { WireError } from '../src/protocol/errors.js';
import { msg } from '../src/protocol/messages.js';
import { encodeRingHeader } from '../src/protocol/ring.js';
import { encodeRecord, frameRecord, HeartbeatFlag, RecordType, type SerialRecord } from '../src/protocol/serial.js';

export interface Vector {
  file: string;
  kind: 'socket' | 'serial' | 'ring';
  name: string;
  description: string;
  bytes: Buffer;
  /** socket: header fields and the decoded body (bin as {hex}); serial: the decoded record; ring: the header's fields. */
  json: Record<string, unknown>;
}

const pattern = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff));

function toJson(v: unknown): unknown {
  if (v instanceof Uint8Array) return { hex: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(toJson);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
}

const socketCases: Array<[string, string, EncodeInput]> = [
  ['hello', 'client HELLO offering version 1', msg.hello(1, { versions: [1], client: 'golden-client', features: [] })],
  ['hello-reply', 'server HELLO reply choosing version 1', msg.helloReply(1, { version: 1, server: 'sonoedge 0.1.0', maxMessageSize: 33554432, features: ['results', 'masks'] })],
  ['configure-stream', 'CONFIGURE_STREAM 64x48 GRAY8 with ROI and sector', msg.configure(2, {
    stream: 0, width: 64, height: 48, format: 'GRAY8', spacing: [0.25, 0.3], roi: { x: 4, y: 2, width: 56, height: 44 },
    sector: { angleStart: -0.7, angleEnd: 0.7, depthStart: 0, depthEnd: 120 }, fps: 30,
  })],
  ['configure-stream-reply', 'CONFIGURE_STREAM reply with the frame size', msg.configureReply(2, { stream: 0, frameBytes: 3072 })],
  ['configure-stream-ring', 'CONFIGURE_STREAM 64x48 GRAY8 naming a firmware-made ring of 4 slots of 8192 bytes', msg.configure(18, {
    stream: 1, width: 64, height: 48, format: 'GRAY8', spacing: [0.25, 0.25], fps: 60, ring: { name: '/fw-ring-1', slots: 4, slotBytes: 8192 },
  })],
  ['configure-stream-ring-create', 'CONFIGURE_STREAM asking the runtime to make a ring of 8 slots', msg.configure(19, {
    stream: 2, width: 64, height: 48, format: 'GRAY8', spacing: [0.25, 0.25], fps: 60, ring: { create: true, slots: 8 },
  })],
  ['configure-stream-ring-reply', 'CONFIGURE_STREAM reply naming the ring the runtime made', msg.configureReply(19, {
    stream: 2, frameBytes: 3072, ring: { name: '/sonoedge-4242-0123456789ab', slots: 8, slotBytes: 4096 },
  })],
  ['frame', 'FRAME of an 8x4 GRAY8 image (32 payload bytes)', msg.frame(3, { stream: 0, seq: 7, t: 1234.5 }, pattern(32))],
  ['frame-ready', 'FRAME_READY for shared-memory slot 2', msg.frameReady(4, { stream: 0, seq: 8, t: 1251.25, slot: 2 })],
  ['slot-release', 'SLOT_RELEASE of slot 2 (frame 8)', msg.slotRelease(9, { stream: 0, slot: 2, seq: 8 })],
  ['subscribe', 'SUBSCRIBE to stream 0, view and quality and lv, with masks', msg.subscribe(5, { streams: [0], results: ['view', 'quality', 'lv'], masks: true, contours: false })],
  ['subscribe-reply', 'SUBSCRIBE reply: the effective subscription', msg.subscribeReply(5, { streams: [0], results: ['view', 'quality', 'lv'], masks: true, contours: false })],
  ['result', 'RESULT without mask, state ok, no in-distribution score (a view model without one)', msg.result(10, {
    stream: 0, seq: 7, t: 1234.5, view: 'A4C', confidence: 0.875, quality: 0.625, state: 'ok', idScore: null, lvAreaMm2: 1520.25, ef: null,
    efCi: null, edSeq: null, esSeq: null,
    flags: ResultFlag.HAS_LV_AREA, latency: { queueMs: 0.125, totalMs: 6.5, stages: { preprocess: 0.75, engine: 5.25, postprocess: 0.375 } },
  })],
  ['result-mask', 'RESULT with a 4x4 mask and a contour, EF with its interval, confirming the ES of frame 69995, uncertain', msg.result(11, {
    stream: 1, seq: 70000, t: 99.0625, view: 'PLAX', confidence: 0.5, quality: 0.25, state: 'uncertain', idScore: 0.5625, lvAreaMm2: null, ef: 55.5,
    efCi: [50.25, 60.75], edSeq: null, esSeq: 69995,
    flags: ResultFlag.HAS_EF | ResultFlag.LOW_QUALITY | ResultFlag.ES | ResultFlag.UNCERTAIN | ResultFlag.EF_LOW_QUALITY, latency: { queueMs: 0, totalMs: 12.5, stages: {} },
    mask: { width: 4, height: 4, data: Uint8Array.from([0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]) }, contour: [1, 1, 2, 1, 2, 2, 1, 2],
  })],
  ['result-unknown', 'RESULT of an unknown frame: view and quality, no LV, no EF, the score that said so', msg.result(20, {
    stream: 0, seq: 8, t: 1267.75, view: 'A2C', confidence: 0.625, quality: 0.75, state: 'unknown', idScore: 0.125, lvAreaMm2: null, ef: null,
    efCi: null, edSeq: null, esSeq: null,
    flags: ResultFlag.UNKNOWN, latency: { queueMs: 0, totalMs: 2.5, stages: {} },
  })],
  ['status', 'STATUS request', msg.status(12)],
  ['status-reply', 'STATUS reply, the PACS outbox failing: 2 waiting, 1 moved to failed/ since start, 3 in failed/ now', msg.statusReply(12, {
    state: 'running', stateCode: RuntimeState.running, uptimeS: 3600.5, model: 'echo-view-v3', streams: [0, 1],
    outbox: { pending: 2, held: 0, failed: 1, inFailed: 3, lastTryFailed: true, lastErrorCode: 'ERR_SONOEDGE_PACS' },
  })],
  ['status-reply-no-pacs', 'STATUS reply of a runtime without a PACS (outbox nil)', msg.statusReply(12, {
    state: 'ready', stateCode: RuntimeState.ready, uptimeS: 12.25, model: 'echo-view-v3', streams: [], outbox: null,
  })],
  ['stats', 'STATS request', msg.stats(13)],
  ['stats-reply', 'STATS reply', msg.statsReply(13, {
    clients: 2, framesIn: 1000, framesProcessed: 990, framesDropped: 10, framesFailed: 0, resultsSent: 1980, resultsDropped: 3, rejected: 1, errorsSent: 1,
  })],
  ['load-model', 'LOAD_MODEL of a package path', msg.loadModel(14, { path: '/opt/sonoedge/models/echo-view-v4.sonopkg', id: 'echo-view-v4' })],
  ['load-model-reply', 'LOAD_MODEL reply', msg.loadModelReply(14, { id: 'echo-view-v4', previous: null })],
  ['swap', 'SWAP to a loaded model', msg.swap(15, { id: 'echo-view-v4' })],
  ['swap-reply', 'SWAP reply', msg.swapReply(15, { id: 'echo-view-v4', previous: 'echo-view-v3' })],
  ['error', 'ERROR answering message 3 (FRAME) with FRAME_SIZE', msg.error(3, WireError.FRAME_SIZE, 'Expected 3072 payload bytes for FRAME of stream 0 but received 32')],
  ['error-slot', 'ERROR answering message 4 (FRAME_READY) with SLOT', msg.error(4, WireError.SLOT,
    'Expected a slot the firmware owns for FRAME_READY on stream 0 but received slot 2, which the runtime holds until its SLOT_RELEASE')],
  ['error-unsolicited', 'ERROR with no request to answer (BAD_MAGIC), fatal', msg.error(undefined, WireError.BAD_MAGIC, 'Expected magic "SONO" at the start of a message but received bytes 0x00ff', true)],
  ['ping', 'PING with a client time', msg.ping(16, 42.5)],
  ['pong', 'PONG echoing the PING body', msg.pong(16, { t: 42.5 })],
  ['close-stream', 'CLOSE_STREAM 0', msg.closeStream(17, { stream: 0 })],
  ['close-stream-reply', 'CLOSE_STREAM reply', msg.closeStreamReply(17, { stream: 0 })],
];

const serialCases: Array<[string, string, SerialRecord]> = [
  ['result', 'result record, all fields present, state ok with score 0.92', {
    kind: 'RESULT', stream: 0, seq: 123456, view: 0, state: RuntimeState.running, flags: ResultFlag.HAS_LV_AREA | ResultFlag.HAS_EF,
    confidence: 0.9375, quality: 0.8125, lvAreaMm2: 1520.25, ef: 57.5, resultState: ResultState.ok, idScore: 0.92, latencyUs: 6500, timeMs: 3600500,
  }],
  ['result-none', 'result record with absent values (0xFFFF / 0xFFFFFFFF; no score: 0)', {
    kind: 'RESULT', stream: 1, seq: 0, view: 255, state: RuntimeState.ready, flags: 0,
    confidence: null, quality: null, lvAreaMm2: null, ef: null, resultState: ResultState.ok, idScore: null, latencyUs: null, timeMs: 0,
  }],
  ['result-unknown', 'result record of an unknown frame, score 0.125', {
    kind: 'RESULT', stream: 0, seq: 123457, view: 1, state: RuntimeState.running, flags: ResultFlag.UNKNOWN,
    confidence: 0.625, quality: 0.75, lvAreaMm2: null, ef: null, resultState: ResultState.unknown, idScore: 0.125, latencyUs: 2500, timeMs: 3600533,
  }],
  ['heartbeat', 'heartbeat record', {
    kind: 'HEARTBEAT', state: RuntimeState.running, modelSet: 1, flags: 3, cmdSeq: 0, uptimeMs: 3600500, framesProcessed: 108000, framesDropped: 12, faultCode: 0, beat: 7201,
  }],
  ['heartbeat-pacs', 'heartbeat record, the PACS outbox failing and needing an operator (flags bits 2 and 3)', {
    kind: 'HEARTBEAT', state: RuntimeState.running, modelSet: 0, flags: HeartbeatFlag.STREAMING | HeartbeatFlag.MODEL_LOADED | HeartbeatFlag.PACS_FAILING | HeartbeatFlag.PACS_ATTENTION,
    cmdSeq: 0, uptimeMs: 7200250, framesProcessed: 216000, framesDropped: 30, faultCode: 0, beat: 14401,
  }],
  ['status', 'status record answering CMD_REQUEST_STATUS 9', {
    kind: 'STATUS', state: RuntimeState.faulted, modelSet: 1, flags: 2, cmdSeq: 9, uptimeMs: 5000, framesProcessed: 150, framesDropped: 0, faultCode: 19, beat: 10,
  }],
  ['ack', 'ACK of CMD_START_STREAM 5, status OK', { kind: 'ACK', cmdType: RecordType.CMD_START_STREAM, status: 0, cmdSeq: 5 }],
  ['cmd-start-stream', 'firmware command: start stream 0', { kind: 'CMD_START_STREAM', cmdSeq: 5, stream: 0 }],
  ['cmd-stop-stream', 'firmware command: stop stream 0', { kind: 'CMD_STOP_STREAM', cmdSeq: 6, stream: 0 }],
  ['cmd-select-model-set', 'firmware command: select model set 2', { kind: 'CMD_SELECT_MODEL_SET', cmdSeq: 7, modelSet: 2 }],
  ['cmd-request-status', 'firmware command: request status', { kind: 'CMD_REQUEST_STATUS', cmdSeq: 9 }],
];

export function buildVectors(): Vector[] {
  const out: Vector[] = [];
  for (const [name, description, input] of socketCases) {
    const bytes = encodeMessage(input);
    const m = decodeMessage(bytes);
    out.push({
      file: `socket-${name}.bin`, kind: 'socket', name, description, bytes,
      json: {
        type: m.header.type, typeName: messageTypeName(m.header.type), flags: m.header.flags, seq: m.header.seq,
        bodyLength: m.header.bodyLength, payloadLength: m.header.payloadLength, body: toJson(m.body),
        payloadHex: m.payload.length ? m.payload.toString('hex') : undefined,
      },
    });
  }
  for (const [name, description, rec] of serialCases) {
    out.push({
      file: `serial-${name}.bin`, kind: 'serial', name, description, bytes: frameRecord(rec),
      json: { recordType: RecordType[rec.kind], recordHex: encodeRecord(rec).toString('hex'), record: rec },
    });
  }
  const ring = { slots: 4, slotBytes: 8192 };
  out.push({
    file: 'ring-header.bin', kind: 'ring', name: 'header', description: 'the 4096-byte header page of a ring of 4 slots of 8192 bytes',
    bytes: encodeRingHeader(ring), json: { magic: 'SONR', version: 1, headerBytes: 4096, ...ring },
  });
  return out;
}

/** index.txt: one line per vector; for socket vectors, the top-level scalar body fields as key:kind:value. */
export function indexText(vectors: Vector[]): string {
  const lines = ['# kind file type flags seq bodyLength payloadLength fields... (socket)', '# kind file recordType recordHex (serial)',
    '# kind file slots slotBytes (ring header)'];
  for (const v of vectors) {
    if (v.kind === 'ring') {
      lines.push(`ring ${v.file} ${v.json.slots as number} ${v.json.slotBytes as number}`);
      continue;
    }
    if (v.kind === 'serial') {
      lines.push(`serial ${v.file} ${v.json.recordType as number} ${v.json.recordHex as string}`);
      continue;
    }
    const j = v.json as { type: number; flags: number; seq: number; bodyLength: number; payloadLength: number; body: Record<string, unknown> };
    const fields: string[] = [];
    for (const [k, x] of Object.entries(j.body)) {
      if (typeof x === 'string') fields.push(`${k}:s:${Buffer.from(x).toString('hex') || '-'}`);
      else if (typeof x === 'boolean') fields.push(`${k}:b:${x ? 1 : 0}`);
      else if (x === null) fields.push(`${k}:n:-`);
      else if (Number.isInteger(x) && (x as number) >= 0) fields.push(`${k}:u:${x as number}`);
      else if (typeof x === 'number') fields.push(`${k}:f:${x}`);
    }
    lines.push(`socket ${v.file} ${j.type} ${j.flags} ${j.seq} ${j.bodyLength} ${j.payloadLength}${fields.length ? ` ${fields.join(' ')}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

export function writeVectors(dir: string): Vector[] {
  const vectors = buildVectors();
  mkdirSync(dir, { recursive: true });
  for (const v of vectors) writeFileSync(path.join(dir, v.file), v.bytes);
  const index = {
    protocolVersion: 1,
    generator: 'scripts/gen-protocol-fixtures.ts',
    vectors: vectors.map((v) => ({ file: v.file, kind: v.kind, name: v.name, description: v.description, length: v.bytes.length, ...v.json })),
  };
  writeFileSync(path.join(dir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
  writeFileSync(path.join(dir, 'index.txt'), indexText(vectors));
  return vectors;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const dir = process.argv[2] ?? path.join(root, 'test', 'fixtures', 'protocol');
  const n = writeVectors(dir).length;
  process.stdout.write(`wrote ${n} vectors to ${dir}\n`);
}
