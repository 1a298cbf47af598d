// The serial link: fixed-layout little-endian records, each followed by its
// CRC-16/CCITT-FALSE (little-endian), COBS-encoded and framed by 0x00 bytes:
//   0x00 COBS(record || crc16_le(record)) 0x00
// The leading 0x00 ends whatever line noise came before, so noise in the gap
// between records costs nothing, and noise inside a record costs that record
// only: the receiver drops everything up to the next 0x00 and decodes the
// next record (resynchronisation within one record).
import { crc16CcittFalse } from './crc.js';
import { RuntimeState, ViewClass, VIEW_UNKNOWN } from './constants.js';
import { ProtocolError } from './errors.js';
import { namesByValue } from '../util/enum.js';

export const RECORD_VERSION = 1;
/** An encoded frame (between two 0x00) longer than this is line noise. */
export const MAX_ENCODED_FRAME = 64;

export const RecordType = {
  RESULT: 0x01,
  HEARTBEAT: 0x02,
  STATUS: 0x03,
  ACK: 0x04,
  CMD_START_STREAM: 0x10,
  CMD_STOP_STREAM: 0x11,
  CMD_SELECT_MODEL_SET: 0x12,
  CMD_REQUEST_STATUS: 0x13,
} as const;
export type RecordTypeName = keyof typeof RecordType;
/** Record types 0x10..0x7f are firmware commands: `u8 type, u8 version, u16 cmdSeq` in every layout version. */
export const COMMAND_TYPES = [0x10, 0x7f] as const;

/** Size of each record type, CRC excluded. */
export const RECORD_SIZE: Readonly<Record<number, number>> = {
  [RecordType.RESULT]: 32,
  [RecordType.HEARTBEAT]: 24,
  [RecordType.STATUS]: 24,
  [RecordType.ACK]: 8,
  [RecordType.CMD_START_STREAM]: 8,
  [RecordType.CMD_STOP_STREAM]: 8,
  [RecordType.CMD_SELECT_MODEL_SET]: 8,
  [RecordType.CMD_REQUEST_STATUS]: 8,
};

export const NONE_U16 = 0xffff;
export const NONE_U32 = 0xffffffff;

export interface ResultRecord {
  kind: 'RESULT';
  stream: number;
  seq: number;
  /** ViewClass number; 255 unknown. */
  view: number;
  /** RuntimeState number. */
  state: number;
  flags: number;
  /** 0..1, or null (sent as 0xFFFF; else round(x * 10000)). */
  confidence: number | null;
  quality: number | null;
  /** mm2, or null (sent as 0xFFFFFFFF; else round(x * 100)). */
  lvAreaMm2: number | null;
  /** percent, or null (sent as 0xFFFF; else round(x * 100)). */
  ef: number | null;
  /** ResultState number (byte 22): 0 ok, 1 uncertain, 2 unknown. */
  resultState: number;
  /** The in-distribution score 0..1 in steps of 0.005, or null (byte 23: 0 absent, else 1 + round(x * 200)). */
  idScore: number | null;
  /** total frame latency in microseconds, or null (0xFFFFFFFF). */
  latencyUs: number | null;
  /** runtime monotonic milliseconds, modulo 2^32. */
  timeMs: number;
}

export interface HeartbeatRecord {
  kind: 'HEARTBEAT' | 'STATUS';
  state: number;
  modelSet: number;
  /** bit 0 streaming, bit 1 model loaded. */
  flags: number;
  /** STATUS: the seq of the CMD_REQUEST_STATUS it answers; HEARTBEAT: 0. */
  cmdSeq: number;
  uptimeMs: number;
  framesProcessed: number;
  framesDropped: number;
  faultCode: number;
  /** Heartbeat counter, modulo 2^16. */
  beat: number;
}

export interface AckRecord { kind: 'ACK'; cmdType: number; status: number; cmdSeq: number }

export interface CommandRecord {
  kind: 'CMD_START_STREAM' | 'CMD_STOP_STREAM' | 'CMD_SELECT_MODEL_SET' | 'CMD_REQUEST_STATUS';
  cmdSeq: number;
  /** START/STOP: the stream. */
  stream?: number;
  /** SELECT_MODEL_SET: the set. */
  modelSet?: number;
}

