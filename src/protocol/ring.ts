// The shared-memory frame ring's layout (docs/PROTOCOL.md, "Shared-memory
// frames"): its name rule, its size and its 4096-byte header. The header lets
// both sides check that they map the same thing with the same geometry.
import { Ring } from './constants.js';
import { fieldError, ProtocolError } from './errors.js';

export interface RingInfo {
  /** POSIX shared-memory name: "/" then 1..200 of [A-Za-z0-9._-] (no further slash). */
  name: string;
  slots: number;
  slotBytes: number;
}

/** "/" then 1..200 characters of [A-Za-z0-9._-], and not "/." or "/..". */
export const RING_NAME = /^\/(?!\.\.?$)[A-Za-z0-9._-]{1,200}$/;

/** Bytes of the whole object: the header page, then the slots. */
export const ringBytes = (slots: number, slotBytes: number): number => Ring.HEADER_BYTES + slots * slotBytes;

/** Byte offset of slot `i` in the object. */
export const slotOffset = (i: number, slotBytes: number): number => Ring.HEADER_BYTES + i * slotBytes;

/** The 4096-byte header page for a ring of this geometry. */
export function encodeRingHeader(r: Pick<RingInfo, 'slots' | 'slotBytes'>): Buffer {
  const b = Buffer.alloc(Ring.HEADER_BYTES);
  Ring.MAGIC.copy(b, 0);
  b.writeUInt16LE(Ring.VERSION, 4);
  b.writeUInt32LE(Ring.HEADER_BYTES, 8);
  b.writeUInt32LE(r.slots, 12);
  b.writeUInt32LE(r.slotBytes, 16);
  return b;
}

/**
 * Checks a mapped header against the geometry CONFIGURE_STREAM announced;
 * a RING ProtocolError names the first field that differs.
 */
export function checkRingHeader(header: Uint8Array, r: RingInfo, x: { seq?: number; type?: number } = {}): void {
  const b = Buffer.from(header.buffer, header.byteOffset, Math.min(header.byteLength, 20));
  const fail = (what: string, want: string, got: string): never => {
    throw new ProtocolError('RING', `Expected ${what} ${want} in the header of ring ${r.name} but received ${got}`, x);
  };
  if (b.length < 20) fail('a header of', `${Ring.HEADER_BYTES} bytes`, `${b.length}`);
  const magic = b.readUInt32LE(0);
  if (magic !== Ring.MAGIC_U32) fail('magic', '"SONR" (0x524e4f53)', `0x${magic.toString(16).padStart(8, '0')}`);
  const version = b.readUInt16LE(4);
  if (version !== Ring.VERSION) fail('version', String(Ring.VERSION), String(version));
  const headerBytes = b.readUInt32LE(8);
  if (headerBytes !== Ring.HEADER_BYTES) fail('headerBytes', String(Ring.HEADER_BYTES), String(headerBytes));
  const slots = b.readUInt32LE(12);
  if (slots !== r.slots) fail('slots', `${r.slots} (as in CONFIGURE_STREAM.ring.slots)`, String(slots));
  const slotBytes = b.readUInt32LE(16);
  if (slotBytes !== r.slotBytes) fail('slotBytes', `${r.slotBytes} (as in CONFIGURE_STREAM.ring.slotBytes)`, String(slotBytes));
}

/**
 * A slot that holds a frame: BAD_FIELD naming CONFIGURE_STREAM.ring.slotBytes otherwise. CONFIGURE_STREAM's parser
 * checks it (src/protocol/messages.ts), and ShmRing again before anything is mapped or made and on a reconfigure that
 * keeps the ring, so that the firmware gets one message for one mistake.
 */
export function checkSlotFits(frameBytes: number, slotBytes: number, x: { seq?: number; type?: number } = {}): void {
  if (!(frameBytes <= slotBytes)) throw fieldError('BAD_FIELD', `at least ${frameBytes} (frameBytes)`, 'CONFIGURE_STREAM.ring.slotBytes', slotBytes, x);
}
