// Socket framing: a fixed 24-byte little-endian header, a MessagePack body
// (msgpackr with records off: any MessagePack decoder reads it) and, for
// FRAME, a raw pixel payload after the body.
//
//   off size field
//    0   4   magic          'S' 'O' 'N' 'O'
//    4   1   version        1
//    5   1   type           MessageType
//    6   2   flags          Flag bits (REPLY = 0x0001)
//    8   4   bodyLength     bytes of MessagePack that follow the header
//   12   4   payloadLength  bytes of raw payload after the body (FRAME only)
//   16   4   seq            sender's sequence; a reply echoes the request's
//   20   4   crc            CRC-32C of bytes 0..19
//
// MessageDecoder is a push parser: feed it arbitrary chunks, it returns the
// complete messages and the errors it found. It never buffers more than one
// message, rejects an oversized length before reading the body (skipping the
// announced bytes without storing them), and after corrupt bytes it scans for
// the next header whose magic and CRC are right.
import { Packr, Unpackr } from 'msgpackr';
import { crc32c } from './crc.js';
import {
  DEFAULT_MAX_MESSAGE_SIZE, HEADER_SIZE, MAGIC, MAGIC_U32, MessageType, Offset, PROTOCOL_VERSION, SUPPORTED_VERSIONS,
  messageTypeName,
} from './constants.js';
import { ProtocolError } from './errors.js';
import { describe } from '../errors.js';
import { isObject } from '../util/is.js';

export interface Header {
  version: number;
  type: number;
  flags: number;
  bodyLength: number;
  payloadLength: number;
  seq: number;
}

export interface Message {
  header: Header;
  /** The decoded MessagePack body ({} when bodyLength is 0). */
  body: unknown;
  /** The raw payload: a view of the received bytes, not a copy when it arrived in one chunk. */
  payload: Buffer;
}

export type DecodeEvent = { kind: 'message'; message: Message } | { kind: 'error'; error: ProtocolError };

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Drops undefined keys so that optional fields are absent, not nil. */
function compact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(compact);
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = compact(v);
    return out;
  }
  return value;
}

export function encodeBody(body: unknown): Buffer {
  return packr.pack(compact(body ?? {}));
}

export function writeHeader(target: Buffer, h: Header, offset = 0): void {
  MAGIC.copy(target, offset);
  target.writeUInt8(h.version, offset + Offset.version);
  target.writeUInt8(h.type, offset + Offset.type);
  target.writeUInt16LE(h.flags, offset + Offset.flags);
  target.writeUInt32LE(h.bodyLength, offset + Offset.bodyLength);
  target.writeUInt32LE(h.payloadLength, offset + Offset.payloadLength);
  target.writeUInt32LE(h.seq >>> 0, offset + Offset.seq);
  target.writeUInt32LE(crc32c(target, offset, offset + Offset.crc), offset + Offset.crc);
}

export interface EncodeInput {
  type: number;
  seq: number;
  flags?: number;
  body?: unknown;
  payload?: Uint8Array;
  /** Header version byte; 1 unless a test says otherwise. */
  version?: number;
}

/**
 * Header + body in one buffer, and the payload as given (not copied), so that
 * a frame goes out with `socket.cork(); write(head); write(payload); uncork()`.
 */
export function encodeMessageParts(m: EncodeInput): [Buffer, Uint8Array | undefined] {
  const body = encodeBody(m.body);
  const payloadLength = m.payload?.byteLength ?? 0;
  const head = Buffer.allocUnsafe(HEADER_SIZE + body.length);
  writeHeader(head, {
    version: m.version ?? PROTOCOL_VERSION, type: m.type, flags: m.flags ?? 0,
    bodyLength: body.length, payloadLength, seq: m.seq,
  });
  body.copy(head, HEADER_SIZE);
  return [head, payloadLength > 0 ? m.payload : undefined];
}

export function encodeMessage(m: EncodeInput): Buffer {
  const [head, payload] = encodeMessageParts(m);
  return payload ? Buffer.concat([head, payload]) : head;
}

/** Reads a header; throws a ProtocolError for a bad magic or CRC. Needs HEADER_SIZE bytes. */
export function readHeader(buf: Uint8Array, offset = 0): Header {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length - offset < HEADER_SIZE) {
    throw new ProtocolError('INCOMPLETE', `Expected ${HEADER_SIZE} header bytes but received ${b.length - offset}`);
  }
  const magic = b.readUInt32LE(offset);
  if (magic !== MAGIC_U32) {
    throw new ProtocolError('BAD_MAGIC', `Expected magic 0x${MAGIC_U32.toString(16)} but received 0x${magic.toString(16)}`);
  }
  const crc = b.readUInt32LE(offset + Offset.crc);
  const want = crc32c(b, offset, offset + Offset.crc);
  if (crc !== want) {
    throw new ProtocolError('BAD_HEADER_CRC', `Expected header CRC-32C 0x${want.toString(16)} but received 0x${crc.toString(16)}`);
  }
  return {
    version: b[offset + Offset.version],
    type: b[offset + Offset.type],
    flags: b.readUInt16LE(offset + Offset.flags),
    bodyLength: b.readUInt32LE(offset + Offset.bodyLength),
    payloadLength: b.readUInt32LE(offset + Offset.payloadLength),
    seq: b.readUInt32LE(offset + Offset.seq),
  };
}