export type SerialRecord = ResultRecord | HeartbeatRecord | AckRecord | CommandRecord;

/**
 * HEARTBEAT and STATUS flag bits (bytes 4-5). Bits not listed are reserved: sent as 0, ignored on receipt. The PACS bits
 * are 0 when serve has no PACS (dicom.pacs); STATUS.outbox says the same on the socket.
 */
export const HeartbeatFlag = {
  /** At least one stream is configured and not stopped by CMD_STOP_STREAM. */
  STREAMING: 0x0001,
  MODEL_LOADED: 0x0002,
  /** The PACS outbox's last try failed (the PACS not reachable or refusing for now, or a local file error): a retry waits. */
  PACS_FAILING: 0x0004,
  /** The PACS outbox needs an operator: objects held back in pending/, or objects in failed/ now (after a restart too). */
  PACS_ATTENTION: 0x0008,
} as const;

const scale16 = (v: number | null, k: number): number => (v === null ? NONE_U16 : Math.min(NONE_U16 - 1, Math.max(0, Math.round(v * k))));
const scale32 = (v: number | null, k: number): number => (v === null ? NONE_U32 : Math.min(NONE_U32 - 1, Math.max(0, Math.round(v * k))));
const unscale = (v: number, none: number, k: number): number | null => (v === none ? null : v / k);

/**
 * Byte 23 of a RESULT record: 0 when there is no score (so a record from a runtime that predates the field, which
 * sent 0, reads as "no score"), else 1 + round(score * 200), 1..201 (score 0..1 in steps of 0.005).
 */
export const encodeIdScore = (v: number | null): number => (v === null ? 0 : 1 + Math.round(Math.min(1, Math.max(0, v)) * 200));

export const viewNumber = (name: string | null | undefined): number =>
  name !== null && name !== undefined && name in ViewClass ? ViewClass[name as keyof typeof ViewClass] : VIEW_UNKNOWN;
export const stateNumber = (name: keyof typeof RuntimeState): number => RuntimeState[name];

/** The record's bytes without CRC or framing. */
export function encodeRecord(r: SerialRecord): Buffer {
  const type = RecordType[r.kind];
  const b = Buffer.alloc(RECORD_SIZE[type]);
  b[0] = type;
  b[1] = RECORD_VERSION;
  switch (r.kind) {
    case 'RESULT':
      b.writeUInt16LE(r.stream, 2);
      b.writeUInt32LE(r.seq >>> 0, 4);
      b[8] = r.view;
      b[9] = r.state;
      b.writeUInt16LE(r.flags, 10);
      b.writeUInt16LE(scale16(r.confidence, 10000), 12);
      b.writeUInt16LE(scale16(r.quality, 10000), 14);
      b.writeUInt32LE(scale32(r.lvAreaMm2, 100), 16);
      b.writeUInt16LE(scale16(r.ef, 100), 20);
      b[22] = r.resultState;
      b[23] = encodeIdScore(r.idScore);
      b.writeUInt32LE(scale32(r.latencyUs, 1), 24);
      b.writeUInt32LE(r.timeMs >>> 0, 28);
      break;
    case 'HEARTBEAT':
    case 'STATUS':
      b[2] = r.state;
      b[3] = r.modelSet;
      b.writeUInt16LE(r.flags, 4);
      b.writeUInt16LE(r.cmdSeq, 6);
      b.writeUInt32LE(r.uptimeMs >>> 0, 8);
      b.writeUInt32LE(r.framesProcessed >>> 0, 12);
      b.writeUInt32LE(r.framesDropped >>> 0, 16);
      b.writeUInt16LE(r.faultCode, 20);
      b.writeUInt16LE(r.beat & 0xffff, 22);
      break;
    case 'ACK':
      b[2] = r.cmdType;
      b[3] = r.status;
      b.writeUInt16LE(r.cmdSeq, 4);
      break;
    case 'CMD_START_STREAM':
    case 'CMD_STOP_STREAM':
      b.writeUInt16LE(r.cmdSeq, 2);
      b.writeUInt16LE(r.stream ?? 0, 4);
      break;
    case 'CMD_SELECT_MODEL_SET':
      b.writeUInt16LE(r.cmdSeq, 2);
      b[4] = r.modelSet ?? 0;
      break;
    case 'CMD_REQUEST_STATUS':
      b.writeUInt16LE(r.cmdSeq, 2);
      break;
  }
  return b;
}

