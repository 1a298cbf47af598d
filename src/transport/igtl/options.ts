// The OpenIGTLink bridge's options, their defaults and ranges: the one place
// they are written. IgtlBridge fills what it is not given from IGTL_DEFAULTS
// and checks what it is given against IGTL_RANGES; the serve config's `igtl`
// section (src/config/serve-schema.ts) takes its defaults, the "Default: ..."
// of its descriptions, and its minimum, maximum, minLength and maxLength from
// them too.

import type { Flip } from '../../preprocess/flip.js';

export const OUTPUT_TYPES = ['IMAGE', 'STRING', 'POINT', 'POLYDATA'] as const;
export type OutputType = (typeof OUTPUT_TYPES)[number];

export interface IgtlOptions {
  /** 'server': listen on host:port; 'client': connect to host:port (and reconnect). */
  mode: 'server' | 'client';
  host: string;
  /** Server: 0 picks a free port (see `port`). Client: the peer's, 1..65535. */
  port: number;
  /** Header version of the messages sent before the peer has sent one (then the peer's own); 1 or 2. */
  headerVersion: 1 | 2;
  /** What each result becomes, for every connection until it sends STP_<type> (STT_<type> starts one again). */
  results: OutputType[];
  /** Output device names; `{device}` is replaced by the input image's device name, the result cut to 20 bytes at a character boundary. */
  devices: { label: string; summary: string; contour: string };
  /** The label map's value inside the LV (0 outside). */
  labelValue: number;
  /** The frame rate streams are configured with (the scheduler's and EF's notion of time). */
  fps: number;
  maxClients: number;
  /** Streams (input devices) at once over all connections. */
  maxStreams: number;
  /** Streams get the lowest free id from here up (socket clients use their own, usually small, ids). */
  streamBase: number;
  /** Largest message body taken; a larger declared size is refused before allocation and the connection closed. */
  maxBodyBytes: number;
  checkCrc: boolean;
  maxErrorsPerClient: number;
  /** Results waiting per connection while its socket is full; the oldest is dropped. */
  resultQueueLength: number;
  maxPendingWriteBytes: number;
  /** Client mode: delay before reconnecting after the connection was lost or refused. */
  reconnectMs: number;
  /**
   * How the peer's images show the heart against the models' orientation (src/preprocess/flip.ts): every image
   * device's stream gets this flip, and the label map and contour come back in the image's own orientation.
   */
  flip: Flip;
}

export const IGTL_DEFAULTS: Readonly<IgtlOptions> = {
  mode: 'server', host: '127.0.0.1', port: 18944, headerVersion: 2, results: ['IMAGE', 'STRING', 'POLYDATA'],
  devices: { label: 'LVLabel', summary: 'Summary', contour: 'LVContour' }, labelValue: 1, fps: 30, maxClients: 8, maxStreams: 4,
  streamBase: 1000, maxBodyBytes: 64 * 1024 * 1024, checkCrc: true, maxErrorsPerClient: 64, resultQueueLength: 4,
  maxPendingWriteBytes: 4 * 1024 * 1024, reconnectMs: 1000, flip: 'none',
};

/**
 * The options' ranges, the one place they are written: the serve config's igtl section (src/config/serve-schema.ts)
 * and IgtlBridge's own checks (for code that builds the bridge without the config) both read them. integers: each
 * integer option's [min, max]; fps: a number's; deviceNameChars: a device name template's length in characters (code
 * points, as the schema's maxLength counts them; {device} counts as written). port is apart: its floor depends on mode.
 */
export const IGTL_RANGES = {
  integers: {
    labelValue: [1, 255], maxClients: [1, 1024], maxStreams: [1, 1024], streamBase: [0, 65535], maxBodyBytes: [1024, 2 ** 31 - 1],
    maxErrorsPerClient: [1, 1_000_000], resultQueueLength: [1, 4096], maxPendingWriteBytes: [4096, 2 ** 31 - 1], reconnectMs: [10, 600_000],
  },
  fps: [0.1, 1000],
  deviceNameChars: [1, 40],
} as const satisfies {
  integers: { readonly [K in keyof IgtlOptions]?: readonly [number, number] };
  fps: readonly [number, number];
  deviceNameChars: readonly [number, number];
};
