// Errors of the firmware protocols. Each has a string `code` (like every
// sonoedge error) and the numeric `wireCode` sent in an ERROR message or a
// serial NACK. A truncated input is not an error: decoders report it with
// `incomplete: true` (code ERR_SONOEDGE_PROTOCOL_INCOMPLETE) so that callers
// tell "wait for more bytes" apart from "these bytes are corrupt".
import { describe } from '../errors.js';
import { namesByValue } from '../util/enum.js';

/** Numeric error codes on the wire (ERROR.code, serial ACK.status). Stable: never renumbered. */
export const WireError = {
  BAD_MAGIC: 1,
  BAD_HEADER_CRC: 2,
  UNSUPPORTED_VERSION: 3,
  UNKNOWN_TYPE: 4,
  MESSAGE_TOO_LARGE: 5,
  BAD_BODY: 6,
  BAD_FIELD: 7,
  HELLO_REQUIRED: 8,
  UNKNOWN_STREAM: 9,
  STREAM_IN_USE: 10,
  FRAME_SIZE: 11,
  FRAME_FAILED: 12,
  TOO_MANY: 13,
  UNSUPPORTED: 14,
  MODEL_FAILED: 15,
  BAD_CRC: 16,
  BAD_RECORD_LENGTH: 17,
  BAD_COBS: 18,
  INTERNAL: 19,
  INCOMPLETE: 20,
  /** CONFIGURE_STREAM named a shared-memory ring that cannot be used; FRAME_READY on a stream without a ring. */
  RING: 21,
  /** FRAME_READY for a slot outside the ring or one the runtime already holds. */
  SLOT: 22,
  /** The runtime is stopping (SIGTERM): sent to every client, fatal, after the last results. */
  SHUTTING_DOWN: 23,
  /** Frames for a stream stopped by the serial CMD_STOP_STREAM: dropped; sent once per stop. */
  STREAM_STOPPED: 24,
  /** An autoSector stream's search over a batch of frames found no image region; the search goes on (not fatal). */
  SECTOR_NOT_FOUND: 25,
} as const;
export type WireErrorName = keyof typeof WireError;

const wireNames = namesByValue(WireError);
export const wireErrorName = (code: number): string => wireNames.get(code) ?? `UNKNOWN_${code}`;

export type ProtocolErrorCode = `ERR_SONOEDGE_PROTOCOL_${WireErrorName}`;

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  readonly wireCode: number;
  /** True only for a truncated input: more bytes may complete it. */
  readonly incomplete: boolean;
  /** Header fields of the offending message, when its header was readable. */
  readonly seq: number | undefined;
  readonly type: number | undefined;

  /** `options.cause`: the error underneath (a RING error's native ShmMapping error); it stays in the runtime, only the message goes on the wire. */
  constructor(name: WireErrorName, message: string, extra: { seq?: number; type?: number } = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProtocolError';
    this.code = `ERR_SONOEDGE_PROTOCOL_${name}`;
    this.wireCode = WireError[name];
    this.incomplete = name === 'INCOMPLETE';
    this.seq = extra.seq;
    this.type = extra.type;
  }

  get wireName(): WireErrorName {
    return wireNames.get(this.wireCode)!;
  }
}

/** `Expected X for NAME but received Y` as a protocol error. */
export function fieldError(name: WireErrorName, expected: string, field: string, received: unknown,
  extra: { seq?: number; type?: number } = {}): ProtocolError {
  return new ProtocolError(name, `Expected ${expected} for ${field} but received ${describe(received)}`, extra);
}
