// The OpenIGTLink bridge (DESIGN.md decision 7): PLUS, 3D Slicer or any
// OpenIGTLink peer sends IMAGE messages, each device name one stream of the
// runtime's StreamManager; results come back from the ResultPublisher (one
// drop-oldest consumer per connection, bounded, never slowing the pipeline)
// as an IMAGE label map in the input's own geometry (size, matrix, spacing,
// coordinate system: Slicer overlays it), a STRING with a JSON summary, and
// the LV contour in millimetres as POINT and/or POLYDATA. The bridge listens
// (server mode) or connects and reconnects (client mode). docs/OPENIGTLINK.md.
//
// Bad input never closes a connection unless its framing is lost (a header
// that is not one, a declared body over maxBodyBytes): a message with a wrong
// CRC, a wrong body size or a bad field is discarded with a STATUS naming
// why; an unknown type is skipped unread; a peer past maxErrorsPerClient is
// disconnected. Other connections are served on.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { SPACING_RANGE_MM } from '../../io/types.js';
import { ResultFlag } from '../../protocol/constants.js';
import { frameBytes, type ConfigureStream, type ResultBody } from '../../protocol/messages.js';
import type { PixelFormatName } from '../../preprocess/types.js';
import type { Subscription } from '../../runtime/publisher.js';
import type { ServerFrame, StreamManager, StreamOwner } from '../../runtime/streams.js';
import { hostProblem } from '../../util/host.js';
import { listenOn } from '../../util/listen.js';
import { checkKeys } from '../../util/options.js';
import { cutUtf8, DEVICE_BYTES, encodeIgtl, IgtlDecoder, timestampMs, type IgtlMessage } from './codec.js';
import { IgtlError, IgtlStatus } from './errors.js';
import { fillPolygon, pixelToWorld, spacingOf } from './geometry.js';
import { encodeImage, encodePoints, encodePolyData, encodeRts, encodeStatus, encodeString, parseImage, SCALAR_TYPES, type IgtlImage } from './messages.js';
import { IGTL_DEFAULTS, IGTL_RANGES, OUTPUT_TYPES, type IgtlOptions, type OutputType } from './options.js';
import { FLIPS, isFlip } from '../../preprocess/flip.js';

export interface IgtlBridgeOptions extends Partial<IgtlOptions> {
  streams: StreamManager;
  /**
   * After a device's models failed to load, its IMAGEs of the same geometry are refused (STATUS) for this long; an
   * integer 10..600000 (as reconnectMs: 0 would load again at every frame), default 5000 ms.
   */
  modelRetryMs?: number;
  /**
   * Where it logs; an error of the server after it listens (an accept that fails) is logged here as 'openigtlink
   * server error' and the bridge serves on (it is emitted as 'error' too, but only to a listener there is: an
   * 'error' without one would end the process).
   */
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
}

export interface IgtlStats {
  connections: number;
  messagesIn: number;
  imagesIn: number;
  skipped: number;
  rejected: number;
  resultsOut: number;
  resultsDropped: number;
  messagesOut: number;
  /** Times a connection's reading was paused because it did not read its replies. */
  readsPaused: number;
}

/** What a frame's result needs of its input image to come back in the same geometry. */
interface FrameGeometry {
  size: [number, number, number];
  matrix: number[];
  coordinates: 'RAS' | 'LPS';
  timestampMs: number;
}

interface DeviceStream {
  id: number;
  device: string;
  conn: Connection;
  config: ConfigureStream;
  key: string;
  seq: number;
  /** Geometry of recent frames by seq (bounded): results are matched to their own frame's geometry. */
  frames: Map<number, FrameGeometry>;
  /** The last full frame (sub-volume IMAGEs patch a copy of it). */
  last: Uint8Array | undefined;
  ready: boolean;
}

/** One output message of a result: its device and content, and the whole message by header version (1, 2) once encoded. */
interface Built {
  device: string;
  content: Uint8Array | Uint8Array[];
  wire: [Buffer | undefined, Buffer | undefined];
}

