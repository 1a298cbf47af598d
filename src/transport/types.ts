// The two small interfaces every transport implements (DESIGN.md decision 7):
// a FrameSource hands frames to the pipeline, a ResultSink takes results from
// it. A new transport (OpenIGTLink, WebSocket viewer, shared memory) touches
// nothing in the pipeline: it implements one or both of these.
import type { FrameInfo } from '../pipeline/scheduler.js';
import type { ConfigureStream, ResultBody } from '../protocol/messages.js';

/** The longest Unix socket path, in bytes: sun_path is 108 bytes on Linux (104 elsewhere), its last a NUL. */
export const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

/** A frame as every source delivers it. `pixels` is read in place (not copied). */
export interface SourceFrame extends FrameInfo {
  stream: number;
  /** The stream's geometry, as configured by CONFIGURE_STREAM (or the source's equivalent). */
  config: ConfigureStream;
  pixels: Uint8Array;
  /** Firmware acquisition time as sent (ms, the firmware's clock). */
  t: number;
  /** Call when the pixels may be reused (shared-memory slots); optional. */
  release?: () => void;
}

/** What the pipeline (or a stand-in) returns for one frame. */
export interface FrameResult {
  view?: string | null;
  confidence?: number | null;
  quality?: number | null;
  lvAreaMm2?: number | null;
  ef?: number | null;
  /** The in-distribution state; a source that cannot tell says nothing (sent as `ok`, idScore null). */
  state?: 'ok' | 'uncertain' | 'unknown';
  idScore?: number | null;
  efCi?: [number, number] | null;
  edSeq?: number | null;
  esSeq?: number | null;
  flags?: number;
  mask?: { width: number; height: number; data: Uint8Array };
  contour?: number[];
}

export interface FrameSource {
  readonly kind: string;
  /** Starts delivering frames to `submit`. */
  start(submit: (frame: SourceFrame) => void): Promise<void>;
  stop(): Promise<void>;
}

export interface ResultSink {
  readonly kind: string;
  /** Never blocks: a sink that cannot keep up drops (and counts) old results. */
  write(result: ResultBody): void;
  close(): Promise<void>;
}
