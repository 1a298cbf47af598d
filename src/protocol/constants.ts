// Socket protocol constants (docs/PROTOCOL.md, "Socket protocol").
import { namesByValue } from '../util/enum.js';

/** The four bytes 'S' 'O' 'N' 'O' (0x53 0x4F 0x4E 0x4F), read as little-endian u32 0x4F4E4F53. */
export const MAGIC = Buffer.from('SONO', 'ascii');
export const MAGIC_U32 = 0x4f4e4f53;
export const PROTOCOL_VERSION = 1;
export const SUPPORTED_VERSIONS: readonly number[] = [1];
export const HEADER_SIZE = 24;
/** Default maximum of body length + payload length. */
export const DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024 * 1024;

/** Header byte offsets. */
export const Offset = {
  magic: 0, version: 4, type: 5, flags: 6, bodyLength: 8, payloadLength: 12, seq: 16, crc: 20,
} as const;

export const MessageType = {
  HELLO: 0x01,
  CONFIGURE_STREAM: 0x02,
  FRAME: 0x03,
  FRAME_READY: 0x04,
  SLOT_RELEASE: 0x05,
  SUBSCRIBE: 0x06,
  RESULT: 0x07,
  STATUS: 0x08,
  STATS: 0x09,
  LOAD_MODEL: 0x0a,
  SWAP: 0x0b,
  ERROR: 0x0c,
  PING: 0x0d,
  PONG: 0x0e,
  CLOSE_STREAM: 0x0f,
} as const;
export type MessageTypeName = keyof typeof MessageType;
const typeNames = namesByValue(MessageType);
export const messageTypeName = (t: number): MessageTypeName | undefined => typeNames.get(t);

/** Header flag bits. Bits not listed are reserved: sent as 0, ignored on receipt. */
export const Flag = {
  /** This message answers the request that carried the same sequence number. */
  REPLY: 0x0001,
} as const;

/** Runtime states, shared by STATUS (by name) and the serial heartbeat (by number). */
export const RuntimeState = { starting: 0, ready: 1, running: 2, faulted: 3, stopping: 4 } as const;
export type RuntimeStateName = keyof typeof RuntimeState;

/** View classes, shared by RESULT (by name) and the serial result record (by number). */
export const ViewClass = { A4C: 0, A2C: 1, PLAX: 2, PSAX: 3, other: 4 } as const;
export type ViewClassName = keyof typeof ViewClass;
export const VIEW_UNKNOWN = 255;

/** Result flag bits, shared by RESULT.flags and the serial result record. */
export const ResultFlag = {
  /** The smoothed quality is below the quality bar (pipeline.qualityThreshold, with its hysteresis: the segmentation gate's bar). */
  LOW_QUALITY: 0x0001,
  /** The view changed since the previous result of this stream. */
  VIEW_CHANGED: 0x0002,
  /** lvAreaMm2 is present. */
  HAS_LV_AREA: 0x0004,
  /** ef is present (a full cardiac cycle was seen). */
  HAS_EF: 0x0008,
  /** This result confirms an end-diastole: the frame RESULT.edSeq (a few frames back) was one. */
  ED: 0x0010,
  /** This result confirms an end-systole: the frame RESULT.esSeq was one. */
  ES: 0x0020,
  /** Frames were dropped (latest wins) since the previous result of this stream. */
  DROPPED_BEFORE: 0x0040,
  /** The in-distribution state is `uncertain`: the results may be wrong. */
  UNCERTAIN: 0x0080,
  /** The in-distribution state is `unknown`: the frame is unlike the models' training data (no LV, no EF). */
  UNKNOWN: 0x0100,
  /** ef is present but of low quality (fewer than 2 beats, a wide interval, or an uncertain frame in its window). */
  EF_LOW_QUALITY: 0x0200,
  /** An autoSector stream is still looking for its image region: this frame went to the sector finder, not the models (no values, state `unknown`). */
  SECTOR_SEARCH: 0x0400,
} as const;

/**
 * The in-distribution state of a result, shared by RESULT.state (by name) and
 * the serial result record (by number, byte 22). docs/PROTOCOL.md, "Result state".
 */
export const ResultState = { ok: 0, uncertain: 1, unknown: 2 } as const;
export type ResultStateName = keyof typeof ResultState;

/**
 * The shared-memory frame ring (docs/PROTOCOL.md, "Shared-memory frames"): a
 * POSIX shared-memory object holding a 4096-byte header, then `slots` slots
 * of `slotBytes` bytes. Header, little-endian:
 *   0 u32 magic 'S' 'O' 'N' 'R'   4 u16 version 1   6 u16 reserved 0
 *   8 u32 headerBytes (4096, the offset of slot 0)  12 u32 slots  16 u32 slotBytes
 *   20..4095 reserved 0
 */
export const Ring = {
  MAGIC: Buffer.from('SONR', 'ascii'),
  MAGIC_U32: 0x524e4f53,
  VERSION: 1,
  HEADER_BYTES: 4096,
  /** slotBytes is a multiple of this (the page size on every target). */
  ALIGN: 4096,
  MIN_SLOTS: 2,
  MAX_SLOTS: 64,
  /** headerBytes + slots * slotBytes at most (1 GiB). */
  MAX_BYTES: 1024 * 1024 * 1024,
} as const;