/** What the constructor takes: IgtlOptions's keys and the bridge's own. */
const BRIDGE_KEYS = [...Object.keys(IGTL_DEFAULTS), 'streams', 'modelRetryMs', 'log'];
const DEVICE_KEYS = Object.keys(IGTL_DEFAULTS.devices);
const TAKEN = new Set(['IMAGE', 'STATUS', 'STRING', 'POINT', 'POLYDATA', 'TRANSFORM', 'POSITION']);
const takes = (type: string): boolean => TAKEN.has(type) || /^(GET|STT|STP|RTS)_/.test(type);
/** modelRetryMs (not a serve config option): its range, as reconnectMs's, and its default. */
const MODEL_RETRY_MS = [10, 600_000] as const;
const MODEL_RETRY_MS_DEFAULT = 5000;
/** A received value in an option's error: a string quoted, an object or function by its type, anything else as String() has it (NaN, 1.5, undefined). */
const shown = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : (typeof v === 'object' && v !== null) || typeof v === 'function' ? typeof v : String(v));
/** o's entries but those set to undefined: an option set to undefined is not given (a spread partial config), so its default applies; null is a value, checked. */
const given = <T extends object>(o: T | undefined): Partial<T> => Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
const FRAMES_KEPT = 256;
/** close() and a closing rejection: how long a peer has to take the last bytes and close before its connection is destroyed. */
const CLOSE_GRACE_MS = 500;

class Connection implements StreamOwner {
  readonly id: number;
  readonly socket: net.Socket;
  readonly decoder: IgtlDecoder;
  readonly wants: Set<OutputType>;
  readonly devices = new Map<string, DeviceStream>();
  /** Devices whose models failed to load: the geometry and until when it is not tried again. */
  readonly failed = new Map<string, { key: string; until: number; why: string }>();
  version: 1 | 2;
  errors = 0;
  closed = false;
  sub: Subscription | undefined;
  readonly #bridge: IgtlBridge;

  constructor(id: number, socket: net.Socket, o: IgtlOptions, bridge: IgtlBridge) {
    this.id = id;
    this.socket = socket;
    this.decoder = new IgtlDecoder({ maxBodyBytes: o.maxBodyBytes, checkCrc: o.checkCrc, takes });
    this.wants = new Set(o.results);
    this.version = o.headerVersion;
    this.#bridge = bridge;
  }

  frameFailed(frame: ServerFrame, err: unknown): void {
    this.#bridge.frameFailed(this, frame, err);
  }
}

/**
 * The constructor's checks of option values (an IgtlError ERR_SONOEDGE_IGTL_OPTION naming the first bad one), as the
 * serve config's igtl section applies them; o with a copy of its results list (the caller's, or IGTL_DEFAULTS', changed
 * later, would reach each new connection unchecked).
 */
function checkOptions(o: IgtlOptions, modelRetryMs: number): IgtlOptions {
  const bad = (message: string): IgtlError => new IgtlError('ERR_SONOEDGE_IGTL_OPTION', message);
  const { host, mode } = o;
  const { integers, fps: fpsRange, deviceNameChars: chars } = IGTL_RANGES;
  // Anything but 'client' would otherwise listen: a misspelt 'clinet' must not make a server.
  if (mode !== 'server' && mode !== 'client') {
    throw bad(`Expected "server" or "client" for mode but received ${shown(mode)}`);
  }
  // As the serve config's checkIgtl: a malformed address fails here, not at listen or at every reconnect.
  // A client's host is its peer's, never 0.0.0.0 or ::.
  const hostBad = hostProblem(host, mode === 'client' ? 'peer' : 'any', 'host');
  if (hostBad) throw bad(hostBad);
  // A server takes port 0 (a free one, see port); a client would connect to port 0 and retry for ever.
  const lowest = mode === 'client' ? 1 : 0;
  if (!(Number.isInteger(o.port) && o.port >= lowest && o.port <= 65535)) {
    throw bad(`Expected an integer ${lowest}..65535 for port${lowest ? ' in client mode (the peer\'s port)' : ''} but received ${shown(o.port)}`);
  }
  if (o.headerVersion !== 1 && o.headerVersion !== 2) {
    throw bad(`Expected 1 or 2 for headerVersion but received ${shown(o.headerVersion)}`);
  }
  for (const [key, [min, max]] of Object.entries(integers) as [keyof IgtlOptions, readonly [number, number]][]) {
    const v = o[key];
    if (!(Number.isInteger(v) && (v as number) >= min && (v as number) <= max)) {
      throw bad(`Expected an integer ${min}..${max} for ${key} but received ${shown(v)}`);
    }
  }
  const [rmin, rmax] = MODEL_RETRY_MS;
  if (!(Number.isInteger(modelRetryMs) && modelRetryMs >= rmin && modelRetryMs <= rmax)) {
    throw bad(`Expected an integer ${rmin}..${rmax} for modelRetryMs but received ${shown(modelRetryMs)}`);
  }
  const { fps } = o;
  if (!(typeof fps === 'number' && fps >= fpsRange[0] && fps <= fpsRange[1])) {
    throw bad(`Expected a number ${fpsRange[0]}..${fpsRange[1]} for fps but received ${shown(fps)}`);
  }
  if (!isFlip(o.flip)) {
    throw bad(`Expected one of ${FLIPS.join(', ')} for flip but received ${shown(o.flip)}`);
  }
  // A string 'false' would otherwise be truthy: the check on where it was meant off.
  if (typeof o.checkCrc !== 'boolean') {
    throw bad(`Expected a boolean for checkCrc but received ${shown(o.checkCrc)}`);
  }
  // As the schema's igtl.results: a list (a string 'IMAGE' was read letter by letter), each type once.
  if (!Array.isArray(o.results)) {
    throw bad(`Expected a list of distinct ${OUTPUT_TYPES.join(', ')} for results but received ${shown(o.results)}`);
  }
  // A copy, checked and kept (the doc comment above).
  const results = [...o.results];
  const seen = new Set<unknown>();
  for (const t of results as unknown[]) {
    if (!(OUTPUT_TYPES as readonly unknown[]).includes(t)) throw bad(`Expected results among ${OUTPUT_TYPES.join(', ')} but received ${shown(t)}`);
    if (seen.has(t)) throw bad(`Expected distinct results but received ${shown(t)} more than once`);
    seen.add(t);
  }
  // As the schema's igtl.devices: each a string of 1..40 characters (then cut to 20 bytes once {device} is replaced).
  for (const key of DEVICE_KEYS as (keyof IgtlOptions['devices'])[]) {
    const v: unknown = o.devices[key];
    const n = typeof v === 'string' ? [...v].length : -1;
    if (!(n >= chars[0] && n <= chars[1])) {
      throw bad(`Expected a string of ${chars[0]}..${chars[1]} characters for devices.${key} but received ${shown(v)}${n < 0 ? '' : ` (${n} characters)`}`);
    }
  }
  return { ...o, results };
}

