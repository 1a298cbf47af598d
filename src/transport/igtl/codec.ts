// OpenIGTLink framing (protocol versions 1, 2 and 3): the 58-byte header
// (header version, type name, device name, timestamp, body size, CRC-64 of
// the body), and in header version 2 (protocol version 3) the body's extended
// header (its size, the metadata's header and body sizes, a message id) and
// metadata (key/value pairs after the content). All numbers big-endian.
//
// IgtlDecoder is a stream parser: push() the bytes as they arrive, in any
// split, and take the events: a message, an unknown type skipped (its body
// discarded as it streams by, never buffered), or an IgtlError. A body is
// allocated only once its header has been checked and its size is within
// `maxBodyBytes`; a huge declared size is refused before any allocation.
import { crc64 } from './crc64.js';
import { IgtlError } from './errors.js';

export const HEADER_SIZE = 58;
export const EXTENDED_HEADER_SIZE = 12;
export const TYPE_BYTES = 12;
export const DEVICE_BYTES = 20;
/** IANA MIBenum character sets of STRING and metadata values. */
export const CHARSET_ASCII = 3;
export const CHARSET_UTF8 = 106;

export interface IgtlHeader {
  /** 1: OpenIGTLink 1 and 2; 2: OpenIGTLink 3 (extended header and metadata in the body). */
  version: number;
  type: string;
  /** The device name as UTF-8, at most DEVICE_BYTES of it once written back (fixedText): a reply may always name it. */
  device: string;
  /** Seconds since 1970 and the fraction of a second in 1/2^32 units. */
  sec: number;
  frac: number;
  bodySize: number;
  crc: bigint;
}

export interface IgtlMessage {
  header: IgtlHeader;
  /** Header version 2: the extended header's message id; 0 otherwise. */
  messageId: number;
  /** Header version 2: the metadata, in order; empty otherwise. */
  metadata: Map<string, string>;
  /** The message content (the body less the extended header and metadata): a view, not a copy. */
  content: Uint8Array;
}

export type IgtlEvent =
  | { kind: 'message'; message: IgtlMessage }
  /** A type the decoder does not take: its body went by unread. */
  | { kind: 'skipped'; header: IgtlHeader }
  | { kind: 'error'; error: IgtlError };

export interface IgtlDecoderOptions {
  /** Largest body of a taken type, in bytes; larger ones are refused (fatal) before allocation. Default 64 MiB. */
  maxBodyBytes?: number;
  /** Check the CRC-64 of every body; default true. */
  checkCrc?: boolean;
  /** Which types are read (and checked); the others are skipped unread. Default: every type. */
  takes?: (type: string) => boolean;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Milliseconds since 1970 from a header's timestamp. */
export function timestampMs(h: Pick<IgtlHeader, 'sec' | 'frac'>): number {
  return h.sec * 1000 + (h.frac / 2 ** 32) * 1000;
}

/** A header timestamp from milliseconds since 1970. */
export function toTimestamp(ms: number): { sec: number; frac: number } {
  const sec = Math.floor(ms / 1000);
  const frac = Math.min(2 ** 32 - 1, Math.round(((ms - sec * 1000) / 1000) * 2 ** 32));
  return { sec: sec >>> 0, frac: frac >>> 0 };
}

/** Reads the 58 header bytes; a fatal IgtlError when they are not an OpenIGTLink header. */
export function parseHeader(b: Uint8Array): IgtlHeader {
  const v = new DataView(b.buffer, b.byteOffset, HEADER_SIZE);
  const version = v.getUint16(0);
  const type = fixedAscii(b, 2, TYPE_BYTES);
  if (type === undefined) {
    throw new IgtlError('ERR_SONOEDGE_IGTL_HEADER',
      `Expected a type name of 1 to 12 printable ASCII characters padded with NUL at bytes 2..13 of an OpenIGTLink header but received ${hex(b.subarray(2, 14))}`,
      { fatal: true });
  }
  const device = fixedText(b, 14, DEVICE_BYTES);
  if (version !== 1 && version !== 2) {
    throw new IgtlError('ERR_SONOEDGE_IGTL_HEADER',
      `Expected header version 1 (OpenIGTLink 1, 2) or 2 (OpenIGTLink 3) but received ${version} (${type} from ${JSON.stringify(device)})`,
      { fatal: true, type, device });
  }
  const size = v.getBigUint64(42);
  return {
    version, type, device, sec: v.getUint32(34), frac: v.getUint32(38),
    bodySize: size > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(size),
    crc: v.getBigUint64(50),
  };
}

/** A type name: printable ASCII, 1..n bytes, then NUL padding only; undefined otherwise. */
function fixedAscii(b: Uint8Array, at: number, n: number): string | undefined {
  let end = at;
  while (end < at + n && b[end] !== 0) {
    if (b[end] < 0x20 || b[end] > 0x7e) return undefined;
    end++;
  }
  if (end === at) return undefined;
  for (let i = end; i < at + n; i++) if (b[i] !== 0) return undefined;
  return String.fromCharCode(...b.subarray(at, end));
}

/**
 * `s` cut to at most `max` bytes of UTF-8 at a character (code point) boundary: never half a character's bytes,
 * and no whole character dropped that fits (a device name: DEVICE_BYTES).
 */
export function cutUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  let bytes = 0;
  let end = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > max) break;
    bytes += n;
    end += ch.length;
  }
  return s.slice(0, end);
}