export function decodeBody(body: Uint8Array, h: Header): unknown {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = unpackr.unpack(body);
  } catch (err) {
    throw new ProtocolError('BAD_BODY',
      `Expected a MessagePack body of ${body.length} bytes for ${messageTypeName(h.type) ?? h.type} but received undecodable bytes (${(err as Error).message})`,
      { seq: h.seq, type: h.type });
  }
  if (!isObject(value) || Object.getPrototypeOf(value) !== Object.prototype) {
    throw new ProtocolError('BAD_BODY',
      `Expected a MessagePack map as the body of ${messageTypeName(h.type) ?? h.type} but received ${describe(value)}`, { seq: h.seq, type: h.type });
  }
  return value;
}

export interface DecoderOptions {
  /** Largest bodyLength + payloadLength accepted; default 32 MiB. */
  maxMessageSize?: number;
}

export interface DecoderStats {
  messages: number;
  errors: number;
  /** Bytes discarded while looking for a valid header. */
  garbageBytes: number;
  /** Bytes of rejected messages discarded unread (oversized, unknown type or version). */
  skippedBytes: number;
}

const EMPTY = Buffer.alloc(0);

export class MessageDecoder {
  readonly maxMessageSize: number;
  readonly stats: DecoderStats = { messages: 0, errors: 0, garbageBytes: 0, skippedBytes: 0 };
  /** Leftover bytes in the header state (less than one header, or a magic prefix). */
  #acc: Buffer = EMPTY;
  /** The message being collected: header already read. */
  #header: Header | undefined;
  #msg: Buffer = EMPTY;
  #filled = 0;
  /** Bytes still to discard of a rejected message. */
  #skip = 0;
  /** Inside a run of garbage: report it once. */
  #inGarbage = false;

  constructor(options: DecoderOptions = {}) {
    const max = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    if (!Number.isInteger(max) || max < 0 || max > 0xffffffff) {
      throw new RangeError(`Expected integer 0..4294967295 for maxMessageSize but received ${String(max)}`);
    }
    this.maxMessageSize = max;
  }

  /** True while bytes of an unfinished message (or of a header) are held. */
  get incomplete(): boolean {
    return this.#acc.length > 0 || this.#header !== undefined || this.#skip > 0;
  }