export class IgtlBridge extends EventEmitter {
  readonly kind = 'openigtlink';
  readonly options: Readonly<IgtlOptions>;
  readonly streams: StreamManager;
  readonly #log: IgtlBridgeOptions['log'];
  readonly #conns = new Set<Connection>();
  readonly #byStream = new Map<number, DeviceStream>();
  /** The last message of each output device name, for GET_<type>. */
  readonly #latest = new Map<string, { type: OutputType; device: string; content: Uint8Array | Uint8Array[]; timestampMs: number }>();
  readonly #t: Omit<IgtlStats, 'connections'> = { messagesIn: 0, imagesIn: 0, skipped: 0, rejected: 0, resultsOut: 0, resultsDropped: 0, messagesOut: 0, readsPaused: 0 };
  /** Rejections by code. */
  readonly errorsByCode = new Map<string, number>();
  readonly #modelRetryMs: number;
  #server: net.Server | undefined;
  #nextId = 0;
  #closing = false;
  #reconnect: NodeJS.Timeout | undefined;
  #port = 0;

  /**
   * An unknown option name, in devices too, is a TypeError (ERR_SONOEDGE_UNKNOWN_OPTION) that names the closest known one;
   * a bad value an IgtlError ERR_SONOEDGE_IGTL_OPTION (mode, host, port, headerVersion, the numbers, checkCrc, results, devices: as the serve
   * config's igtl section). Both name an option as it is passed here (lableValue, devices.lable), not as igtl.x.
   * An option set to undefined, in devices too, is one not given: its default applies.
   */
  constructor(options: IgtlBridgeOptions) {
    super();
    checkKeys(options, '', BRIDGE_KEYS);
    if (options.devices !== undefined) checkKeys(options.devices, 'devices', DEVICE_KEYS);
    const { streams, log, modelRetryMs, ...rest } = options;
    // As the integer options: undefined is not given, null and strings are refused (null would have been 5000).
    this.#modelRetryMs = modelRetryMs === undefined ? MODEL_RETRY_MS_DEFAULT : modelRetryMs;
    if (!streams) throw new IgtlError('ERR_SONOEDGE_IGTL_OPTION', 'Expected a StreamManager for streams but received none');
    this.options = checkOptions({ ...IGTL_DEFAULTS, ...given(rest), devices: { ...IGTL_DEFAULTS.devices, ...given(rest.devices) } }, this.#modelRetryMs);
    this.streams = streams;
    this.#log = log;
  }

  get stats(): IgtlStats {
    return { connections: this.#conns.size, ...this.#t };
  }

  /** Server mode: the port listened on (the one picked, for port 0). */
  get port(): number {
    return this.#port;
  }

  /** Streams this bridge opened, by input device (for tests and status). */
  get devices(): { stream: number; device: string; connection: number; width: number; height: number; format: PixelFormatName; spacing: [number, number] }[] {
    return [...this.#byStream.values()].map((d) => ({
      stream: d.id, device: d.device, connection: d.conn.id, width: d.config.width, height: d.config.height, format: d.config.format, spacing: d.config.spacing,
    }));
  }