/** The bytes from `at` up to the first NUL (or `at + n`) as UTF-8, each byte that is not UTF-8 a U+FFFD. */
export function nulText(b: Uint8Array, at: number, n: number): string {
  let end = at;
  while (end < at + n && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + at, end - at).toString('utf8');
}

/**
 * A fixed-size text field (a device name, a STATUS error name, a POINT's names): the bytes up to the first NUL, as
 * UTF-8 (nulText), cut to the field's `n` bytes at a character boundary (cutUtf8). Bytes that are not UTF-8 read as
 * U+FFFD, 3 bytes when written back, so 20 bytes of 0xFF would read as a 60-byte name; cut, a name as read always fits
 * its field again (a STATUS naming a peer's device: encodeIgtl refuses a longer one). Valid UTF-8 decodes to a string
 * of the same bytes, so only a string with a U+FFFD in it can be too long: the others are not measured (every header
 * passes here).
 */
export function fixedText(b: Uint8Array, at: number, n: number): string {
  const s = nulText(b, at, n);
  return s.includes('\uFFFD') ? cutUtf8(s, n) : s;
}

function hex(b: Uint8Array): string {
  return `bytes ${Buffer.from(b).toString('hex')}`;
}

/**
 * Splits a body into content, message id and metadata (header version 2), checking every size against the
 * body's; a non-fatal IgtlError (ERR_SONOEDGE_IGTL_BODY_SIZE) when they contradict it.
 */
export function splitBody(header: IgtlHeader, body: Uint8Array): IgtlMessage {
  if (header.version === 1) return { header, messageId: 0, metadata: new Map(), content: body };
  const at = { type: header.type, device: header.device };
  const bad = (what: string) => new IgtlError('ERR_SONOEDGE_IGTL_BODY_SIZE', `${what} (${header.type} from ${JSON.stringify(header.device)}, header version 2)`, at);
  if (body.length < EXTENDED_HEADER_SIZE) throw bad(`Expected a body of at least ${EXTENDED_HEADER_SIZE} bytes (the extended header) but received ${body.length}`);
  const v = new DataView(body.buffer, body.byteOffset, body.length);
  const ext = v.getUint16(0);
  const metaHead = v.getUint16(2);
  const metaBody = v.getUint32(4);
  const messageId = v.getUint32(8);
  if (ext < EXTENDED_HEADER_SIZE) throw bad(`Expected an extended header size of at least ${EXTENDED_HEADER_SIZE} but received ${ext}`);
  if (ext + metaHead + metaBody > body.length) {
    throw bad(`Expected the extended header (${ext}), metadata header (${metaHead}) and metadata body (${metaBody}) within the body's ${body.length} bytes but they take ${ext + metaHead + metaBody}`);
  }
  const contentEnd = body.length - metaHead - metaBody;
  const metadata = new Map<string, string>();
  if (metaHead + metaBody > 0) {
    if (metaHead < 2) throw bad(`Expected a metadata header of at least 2 bytes (the entry count) but received ${metaHead}`);
    const count = v.getUint16(contentEnd);
    if (2 + count * 8 !== metaHead) throw bad(`Expected a metadata header of ${2 + count * 8} bytes for ${count} entries but received ${metaHead}`);
    let total = 0;
    for (let i = 0; i < count; i++) total += v.getUint16(contentEnd + 2 + i * 8) + v.getUint32(contentEnd + 2 + i * 8 + 4);
    if (total !== metaBody) throw bad(`Expected a metadata body of ${total} bytes (the sum of its ${count} keys and values) but received ${metaBody}`);
    let p = contentEnd + metaHead;
    for (let i = 0; i < count; i++) {
      const e = contentEnd + 2 + i * 8;
      const keySize = v.getUint16(e);
      const encoding = v.getUint16(e + 2);
      const valueSize = v.getUint32(e + 4);
      const key = Buffer.from(body.buffer, body.byteOffset + p, keySize).toString('utf8');
      p += keySize;
      const value = Buffer.from(body.buffer, body.byteOffset + p, valueSize).toString(encoding === CHARSET_UTF8 ? 'utf8' : 'latin1');
      p += valueSize;
      metadata.set(key, value);
    }
  }
  return { header, messageId, metadata, content: body.subarray(ext, contentEnd) };
}