  /** Feeds a chunk; returns what it completed, in order. */
  push(chunk: Uint8Array): DecodeEvent[] {
    const out: DecodeEvent[] = [];
    let data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    while (pos < data.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, data.length - pos);
        this.#skip -= n;
        this.stats.skippedBytes += n;
        pos += n;
        continue;
      }
      if (this.#header !== undefined) {
        const n = Math.min(this.#msg.length - this.#filled, data.length - pos);
        data.copy(this.#msg, this.#filled, pos, pos + n);
        this.#filled += n;
        pos += n;
        if (this.#filled === this.#msg.length) {
          const h = this.#header;
          this.#header = undefined;
          const msg = this.#msg;
          this.#msg = EMPTY;
          this.#finish(h, msg, 0, out);
        }
        continue;
      }
      // Header state: join the leftover with this chunk (a few bytes copied at most once).
      if (this.#acc.length > 0) {
        data = Buffer.concat([this.#acc, data.subarray(pos)]);
        pos = 0;
        this.#acc = EMPTY;
      }
      pos = this.#headerState(data, pos, out);
    }
    return out;
  }

  /** Call at end of stream: an error with `incomplete: true` if a message was cut short. */
  end(): ProtocolError | undefined {
    if (!this.incomplete) return undefined;
    const held = this.#acc.length > 0 ? `${this.#acc.length} header bytes`
      : this.#header ? `${this.#filled} of ${this.#msg.length} body and payload bytes` : `${this.#skip} bytes still to skip`;
    const err = new ProtocolError('INCOMPLETE', `Expected a complete message but the input ended with ${held}`,
      this.#header ? { seq: this.#header.seq, type: this.#header.type } : {});
    this.#acc = EMPTY;
    this.#header = undefined;
    this.#msg = EMPTY;
    this.#skip = 0;
    return err;
  }

  #error(out: DecodeEvent[], error: ProtocolError): void {
    this.stats.errors++;
    out.push({ kind: 'error', error });
  }

  #garbage(out: DecodeEvent[], n: number, error: () => ProtocolError): void {
    this.stats.garbageBytes += n;
    if (!this.#inGarbage) {
      this.#inGarbage = true;
      this.#error(out, error());
    }
  }

  /** Parses headers (and whole messages already in `data`) from pos; returns the new position. */
  #headerState(data: Buffer, pos: number, out: DecodeEvent[]): number {
    while (pos < data.length) {
      const avail = data.length - pos;
      // Find the magic (or a prefix of it at the very end).
      const m = matchMagic(data, pos);
      if (m > pos) {
        const n = m - pos;
        this.#garbage(out, n, () => new ProtocolError('BAD_MAGIC',
          `Expected magic "SONO" at the start of a message but received ${n === 1 ? 'a byte' : 'bytes'} 0x${data.subarray(pos, Math.min(m, pos + 8)).toString('hex')}${n > 8 ? '...' : ''}`));
        pos = m;
        continue;
      }
      if (avail < HEADER_SIZE) {
        this.#acc = Buffer.from(data.subarray(pos));
        return data.length;
      }
      let h: Header;
      try {
        h = readHeader(data, pos);
      } catch (err) {
        // A magic with a wrong CRC: not a header. Resume the scan one byte on.
        this.#garbage(out, 1, () => err as ProtocolError);
        pos += 1;
        continue;
      }
      this.#inGarbage = false;
      pos += HEADER_SIZE;
      const total = h.bodyLength + h.payloadLength;
      const rest = data.length - pos;
      const extra = { seq: h.seq, type: h.type };
      let reject: ProtocolError | undefined;
      if (total > this.maxMessageSize) {
        reject = new ProtocolError('MESSAGE_TOO_LARGE',
          `Expected at most ${this.maxMessageSize} body and payload bytes but received a header announcing ${total}`, extra);
      } else if (!SUPPORTED_VERSIONS.includes(h.version)) {
        reject = new ProtocolError('UNSUPPORTED_VERSION',
          `Expected protocol version ${SUPPORTED_VERSIONS.join(' or ')} but received ${h.version}`, extra);
      } else if (messageTypeName(h.type) === undefined) {
        reject = new ProtocolError('UNKNOWN_TYPE', `Expected a known message type but received 0x${h.type.toString(16).padStart(2, '0')}`, extra);
      } else if (h.payloadLength > 0 && h.type !== MessageType.FRAME) {
        reject = new ProtocolError('BAD_BODY',
          `Expected payloadLength 0 for ${messageTypeName(h.type)} but received ${h.payloadLength}`, extra);
      }
      if (reject !== undefined) {
        this.#error(out, reject);
        const n = Math.min(total, rest);
        this.stats.skippedBytes += n;
        pos += n;
        this.#skip = total - n;
        continue;
      }
      if (rest >= total) {
        this.#finish(h, data, pos, out);
        pos += total;
        continue;
      }
      this.#header = h;
      this.#msg = Buffer.allocUnsafe(total);
      data.copy(this.#msg, 0, pos);
      this.#filled = rest;
      return data.length;
    }
    return pos;
  }

  #finish(h: Header, data: Buffer, at: number, out: DecodeEvent[]): void {
    let body: unknown;
    try {
      body = decodeBody(data.subarray(at, at + h.bodyLength), h);
    } catch (err) {
      this.#error(out, err as ProtocolError);
      return;
    }
    this.stats.messages++;
    const start = at + h.bodyLength;
    out.push({ kind: 'message', message: { header: h, body, payload: data.subarray(start, start + h.payloadLength) } });
  }
}

/** Index of the first possible message start at or after pos (a full magic, or a magic prefix ending the data). */
function matchMagic(data: Buffer, pos: number): number {
  for (let i = pos; i < data.length; i++) {
    if (data[i] !== 0x53) continue;
    let ok = true;
    for (let k = 1; k < 4 && i + k < data.length; k++) {
      if (data[i + k] !== MAGIC[k]) { ok = false; break; }
    }
    if (ok) return i;
  }
  return data.length;
}

/** Decodes exactly one message from `buf`; throws ProtocolError (incomplete for a truncation). */
export function decodeMessage(buf: Uint8Array, options: DecoderOptions = {}): Message {
  const d = new MessageDecoder(options);
  const events = d.push(buf);
  const first = events[0];
  if (first?.kind === 'error') throw first.error;
  if (first?.kind === 'message') {
    if (events.length > 1 || d.incomplete) {
      throw new ProtocolError('BAD_BODY', `Expected exactly one message but received ${buf.length} bytes holding more`);
    }
    return first.message;
  }
  throw d.end() ?? new ProtocolError('INCOMPLETE', 'Expected a message but received no bytes');
}