  /** Server: listens (a port that cannot be taken: Error ERR_SONOEDGE_LISTEN naming igtl.port). Client: starts connecting (and reconnecting); resolves at once. */
  async start(): Promise<void> {
    const o = this.options;
    if (o.mode === 'client') {
      this.#connect();
      return;
    }
    const server = net.createServer((s) => this.#accept(s));
    // A port that cannot be taken (in use) is ERR_SONOEDGE_LISTEN naming igtl.port, as for the socket's TCP and the viewer.
    await listenOn(server, o.port, o.host, 'the OpenIGTLink server (igtl.port)', 'ERR_SONOEDGE_LISTEN');
    this.#server = server;
    this.#port = (server.address() as net.AddressInfo).port;
    // Listening: a later error (an accept that fails) is logged, and neither ends the process nor stops the bridge.
    server.on('error', (err) => {
      this.#log?.error({ err, host: o.host, port: this.#port }, 'openigtlink server error');
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  /** Server mode once started: the listening server (for tests: its listeners). */
  get server(): net.Server | undefined {
    return this.#server;
  }

  /** Stops listening (or reconnecting), closes every connection and the streams they opened. */
  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#reconnect);
    const closed = this.#server ? new Promise<void>((r) => this.#server!.close(() => r())) : Promise.resolve();
    await Promise.all([...this.#conns].map((c) => {
      this.#send(c, 'STATUS', '', encodeStatus({ code: IgtlStatus.SHUTTING_DOWN, errorName: 'SHUTTING_DOWN', message: 'sonoedge is stopping' }));
      return this.#end(c);
    }));
    await closed;
  }

  // --- connections ----------------------------------------------------------

  #connect(): void {
    if (this.#closing) return;
    const o = this.options;
    const s = net.createConnection({ host: o.host, port: o.port });
    let up = false;
    s.once('connect', () => {
      up = true;
      this.#log?.info({ host: o.host, port: o.port }, 'openigtlink connected');
      this.#accept(s);
    });
    s.on('close', () => {
      if (!up) s.destroy();
      if (this.#closing) return;
      if (up) this.#log?.warn({ host: o.host, port: o.port }, 'openigtlink connection lost; reconnecting');
      this.#reconnect = setTimeout(() => this.#connect(), o.reconnectMs);
    });
    s.on('error', () => undefined); // 'close' follows
  }

  #accept(socket: net.Socket): void {
    const o = this.options;
    if (this.#closing || this.#conns.size >= o.maxClients) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const c = new Connection(++this.#nextId, socket, o, this);
    this.#conns.add(c);
    c.sub = this.streams.publisher.subscribe({
      name: `igtl-${c.id}`,
      policy: 'drop-oldest',
      capacity: o.resultQueueLength,
      filter: (r) => c.wants.size > 0 && this.#byStream.has(r.stream) && (r.flags & ResultFlag.SECTOR_SEARCH) === 0,
      ready: () => c.closed || socket.writableLength <= o.maxPendingWriteBytes,
      deliver: (r) => this.#deliver(c, r),
      onDrop: () => { this.#t.resultsDropped++; },
    });
    socket.on('drain', () => {
      c.sub?.wake();
      if (!c.closed && socket.isPaused() && socket.writableLength <= o.maxPendingWriteBytes) socket.resume();
    });
    socket.on('data', (chunk: Buffer) => this.#data(c, chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => void this.#drop(c));
    this.emit('connection', c.id);
  }

  /**
   * Ends a connection after its last message: the peer has CLOSE_GRACE_MS to take the bytes and close its side,
   * then the socket is destroyed (a peer that never closes, or reads nothing, is cut off). Resolves once its streams are closed.
   */
  #end(c: Connection): Promise<void> {
    c.socket.end();
    setTimeout(() => c.socket.destroy(), CLOSE_GRACE_MS).unref();
    return this.#drop(c);
  }

  /** Forgets a connection (once, however it closed) and closes the streams it opened. */
  #drop(c: Connection): Promise<void> {
    if (c.closed) return Promise.resolve();
    c.closed = true;
    c.sub?.close();
    this.#conns.delete(c);
    for (const d of c.devices.values()) if (this.#byStream.get(d.id) === d) this.#byStream.delete(d.id);
    c.devices.clear();
    this.emit('disconnect', c.id);
    return this.streams.closeOwnedBy(c);
  }

  #data(c: Connection, chunk: Buffer): void {
    if (c.closed) return;
    for (const ev of c.decoder.push(chunk)) {
      if (c.closed) return;
      if (ev.kind === 'skipped') {
        this.#t.skipped++;
        this.emit('skipped', c.id, ev.header.type);
        continue;
      }
      if (ev.kind === 'error') {
        this.#reject(c, ev.error);
        continue;
      }
      this.#t.messagesIn++;
      c.version = ev.message.header.version === 1 ? 1 : 2;
      try {
        this.#handle(c, ev.message);
      } catch (err) {
        this.#reject(c, err instanceof IgtlError ? err
          : new IgtlError('ERR_SONOEDGE_IGTL_FIELD', `Expected to handle ${ev.message.header.type} but failed: ${(err as Error)?.message ?? String(err)}`));
      }
    }
  }

  /** A STATUS naming the error; the connection closes when its framing is lost or it has caused too many. */
  #reject(c: Connection, err: IgtlError): void {
    this.#t.rejected++;
    c.errors++;
    this.errorsByCode.set(err.code, (this.errorsByCode.get(err.code) ?? 0) + 1);
    this.emit('rejected', c.id, err);
    const tooMany = c.errors > this.options.maxErrorsPerClient;
    this.#send(c, 'STATUS', err.device ?? '', encodeStatus({ code: err.status, errorName: err.statusName, message: err.message }));
    if (err.fatal || tooMany) {
      this.#log?.warn({ connection: c.id, code: err.code, message: err.message, tooMany }, 'openigtlink connection closed');
      void this.#end(c);
    }
  }

  #send(c: Connection, type: string, device: string, content: Uint8Array | Uint8Array[], extra: { timestampMs?: number } = {}): void {
    if (c.closed && type !== 'STATUS') return;
    if (c.socket.destroyed || !c.socket.writable) return;
    this.#write(c, encodeIgtl({ type, device, content, headerVersion: c.version, ...extra }));
  }