const recordNames = namesByValue(RecordType);

/** Parses a record's bytes (CRC already checked and removed). */
export function decodeRecord(b: Buffer): SerialRecord {
  if (b.length < 2) throw new ProtocolError('BAD_RECORD_LENGTH', `Expected a record of at least 2 bytes but received ${b.length}`);
  const kind = recordNames.get(b[0]);
  if (kind === undefined) throw new ProtocolError('UNKNOWN_TYPE', `Expected a known record type but received 0x${b[0].toString(16).padStart(2, '0')}`);
  if (b[1] !== RECORD_VERSION) throw new ProtocolError('UNSUPPORTED_VERSION', `Expected record version ${RECORD_VERSION} but received ${b[1]}`);
  const size = RECORD_SIZE[b[0]];
  if (b.length !== size) throw new ProtocolError('BAD_RECORD_LENGTH', `Expected ${size} bytes for a ${kind} record but received ${b.length}`);
  switch (kind) {
    case 'RESULT':
      if (b[22] > 2) throw new ProtocolError('BAD_FIELD', `Expected a result state 0..2 (ok, uncertain, unknown) at byte 22 of a RESULT record but received ${b[22]}`);
      if (b[23] > 201) throw new ProtocolError('BAD_FIELD', `Expected an id score byte 0..201 (0 absent, else 1 + score x 200) at byte 23 of a RESULT record but received ${b[23]}`);
      return {
        kind, stream: b.readUInt16LE(2), seq: b.readUInt32LE(4), view: b[8], state: b[9], flags: b.readUInt16LE(10),
        confidence: unscale(b.readUInt16LE(12), NONE_U16, 10000), quality: unscale(b.readUInt16LE(14), NONE_U16, 10000),
        lvAreaMm2: unscale(b.readUInt32LE(16), NONE_U32, 100), ef: unscale(b.readUInt16LE(20), NONE_U16, 100),
        resultState: b[22], idScore: b[23] === 0 ? null : (b[23] - 1) / 200,
        latencyUs: unscale(b.readUInt32LE(24), NONE_U32, 1), timeMs: b.readUInt32LE(28),
      };
    case 'HEARTBEAT':
    case 'STATUS':
      return {
        kind, state: b[2], modelSet: b[3], flags: b.readUInt16LE(4), cmdSeq: b.readUInt16LE(6), uptimeMs: b.readUInt32LE(8),
        framesProcessed: b.readUInt32LE(12), framesDropped: b.readUInt32LE(16), faultCode: b.readUInt16LE(20), beat: b.readUInt16LE(22),
      };
    case 'ACK':
      return { kind, cmdType: b[2], status: b[3], cmdSeq: b.readUInt16LE(4) };
    case 'CMD_START_STREAM':
    case 'CMD_STOP_STREAM':
      return { kind, cmdSeq: b.readUInt16LE(2), stream: b.readUInt16LE(4) };
    case 'CMD_SELECT_MODEL_SET':
      return { kind, cmdSeq: b.readUInt16LE(2), modelSet: b[4] };
    case 'CMD_REQUEST_STATUS':
      return { kind, cmdSeq: b.readUInt16LE(2) };
  }
}

/** COBS-encodes `data` (no delimiter). */
export function cobsEncode(data: Uint8Array): Buffer {
  const out = Buffer.alloc(data.length + Math.ceil(data.length / 254) + 1);
  let codeAt = 0;
  let o = 1;
  let code = 1;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
    } else {
      out[o++] = data[i];
      code++;
      if (code === 0xff) {
        out[codeAt] = code;
        codeAt = o++;
        code = 1;
      }
    }
  }
  out[codeAt] = code;
  return out.subarray(0, o);
}