export class IgtlDecoder {
  readonly #max: number;
  readonly #check: boolean;
  readonly #takes: (type: string) => boolean;
  readonly #head = new Uint8Array(HEADER_SIZE);
  #headFill = 0;
  #header: IgtlHeader | undefined;
  #body: Uint8Array | undefined;
  #bodyFill = 0;
  #skip = 0;
  #dead = false;

  constructor(options: IgtlDecoderOptions = {}) {
    this.#max = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#check = options.checkCrc ?? true;
    this.#takes = options.takes ?? (() => true);
  }

  /** Bytes of an unfinished message held (a partial header or body); 0 between messages. */
  get pending(): number {
    return this.#headFill + this.#bodyFill;
  }

  /** Whether the decoder stands between two messages (a connection closing now truncated nothing). */
  get idle(): boolean {
    return this.#headFill === 0 && this.#header === undefined && this.#skip === 0;
  }

  /** After a fatal error the decoder takes nothing more. */
  get dead(): boolean {
    return this.#dead;
  }

  push(chunk: Uint8Array): IgtlEvent[] {
    const out: IgtlEvent[] = [];
    let i = 0;
    while (i < chunk.length && !this.#dead) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
        continue;
      }
      if (this.#header === undefined) {
        const n = Math.min(HEADER_SIZE - this.#headFill, chunk.length - i);
        this.#head.set(chunk.subarray(i, i + n), this.#headFill);
        this.#headFill += n;
        i += n;
        if (this.#headFill < HEADER_SIZE) break;
        this.#headFill = 0;
        let h: IgtlHeader;
        try {
          h = parseHeader(this.#head);
        } catch (err) {
          this.#dead = true;
          out.push({ kind: 'error', error: err as IgtlError });
          break;
        }
        if (!this.#takes(h.type)) {
          this.#skip = h.bodySize;
          out.push({ kind: 'skipped', header: h });
          continue;
        }
        if (h.bodySize > this.#max) {
          this.#dead = true;
          out.push({
            kind: 'error',
            error: new IgtlError('ERR_SONOEDGE_IGTL_TOO_LARGE',
              `Expected a body of at most ${this.#max} bytes but the header of ${h.type} from ${JSON.stringify(h.device)} declares ${h.bodySize}`,
              { fatal: true, type: h.type, device: h.device }),
          });
          break;
        }
        this.#header = h;
        this.#bodyFill = 0;
        // The whole body in this chunk: a view of it, no copy.
        if (chunk.length - i >= h.bodySize) {
          const body = chunk.subarray(i, i + h.bodySize);
          i += h.bodySize;
          this.#finish(body, out);
          continue;
        }
        this.#body = new Uint8Array(h.bodySize);
        continue;
      }
      const body = this.#body!;
      const n = Math.min(body.length - this.#bodyFill, chunk.length - i);
      body.set(chunk.subarray(i, i + n), this.#bodyFill);
      this.#bodyFill += n;
      i += n;
      if (this.#bodyFill === body.length) this.#finish(body, out);
    }
    return out;
  }

  #finish(body: Uint8Array, out: IgtlEvent[]): void {
    const h = this.#header!;
    this.#header = undefined;
    this.#body = undefined;
    this.#bodyFill = 0;
    if (this.#check) {
      const crc = crc64(body);
      if (crc !== h.crc) {
        out.push({
          kind: 'error',
          error: new IgtlError('ERR_SONOEDGE_IGTL_CRC',
            `Expected CRC-64 0x${crc.toString(16).padStart(16, '0')} of the ${body.length}-byte body of ${h.type} from ${JSON.stringify(h.device)} but the header says 0x${h.crc.toString(16).padStart(16, '0')}; the message is discarded`,
            { type: h.type, device: h.device }),
        });
        return;
      }
    }
    try {
      out.push({ kind: 'message', message: splitBody(h, body) });
    } catch (err) {
      out.push({ kind: 'error', error: err as IgtlError });
    }
  }
}

export interface EncodeOptions {
  type: string;
  device: string;
  /** Milliseconds since 1970; default now. */
  timestampMs?: number;
  /** 1 (OpenIGTLink 1, 2) or 2 (OpenIGTLink 3: extended header and metadata); default 2. */
  headerVersion?: 1 | 2;
  messageId?: number;
  metadata?: Iterable<[string, string]>;
  /** The content, or its parts in order (copied once, into the message). */
  content: Uint8Array | readonly Uint8Array[];
}

/** One whole message (header and body) in one buffer, its CRC-64 computed. Names too long are a RangeError. */
export function encodeIgtl(o: EncodeOptions): Buffer {
  const version = o.headerVersion ?? 2;
  const type = Buffer.from(o.type, 'latin1');
  const device = Buffer.from(o.device, 'utf8');
  if (type.length < 1 || type.length > TYPE_BYTES) throw new IgtlError('ERR_SONOEDGE_IGTL_OPTION', `Expected a type name of 1 to ${TYPE_BYTES} bytes but received ${JSON.stringify(o.type)}`);
  if (device.length > DEVICE_BYTES) throw new IgtlError('ERR_SONOEDGE_IGTL_OPTION', `Expected a device name of at most ${DEVICE_BYTES} bytes but received ${JSON.stringify(o.device)} (${device.length})`);
  let metaHead: Buffer | undefined;
  let metaBody: Buffer | undefined;
  if (version === 2) {
    const entries = [...(o.metadata ?? [])].map(([k, val]) => [Buffer.from(k, 'utf8'), Buffer.from(val, 'utf8')] as const);
    metaHead = Buffer.alloc(2 + entries.length * 8);
    metaHead.writeUInt16BE(entries.length, 0);
    entries.forEach(([k, val], i) => {
      metaHead!.writeUInt16BE(k.length, 2 + i * 8);
      metaHead!.writeUInt16BE(/^[\x00-\x7f]*$/.test(val.toString('latin1')) ? CHARSET_ASCII : CHARSET_UTF8, 4 + i * 8);
      metaHead!.writeUInt32BE(val.length, 6 + i * 8);
    });
    metaBody = Buffer.concat(entries.flatMap(([k, val]) => [k, val]));
  }
  const ext = version === 2 ? EXTENDED_HEADER_SIZE : 0;
  const parts = o.content instanceof Uint8Array ? [o.content] : o.content;
  const contentBytes = parts.reduce((a, p) => a + p.length, 0);
  const bodySize = ext + contentBytes + (metaHead?.length ?? 0) + (metaBody?.length ?? 0);
  const out = Buffer.alloc(HEADER_SIZE + bodySize);
  out.writeUInt16BE(version, 0);
  type.copy(out, 2);
  device.copy(out, 14);
  const ts = toTimestamp(o.timestampMs ?? Date.now());
  out.writeUInt32BE(ts.sec, 34);
  out.writeUInt32BE(ts.frac, 38);
  out.writeBigUInt64BE(BigInt(bodySize), 42);
  let p = HEADER_SIZE;
  if (version === 2) {
    out.writeUInt16BE(EXTENDED_HEADER_SIZE, p);
    out.writeUInt16BE(metaHead!.length, p + 2);
    out.writeUInt32BE(metaBody!.length, p + 4);
    out.writeUInt32BE((o.messageId ?? 0) >>> 0, p + 8);
    p += EXTENDED_HEADER_SIZE;
  }
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  if (metaHead) {
    metaHead.copy(out, p);
    p += metaHead.length;
    metaBody!.copy(out, p);
  }
  out.writeBigUInt64BE(crc64(out.subarray(HEADER_SIZE)), 50);
  return out;
}