  /** Writes one encoded message; pauses reading from a peer that does not take its replies. */
  #write(c: Connection, bytes: Uint8Array): void {
    const s = c.socket;
    if (s.destroyed || !s.writable) return;
    s.write(bytes);
    this.#t.messagesOut++;
    // A peer that asks (GET_, bad messages) without reading its replies is not read either until it does.
    if (s.writableLength > this.options.maxPendingWriteBytes && !s.isPaused()) {
      s.pause();
      this.#t.readsPaused++;
    }
  }

  // --- messages in ----------------------------------------------------------

  #handle(c: Connection, m: IgtlMessage): void {
    const { type, device } = m.header;
    if (type === 'IMAGE') {
      this.#image(c, m);
      return;
    }
    const prefix = type.slice(0, 4);
    const what = type.slice(4);
    if (prefix === 'GET_') {
      if (what === 'STATUS') {
        this.#send(c, 'STATUS', device, encodeStatus({
          code: IgtlStatus.OK, message: JSON.stringify({ server: 'sonoedge', streams: this.devices.map((d) => ({ device: d.device, stream: d.stream })) }),
        }));
        return;
      }
      const found = [...this.#latest.values()].filter((l) => l.type === what && (device === '' || l.device === device));
      if (!OUTPUT_TYPES.includes(what as OutputType) || found.length === 0) {
        this.#send(c, 'STATUS', device, encodeStatus({
          code: IgtlStatus.NOT_FOUND, errorName: 'NOT_FOUND',
          message: OUTPUT_TYPES.includes(what as OutputType)
            ? `Expected a ${what} result${device === '' ? '' : ` of device ${JSON.stringify(device)}`} to have been sent but none has`
            : `Expected GET_ of ${['STATUS', ...OUTPUT_TYPES].join(', ')} but received ${type}`,
        }));
        return;
      }
      for (const l of found) this.#send(c, l.type, l.device, l.content, { timestampMs: l.timestampMs });
      return;
    }
    if (prefix === 'STT_' || prefix === 'STP_') {
      const ok = OUTPUT_TYPES.includes(what as OutputType);
      if (ok) {
        if (prefix === 'STT_') c.wants.add(what as OutputType);
        else c.wants.delete(what as OutputType);
      }
      this.#send(c, `RTS_${what}`, device, encodeRts(ok));
      return;
    }
    // RTS_, STATUS, STRING, POINT, POLYDATA, TRANSFORM, POSITION from a peer: checked (CRC, sizes), not used.
  }

  #image(c: Connection, m: IgtlMessage): void {
    const { device } = m.header;
    const img = parseImage(m.content, device);
    this.#t.imagesIn++;
    const at = { type: 'IMAGE', device };
    if (img.size[2] !== 1) {
      throw new IgtlError('ERR_SONOEDGE_IGTL_UNSUPPORTED', `Expected a 2D image (size k 1) but received ${img.size.join('x')} from ${JSON.stringify(device)}`, at);
    }
    const format = formatOf(img);
    if (format === undefined) {
      throw new IgtlError('ERR_SONOEDGE_IGTL_UNSUPPORTED',
        `Expected 8- or 16-bit integer pixels with 1 component, or 8-bit with 3 or 4, but received ${img.components} component(s) of scalar type ${img.scalarType} from ${JSON.stringify(device)}`, at);
    }
    const [sx, sy] = spacingOf(img.matrix).map((v, i) => checkSpacing(v, i === 0 ? 'i' : 'j', device));
    const [w, h] = img.size;
    const config: ConfigureStream = {
      stream: 0, width: w, height: h, format, spacing: [sx, sy], fps: this.options.fps, ...(this.options.flip !== 'none' ? { flip: this.options.flip } : {}),
    };
    const key = `${w}x${h} ${format} ${sx} ${sy}`;
    const failed = c.failed.get(device);
    if (failed && failed.key === key && Date.now() < failed.until) {
      throw new IgtlError('ERR_SONOEDGE_IGTL_STREAM',
        `Expected models for ${JSON.stringify(device)} (${w}x${h} ${format}) but they failed to load (${failed.why}); tried again ${Math.ceil((failed.until - Date.now()) / 1000)} s from now`, at);
    }
    let d = c.devices.get(device);
    if (d === undefined) {
      if (this.#byStream.size >= this.options.maxStreams) {
        throw new IgtlError('ERR_SONOEDGE_IGTL_STREAM', `Expected at most ${this.options.maxStreams} image devices at once but received one more (${JSON.stringify(device)})`, at);
      }
      const id = this.#freeId();
      if (id === undefined) throw new IgtlError('ERR_SONOEDGE_IGTL_STREAM', `Expected a free stream id from ${this.options.streamBase} but every one is taken`, at);
      d = { id, device, conn: c, config: { ...config, stream: id }, key: '', seq: 0, frames: new Map(), last: undefined, ready: false };
      c.devices.set(device, d);
      this.#byStream.set(id, d);
    }
    const pixels = this.#pixels(d, img, key);
    if (d.key !== key) {
      // A new geometry: the stream is (re)configured; its frames wait in the scheduler while its models load.
      const dev = d;
      dev.key = key;
      dev.config = { ...config, stream: dev.id };
      const cfg = dev.config;
      this.streams.configure(c, cfg, frameBytes(cfg), undefined, (err) => {
        if (err === undefined) {
          if (dev.config === cfg) dev.ready = true;
          this.#log?.info({ stream: dev.id, device, width: w, height: h, format, spacing: [sx, sy] }, 'openigtlink stream ready');
          return;
        }
        if (c.devices.get(device) === dev) c.devices.delete(device);
        if (this.#byStream.get(dev.id) === dev) this.#byStream.delete(dev.id);
        // Not at every IMAGE of a stream that cannot load: the same geometry is tried again after modelRetryMs.
        c.failed.set(device, { key, until: Date.now() + this.#modelRetryMs, why: (err as Error)?.message ?? String(err) });
        this.#reject(c, new IgtlError('ERR_SONOEDGE_IGTL_STREAM',
          `Expected the models to load for ${JSON.stringify(device)} (${w}x${h} ${format}) but they failed: ${(err as Error)?.message ?? String(err)}; the stream is closed`, at));
      });
    }
    const seq = ++d.seq;
    d.frames.set(seq, { size: img.size, matrix: img.matrix, coordinates: img.coordinates, timestampMs: timestampMs(m.header) });
    if (d.frames.size > FRAMES_KEPT) d.frames.delete(d.frames.keys().next().value!);
    d.last = pixels;
    if (!this.streams.get(d.id)) return; // its configuration failed synchronously
    this.streams.submit(d.id, {
      seq, acquiredAt: performance.now(), t: timestampMs(m.header), stream: d.id, config: d.config, pixels, clientId: c.id, messageSeq: m.messageId,
    });
  }

  /** The frame's pixels as the pipeline reads them: the message's own bytes when they are already so, else a converted copy. */
  #pixels(d: DeviceStream, img: IgtlImage, key: string): Uint8Array {
    const bytes = SCALAR_TYPES[img.scalarType].bytes;
    const whole = img.subSize[0] === img.size[0] && img.subSize[1] === img.size[1];
    const signed = img.scalarType === 2 || img.scalarType === 4;
    const swap = bytes === 2 && img.endian === 'big';
    let px = img.pixels;
    if (signed || swap) {
      px = Uint8Array.from(px);
      if (bytes === 1) for (let i = 0; i < px.length; i++) px[i] ^= 0x80;
      else {
        // To little-endian unsigned: swap big-endian pairs, then flip the sign bit of signed values.
        for (let i = 0; i < px.length; i += 2) {
          if (swap) { const b = px[i]; px[i] = px[i + 1]; px[i + 1] = b; }
          if (signed) px[i + 1] ^= 0x80;
        }
      }
    }
    if (whole) return px;
    // A sub-volume: patched into a copy of the last full frame of this geometry (zeros before the first).
    const [w, h] = img.size;
    const pixel = bytes * img.components;
    const out = new Uint8Array(w * h * pixel);
    if (d.last && d.key === key && d.last.length === out.length) out.set(d.last);
    const rowBytes = img.subSize[0] * pixel;
    for (let y = 0; y < img.subSize[1]; y++) {
      const dst = ((img.subOffset[1] + y) * w + img.subOffset[0]) * pixel;
      out.set(px.subarray(y * rowBytes, (y + 1) * rowBytes), dst);
    }
    return out;
  }

  #freeId(): number | undefined {
    for (let id = this.options.streamBase; id <= 0xffff; id++) if (!this.#byStream.has(id) && !this.streams.get(id)) return id;
    return undefined;
  }

  /** @internal StreamOwner: the pipeline failed on a frame. */
  frameFailed(c: Connection, frame: ServerFrame, err: unknown): void {
    const d = this.#byStream.get(frame.stream);
    this.#send(c, 'STATUS', d?.device ?? '', encodeStatus({
      code: IgtlStatus.UNKNOWN_ERROR, errorName: 'FRAME_FAILED',
      message: `Expected a result for frame ${frame.seq} of ${JSON.stringify(d?.device ?? '')} but the pipeline failed: ${(err as Error)?.message ?? String(err)}`,
    }));
  }

  // --- results out ----------------------------------------------------------

  #deliver(c: Connection, r: ResultBody): void {
    if (c.closed) return;
    const d = this.#byStream.get(r.stream);
    const g = d?.frames.get(r.seq);
    if (!d || !g) return;
    for (const type of OUTPUT_TYPES) {
      if (c.wants.has(type)) this.#write(c, this.#message(r, d, g, type, c.version));
    }
    this.#t.resultsOut++;
  }

  /**
   * A result's messages, each built once (and only when some connection takes it), however many connections take
   * them: the content once per type, the whole message (header, metadata, the copy of the content and its CRC-64)
   * once per type and header version.
   */
  readonly #cache = new WeakMap<ResultBody, Map<OutputType, Built>>();

  #message(r: ResultBody, d: DeviceStream, g: FrameGeometry, type: OutputType, version: 1 | 2): Buffer {
    const b = this.#encoded(r, d, g, type);
    return (b.wire[version - 1] ??= encodeIgtl({
      type, device: b.device, content: b.content, headerVersion: version, timestampMs: g.timestampMs, messageId: r.seq,
      metadata: [['sonoedge.stream', String(r.stream)], ['sonoedge.seq', String(r.seq)], ['sonoedge.source', d.device], ['sonoedge.state', r.state]],
    }));
  }

  #encoded(r: ResultBody, d: DeviceStream, g: FrameGeometry, type: OutputType): Built {
    let built = this.#cache.get(r);
    if (!built) {
      built = new Map();
      this.#cache.set(r, built);
    }
    const hit = built.get(type);
    if (hit) return hit;
    const o = this.options;
    const name = (tpl: string) => cutUtf8(tpl.replaceAll('{device}', d.device), DEVICE_BYTES);
    const contour = r.contour && r.contour.length >= 6 ? r.contour : undefined;
    const points = (): [number, number, number][] => {
      const world = pixelToWorld(g.size, g.matrix);
      const pts: [number, number, number][] = [];
      if (contour) for (let k = 0; k + 1 < contour.length; k += 2) pts.push(world(contour[k], contour[k + 1]));
      return pts;
    };
    let out: Omit<Built, 'wire'>;
    switch (type) {
      case 'IMAGE': {
        const [w, h] = g.size;
        // Header and label pixels as two parts: the pixels are copied once, into the message.
        const label = fillPolygon(contour, w, h, o.labelValue);
        out = {
          device: name(o.devices.label),
          content: [encodeImage({ components: 1, scalarType: 3, endian: 'little', coordinates: g.coordinates, size: g.size, matrix: g.matrix, pixels: new Uint8Array(0), subSize: g.size }), label],
        };
        break;
      }
      case 'STRING':
        out = { device: name(o.devices.summary), content: encodeString(JSON.stringify(summaryOf(r, d.device))) };
        break;
      case 'POINT': {
        const device = name(o.devices.contour);
        out = { device, content: encodePoints(points().map((p, k) => ({ name: `LV-${k}`, group: 'LV', rgba: [255, 64, 64, 255], position: p, diameter: 0, owner: device }))) };
        break;
      }
      default: {
        const pts = points();
        out = { device: name(o.devices.contour), content: encodePolyData({ points: pts.flat(), lines: pts.length ? [[...pts.keys(), 0]] : [] }) };
      }
    }
    const b: Built = { ...out, wire: [undefined, undefined] };
    built.set(type, b);
    this.#latest.set(`${type}/${out.device}`, { type, device: out.device, content: out.content, timestampMs: g.timestampMs });
    return b;
  }
}