/** COBS-decodes one frame (delimiter excluded); throws BAD_COBS. */
export function cobsDecode(enc: Uint8Array): Buffer {
  const out = Buffer.alloc(enc.length);
  let o = 0;
  let i = 0;
  while (i < enc.length) {
    const code = enc[i];
    if (code === 0) throw new ProtocolError('BAD_COBS', `Expected a non-zero COBS code byte at offset ${i} but received 0`);
    if (i + code > enc.length) {
      throw new ProtocolError('BAD_COBS', `Expected ${code - 1} bytes after the COBS code at offset ${i} but received ${enc.length - i - 1}`);
    }
    for (let k = 1; k < code; k++) out[o++] = enc[i + k];
    i += code;
    if (code !== 0xff && i < enc.length) out[o++] = 0;
  }
  return out.subarray(0, o);
}

/** One record on the wire: 0x00 COBS(record || crc16_le) 0x00. */
export function frameRecord(r: SerialRecord | Buffer): Buffer {
  const rec = Buffer.isBuffer(r) ? r : encodeRecord(r);
  const withCrc = Buffer.alloc(rec.length + 2);
  rec.copy(withCrc);
  withCrc.writeUInt16LE(crc16CcittFalse(rec), rec.length);
  const enc = cobsEncode(withCrc);
  const out = Buffer.alloc(enc.length + 2);
  enc.copy(out, 1);
  return out;
}

export type SerialEvent = { kind: 'record'; record: SerialRecord } | { kind: 'error'; error: ProtocolError };

export interface SerialDecoderStats { records: number; errors: number; overlong: number }

/** Push parser for the serial byte stream. */
export class SerialDecoder {
  readonly stats: SerialDecoderStats = { records: 0, errors: 0, overlong: 0 };
  readonly #buf = Buffer.alloc(MAX_ENCODED_FRAME);
  #n = 0;
  #overlong = false;

  /** True while bytes of an unfinished frame are held. */
  get incomplete(): boolean {
    return this.#n > 0 || this.#overlong;
  }

  /** Forgets an unfinished frame (the line was lost: its end never comes); the stats are kept. */
  reset(): void {
    this.#n = 0;
    this.#overlong = false;
  }

  push(chunk: Uint8Array): SerialEvent[] {
    const out: SerialEvent[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c !== 0) {
        if (this.#overlong) continue;
        if (this.#n === MAX_ENCODED_FRAME) {
          this.#overlong = true;
          this.#n = 0;
          continue;
        }
        this.#buf[this.#n++] = c;
        continue;
      }
      if (this.#overlong) {
        this.#overlong = false;
        this.stats.overlong++;
        this.stats.errors++;
        out.push({ kind: 'error', error: new ProtocolError('BAD_RECORD_LENGTH', `Expected at most ${MAX_ENCODED_FRAME} bytes between delimiters but received more`) });
        continue;
      }
      if (this.#n === 0) continue;
      const frame = this.#buf.subarray(0, this.#n);
      this.#n = 0;
      try {
        out.push({ kind: 'record', record: unframe(frame) });
        this.stats.records++;
      } catch (err) {
        this.stats.errors++;
        out.push({ kind: 'error', error: err as ProtocolError });
      }
    }
    return out;
  }
}

/** Decodes the bytes between two delimiters. */
export function unframe(frame: Uint8Array): SerialRecord {
  const dec = cobsDecode(frame);
  if (dec.length < 4) throw new ProtocolError('BAD_RECORD_LENGTH', `Expected at least 4 decoded bytes (record and CRC) but received ${dec.length}`);
  const rec = dec.subarray(0, dec.length - 2);
  const want = crc16CcittFalse(rec);
  const got = dec.readUInt16LE(dec.length - 2);
  if (want !== got) throw new ProtocolError('BAD_CRC', `Expected record CRC-16 0x${want.toString(16).padStart(4, '0')} but received 0x${got.toString(16).padStart(4, '0')}`);
  try {
    return decodeRecord(Buffer.from(rec));
  } catch (err) {
    // The CRC held, so the type byte can be trusted, and a command's cmdSeq (bytes 2-3 of every command layout):
    // the error carries them (ProtocolError.type, .seq) for the runtime's NACK.
    if (!(err instanceof ProtocolError)) throw err;
    const isCommand = rec[0] >= COMMAND_TYPES[0] && rec[0] <= COMMAND_TYPES[1] && rec.length >= 4;
    throw new ProtocolError(err.wireName, err.message, { type: rec[0], ...(isCommand ? { seq: rec[2] | (rec[3] << 8) } : {}) });
  }
}
