// Typed errors of the OpenIGTLink bridge. Every bad input is one IgtlError
// with a code naming what was wrong, a message saying what was expected and
// what was received, the STATUS code sent back to the peer (OpenIGTLink's
// status codes, docs/OPENIGTLINK.md), and `fatal`: whether the connection's
// framing is lost (a header that is not a header, a body too large to take),
// so that the connection must close. A non-fatal error skips one message and
// the connection goes on.

/** Every IgtlError code, at run time too (a test holds src/ to the code lists). */
export const IGTL_ERROR_CODES = [
  /** The 58-byte header is not an OpenIGTLink header (type name not ASCII, header version unknown): framing lost. */
  'ERR_SONOEDGE_IGTL_HEADER',
  /** A declared body size over the limit: refused before anything is allocated; framing lost. */
  'ERR_SONOEDGE_IGTL_TOO_LARGE',
  /** The body's CRC-64 is not the header's: the message is discarded. */
  'ERR_SONOEDGE_IGTL_CRC',
  /** The body's size contradicts its content (image header, string length, extended header, metadata). */
  'ERR_SONOEDGE_IGTL_BODY_SIZE',
  /** A field out of its range (scalar type, endianness, coordinate system, sub-volume, metadata encoding). */
  'ERR_SONOEDGE_IGTL_FIELD',
  /** A well-formed message sonoedge does not take (a 3D volume, 32-bit or float pixels, 16-bit colour). */
  'ERR_SONOEDGE_IGTL_UNSUPPORTED',
  /** No free stream (maxStreams), or the stream's models failed. */
  'ERR_SONOEDGE_IGTL_STREAM',
  /** A bad `igtl` option (programmatic use; the serve config is checked by its schema). */
  'ERR_SONOEDGE_IGTL_OPTION',
] as const;

export type IgtlErrorCode = (typeof IGTL_ERROR_CODES)[number];

/** OpenIGTLink STATUS codes (the standard's table). */
export const IgtlStatus = {
  INVALID: 0, OK: 1, UNKNOWN_ERROR: 2, PANIC: 3, NOT_FOUND: 4, ACCESS_DENIED: 5, BUSY: 6, TIME_OUT: 7, OVERFLOW: 8,
  CHECKSUM_ERROR: 9, CONFIGURATION_ERROR: 10, NOT_ENOUGH_RESOURCE: 11, UNKNOWN_INSTRUCTION: 12, NOT_READY: 13,
  MANUAL_MODE: 14, DISABLED: 15, NOT_PRESENT: 16, UNKNOWN_VERSION: 17, HARDWARE_FAILURE: 18, SHUTTING_DOWN: 19,
} as const;

const STATUS_OF: Record<IgtlErrorCode, number> = {
  ERR_SONOEDGE_IGTL_HEADER: IgtlStatus.INVALID,
  ERR_SONOEDGE_IGTL_TOO_LARGE: IgtlStatus.OVERFLOW,
  ERR_SONOEDGE_IGTL_CRC: IgtlStatus.CHECKSUM_ERROR,
  ERR_SONOEDGE_IGTL_BODY_SIZE: IgtlStatus.INVALID,
  ERR_SONOEDGE_IGTL_FIELD: IgtlStatus.INVALID,
  ERR_SONOEDGE_IGTL_UNSUPPORTED: IgtlStatus.DISABLED,
  ERR_SONOEDGE_IGTL_STREAM: IgtlStatus.NOT_ENOUGH_RESOURCE,
  ERR_SONOEDGE_IGTL_OPTION: IgtlStatus.CONFIGURATION_ERROR,
};

/** The STATUS error name (20 bytes at most) for each code. */
const NAME_OF: Record<IgtlErrorCode, string> = {
  ERR_SONOEDGE_IGTL_HEADER: 'BAD_HEADER',
  ERR_SONOEDGE_IGTL_TOO_LARGE: 'BODY_TOO_LARGE',
  ERR_SONOEDGE_IGTL_CRC: 'CRC_MISMATCH',
  ERR_SONOEDGE_IGTL_BODY_SIZE: 'BAD_BODY_SIZE',
  ERR_SONOEDGE_IGTL_FIELD: 'BAD_FIELD',
  ERR_SONOEDGE_IGTL_UNSUPPORTED: 'UNSUPPORTED',
  ERR_SONOEDGE_IGTL_STREAM: 'STREAM',
  ERR_SONOEDGE_IGTL_OPTION: 'BAD_OPTION',
};

export class IgtlError extends Error {
  readonly code: IgtlErrorCode;
  /** The connection's framing is lost: it must close after the STATUS. */
  readonly fatal: boolean;
  /** The message's type and device, when the header was read. */
  readonly type?: string;
  readonly device?: string;

  constructor(code: IgtlErrorCode, message: string, opts: { fatal?: boolean; type?: string; device?: string } = {}) {
    super(message);
    this.name = 'IgtlError';
    this.code = code;
    this.fatal = opts.fatal ?? false;
    if (opts.type !== undefined) this.type = opts.type;
    if (opts.device !== undefined) this.device = opts.device;
  }

  /** The STATUS code the peer is told. */
  get status(): number {
    return STATUS_OF[this.code];
  }

  /** The STATUS error name the peer is told. */
  get statusName(): string {
    return NAME_OF[this.code];
  }
}