/** SPACING_RANGE_MM's ends as an IMAGE's float32 matrix holds them (1e-6 is 9.99999997e-7 there). */
const SPACING_MIN = Math.fround(SPACING_RANGE_MM.min);
const SPACING_MAX = Math.fround(SPACING_RANGE_MM.max);

/**
 * An IMAGE's spacing along an axis (its matrix column's length) in SPACING_RANGE_MM (1e-6..1000 mm), as
 * CONFIGURE_STREAM.spacing, replay's file spacing and --pixel-spacing: past it LV areas underflow to 0 or overflow
 * to Infinity (an EF of NaN). Compared as float32, the matrix's own precision; NaN is refused too. Else BAD_FIELD.
 * Returns the spacing the stream is given: clamped to the range in double precision, since an end that float32
 * holds (1e-6 as 9.99999997e-7, a rotated column's length a hair over 1000) lies just outside it, and the
 * pipeline, which checks the range in doubles, would refuse the stream when its models load.
 */
function checkSpacing(v: number, axis: 'i' | 'j', device: string): number {
  const f = Math.fround(v);
  if (!(f >= SPACING_MIN && f <= SPACING_MAX)) {
    throw new IgtlError('ERR_SONOEDGE_IGTL_FIELD',
      `Expected a spacing of ${SPACING_RANGE_MM.min}..${SPACING_RANGE_MM.max} mm per pixel along ${axis} (the length of the matrix's ${axis} column) but received ${v} from ${JSON.stringify(device)}`,
      { type: 'IMAGE', device });
  }
  return Math.min(SPACING_RANGE_MM.max, Math.max(SPACING_RANGE_MM.min, v));
}

/** 8- and 16-bit integer pixels are taken (scalar types 2..5); wider and float ones are not. */
function formatOf(img: IgtlImage): PixelFormatName | undefined {
  const bytes = SCALAR_TYPES[img.scalarType].bytes;
  if (bytes > 2) return undefined;
  if (img.components === 1) return bytes === 1 ? 'GRAY8' : 'GRAY16';
  if (bytes !== 1) return undefined;
  if (img.components === 3) return 'RGB8';
  if (img.components === 4) return 'RGBA8';
  return undefined;
}

/** The STRING summary of a result (docs/OPENIGTLINK.md). */
export function summaryOf(r: ResultBody, device: string): Record<string, unknown> {
  return {
    device, stream: r.stream, seq: r.seq, view: r.view, confidence: r.confidence, quality: r.quality, state: r.state, idScore: r.idScore,
    lvAreaMm2: r.lvAreaMm2, ef: r.ef, efCi: r.efCi, flags: r.flags, latencyMs: Math.round(r.latency.totalMs * 100) / 100,
  };
}
