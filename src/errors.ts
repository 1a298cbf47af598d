// One error vocabulary for every external input: TypeError for a wrong type,
// RangeError for a bad value, each with a `code` naming what was wrong.
// Messages say what was expected and what was received:
//   Expected positive integer for width but received -3 of type number

/**
 * Every code errors.ts's helpers attach, at run time too (a test holds src/ and the addon to it).
 */
export const ERROR_CODES = [
  // The serve configuration file (src/config).
  'ERR_SONOEDGE_CONFIG',
  'ERR_SONOEDGE_ARG_TYPE',
  'ERR_SONOEDGE_UNKNOWN_OPTION',
  'ERR_SONOEDGE_PIXEL_FORMAT',
  'ERR_SONOEDGE_DIMENSION',
  'ERR_SONOEDGE_STRIDE',
  'ERR_SONOEDGE_ROI',
  'ERR_SONOEDGE_SECTOR',
  'ERR_SONOEDGE_NORMALIZE',
  'ERR_SONOEDGE_PLAN_OPTION',
  'ERR_SONOEDGE_FRAME_TOO_SHORT',
  'ERR_SONOEDGE_OUTPUT_TYPE',
  'ERR_SONOEDGE_OUTPUT_SIZE',
  'ERR_SONOEDGE_BATCH_INDEX',
  'ERR_SONOEDGE_UNSUPPORTED',
  'ERR_SONOEDGE_ADDON_MISSING',
  'ERR_SONOEDGE_ENGINE_LIBRARY',
  'ERR_SONOEDGE_ENGINE_MODEL',
  'ERR_SONOEDGE_ENGINE_MODEL_NOT_FOUND',
  'ERR_SONOEDGE_ENGINE_OPTION',
  'ERR_SONOEDGE_ENGINE_PROVIDER',
  'ERR_SONOEDGE_ENGINE_PROVIDER_OPTION',
  'ERR_SONOEDGE_ENGINE_WARMUP',
  'ERR_SONOEDGE_ENGINE_BIND',
  'ERR_SONOEDGE_ENGINE_TENSOR_TYPE',
  'ERR_SONOEDGE_ENGINE_TENSOR_SIZE',
  'ERR_SONOEDGE_ENGINE_TENSOR_SHAPE',
  'ERR_SONOEDGE_ENGINE_RUN',
  'ERR_SONOEDGE_ENGINE_CLOSED',
  // Recorded inputs (src/io): replay's DICOM, PNG folders and raw files.
  'ERR_SONOEDGE_INPUT_NOT_FOUND',
  'ERR_SONOEDGE_DICOM',
  'ERR_SONOEDGE_DICOM_TRANSFER_SYNTAX',
  'ERR_SONOEDGE_DICOM_PHOTOMETRIC',
  'ERR_SONOEDGE_DICOM_PIXEL_DATA',
  'ERR_SONOEDGE_DICOM_DIMENSIONS',
  'ERR_SONOEDGE_DICOM_PALETTE',
  // A codec sonoedge lacks (12-bit JPEG), or a decoder library that is missing.
  'ERR_SONOEDGE_DICOM_CODEC',
  // A codec that could not decode a frame's bytes.
  'ERR_SONOEDGE_DICOM_DECODE',
  'ERR_SONOEDGE_RLE',
  'ERR_SONOEDGE_PNG',
  'ERR_SONOEDGE_RAW',
  // DICOM out (src/dicom): a clip or SR that cannot be written, capture options, the outbox folder, the PACS.
  'ERR_SONOEDGE_DICOM_WRITE',
  'ERR_SONOEDGE_CAPTURE_OPTION',
  'ERR_SONOEDGE_OUTBOX',
  'ERR_SONOEDGE_PACS',
  // The runtime's socket (src/transport/socket-server.ts): another runtime serves the path,
  // or the path cannot be a socket (a file there, no such folder, longer than a socket address holds).
  'ERR_SONOEDGE_SOCKET_IN_USE',
  'ERR_SONOEDGE_SOCKET_PATH',
  // The socket's options in code: SocketServer's handler, streams, mode, tcp.host and tcp.port; SocketClient.connect's host and port.
  'ERR_SONOEDGE_SOCKET_OPTION',
  // SerialLink's options in code (src/transport/serial-link.ts): no path or port, runtime, baudRate, resultRate, heartbeatMs,
  // reopenMinMs (above reopenMaxMs too), reopenMaxMs, maxPendingBytes, maxNacksPerSecond.
  'ERR_SONOEDGE_SERIAL_OPTION',
  // ModelControlError (src/runtime/index.ts): LOAD_MODEL, SWAP or a model set whose package failed to verify, load or warm up.
  'ERR_SONOEDGE_MODEL_LOAD',
  // ModelControlError: an id that names no loaded model, a model set out of range.
  'ERR_SONOEDGE_MODEL_UNKNOWN',
  // ResultPublisher.subscribe's consumer (src/runtime/publisher.ts): name, deliver, policy, capacity.
  'ERR_SONOEDGE_PUBLISHER_OPTION',
  // Not thrown: findSector's {found: false} result (src/preprocess/sector.ts); on the wire, ERROR SECTOR_NOT_FOUND.
  'ERR_SONOEDGE_SECTOR_NOT_FOUND',
  // Logged, not thrown: a DICOM capture that failed with an error carrying no code of its own (src/runtime, src/dicom/service.ts).
  'ERR_SONOEDGE_CAPTURE',
  // systemd supervision (src/runtime/supervision.ts): a bad NOTIFY_SOCKET or WATCHDOG_USEC, node-unix-socket
  // not loading, a notification not sent, a watchdog interval under 1 ms.
  'ERR_SONOEDGE_NOTIFY',
  // UsageError (src/cli/args.ts): a mistake on the command line; the CLI exits 2.
  'ERR_SONOEDGE_USAGE',
  // BenchFileError (src/cli/bench.ts): a bench.json that `bench --compare` cannot read.
  'ERR_SONOEDGE_BENCH_FILE',
  // The metrics endpoint's options (src/telemetry/metrics.ts): options that are not an object, a port that is not 0..65535, a host that is not loopback.
  'ERR_SONOEDGE_METRICS',
  // `sonoedge status` (src/cli/status.ts): no metrics endpoint answers, or its exposition has a line that is not a sample.
  'ERR_SONOEDGE_STATUS',
  // The live viewer's options (src/viewer/server.ts, ViewerServer.start): port, host, token, rate, seconds, quality, ...
  'ERR_SONOEDGE_VIEWER_OPTION',
  // A TCP port a part of serve was told to listen on could not be taken (in use, not permitted):
  // the socket's TCP, the viewer, the metrics endpoint, the OpenIGTLink server.
  'ERR_SONOEDGE_LISTEN',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface CodedError extends Error {
  code: ErrorCode;
}

function withCode<E extends Error>(err: E, code: ErrorCode): E & CodedError {
  Object.defineProperty(err, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  return err as E & CodedError;
}

/** Renders a received value the way every message does. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `${JSON.stringify(value)} of type string`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${String(value)} of type ${typeof value}`;
  }
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor.name;
    const len = 'length' in value ? (value as unknown as { length: number }).length : value.byteLength;
    return `${name} of length ${len}`;
  }
  if (value instanceof ArrayBuffer) return `ArrayBuffer of ${value.byteLength} bytes`;
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (typeof value === 'function') return 'function';
  return `object ${safeJson(value)}`;
}

function safeJson(value: unknown): string {
  try {
    const s = JSON.stringify(value);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return '[unserialisable]';
  }
}

export function invalidType(code: ErrorCode, expected: string, name: string, received: unknown): TypeError & CodedError {
  return withCode(new TypeError(`Expected ${expected} for ${name} but received ${describe(received)}`), code);
}

export function invalidValue(code: ErrorCode, expected: string, name: string, received: unknown): RangeError & CodedError {
  return withCode(new RangeError(`Expected ${expected} for ${name} but received ${describe(received)}`), code);
}

export function rangeError(code: ErrorCode, message: string): RangeError & CodedError {
  return withCode(new RangeError(message), code);
}

export function typeError(code: ErrorCode, message: string): TypeError & CodedError {
  return withCode(new TypeError(message), code);
}

/** Attaches a code to an error thrown by native code, keeping its class. */
export function coded<E extends Error>(err: E, code: ErrorCode): E & CodedError {
  return withCode(err, code);
}
