// The local socket server: firmware and viewers connect over a Unix domain
// socket (and, when asked, TCP on loopback only), negotiate with HELLO,
// configure streams, send FRAMEs and subscribe to RESULTs.
//
// Frames go through one LatestWinsScheduler per stream into an injected
// FrameHandler: the real ML pipeline in production, a stand-in in tests (the
// stand-in replaces the ML pipeline only; framing, negotiation, queues and
// errors are this real server). Every bad input is answered with an ERROR
// carrying a code, and counted; a client that sends too many is dropped; the
// others are served on. A slow subscriber never stalls anything: each client
// has a bounded result queue (oldest dropped and counted), and reading from a
// client that does not read its replies pauses until it does.
//
// Shared-memory frames: a stream configured with a ring (src/transport/
// shm-ring.ts) also takes FRAME_READY; its frame is a view of the slot, and
// the slot goes back with SLOT_RELEASE once the frame has run or was replaced
// (latest wins). Every SLOT_RELEASE of a ring is sent before the reply that
// ends the ring (CLOSE_STREAM, or a CONFIGURE_STREAM that changes it), and the
// ring is unmapped only once no slot of it is held.
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, realpathSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { LatestWinsScheduler, type StageTimer } from '../pipeline/scheduler.js';
import { crc32c } from '../protocol/crc.js';
import { encodeMessageParts, MessageDecoder, type EncodeInput, type Message } from '../protocol/codec.js';
import {
  DEFAULT_MAX_MESSAGE_SIZE, HEADER_SIZE, MessageType, ResultFlag, RuntimeState, SUPPORTED_VERSIONS, messageTypeName,
  type RuntimeStateName,
} from '../protocol/constants.js';
import { ProtocolError, WireError } from '../protocol/errors.js';
import {
  frameBytes, msg, parseCloseStream, parseConfigure, parseFrame, parseFrameReady, parseHello, parseLoadModel, parseSubscribe, parseSwap,
  type ConfigureStream, type LoadModel, type ModelReply, type ResultBody, type Subscribe, type Swap,
} from '../protocol/messages.js';
import { coded } from '../errors.js';
import { VERSION } from '../version.js';
import { ShmRing } from './shm-ring.js';
import type { FrameResult, ResultSink, SourceFrame } from './types.js';

export interface ServerFrame extends SourceFrame {
  /** The connection that sent it, and the header seq of its FRAME message. */
  clientId: number;
  messageSeq: number;
}

/** The ML pipeline seam: given a frame, its result. Tests inject a stand-in. */
export type FrameHandler = (frame: ServerFrame, stage: StageTimer) => Promise<FrameResult>;

/** Model loading and swapping (LOAD_MODEL, SWAP); absent: both answer UNSUPPORTED. */
export interface ModelControl {
  load(req: LoadModel): Promise<ModelReply>;
  swap(req: Swap): Promise<ModelReply>;
  current(): string | null;
}

export interface SocketServerOptions {
  /** Unix socket path; default <tmpdir>/sonoedge.sock. */
  path?: string;
  /** Permission bits of the socket file; default 0o660. */
  mode?: number;
  /** TCP on loopback only; off by default. */
  tcp?: { port: number; host?: '127.0.0.1' | '::1' | 'localhost' } | false;
  handler: FrameHandler;
  models?: ModelControl;
  /**
   * Called for each CONFIGURE_STREAM before its reply (load the stream's models,
   * say): the reply waits for it; a rejection is answered with ERROR MODEL_FAILED
   * and the stream is closed. Frames sent before the reply wait in the stream's
   * scheduler (latest wins) as usual.
   */
  prepare?: (stream: number, config: ConfigureStream) => Promise<void>;
  /** Largest bodyLength + payloadLength; default 32 MiB. */
  maxMessageSize?: number;
  /** Results waiting per client while its socket is full; default 8 (oldest dropped). */
  resultQueueLength?: number;
  /** Bytes written but not yet taken by a client before we hold results and stop reading it; default 1 MiB. */
  maxPendingWriteBytes?: number;
  maxClients?: number;
  maxStreams?: number;
  /** Bad messages from one client before it is disconnected; default 64. */
  maxErrorsPerClient?: number;
}

export interface ServerStats {
  clients: number;
  framesIn: number;
  framesProcessed: number;
  framesDropped: number;
  framesFailed: number;
  resultsSent: number;
  resultsDropped: number;
  rejected: number;
  errorsSent: number;
  disconnectedForErrors: number;
}

interface Stream {
  id: number;
  owner: Client;
  config: ConfigureStream;
  frameBytes: number;
  scheduler: LatestWinsScheduler<ServerFrame, FrameResult>;
  /** The shared-memory ring for FRAME_READY, when configured. */
  ring: ShmRing | undefined;
  /** A CONFIGURE_STREAM that replaced the ring waits for the old one's slots: no FRAME_READY until its reply. */
  ringSwitching: boolean;
  /** Stopped by the serial CMD_STOP_STREAM: frames are dropped; `stopReported` once its ERROR went out. */
  stopped: boolean;
  stopReported: boolean;
}

class Client {
  readonly id: number;
  readonly socket: net.Socket;
  readonly decoder: MessageDecoder;
  version = 0;
  sub: Subscribe | undefined;
  /** Results waiting for the socket to drain: this client's header, and the body shared by every subscriber. */
  queue: Array<[Buffer, Buffer]> = [];
  seq = 0;
  errors = 0;
  closed = false;
  resultsDropped = 0;

  constructor(id: number, socket: net.Socket, maxMessageSize: number) {
    this.id = id;
    this.socket = socket;
    this.decoder = new MessageDecoder({ maxMessageSize });
  }

  nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }
}

const HELLO_FREE = new Set<number>([MessageType.HELLO, MessageType.PING]);
/** How long a connection refused with TOO_MANY stays open for its peer to read the ERROR. */
const REFUSED_LINGER_MS = 500;

export class SocketServer extends EventEmitter implements ResultSink {
  readonly kind = 'socket';
  readonly path: string;
  readonly mode: number;
  readonly stats: ServerStats = {
    clients: 0, framesIn: 0, framesProcessed: 0, framesDropped: 0, framesFailed: 0,
    resultsSent: 0, resultsDropped: 0, rejected: 0, errorsSent: 0, disconnectedForErrors: 0,
  };
  state: RuntimeStateName = 'ready';
  readonly #o: Required<Omit<SocketServerOptions, 'path' | 'mode' | 'tcp' | 'models' | 'prepare'>> & Pick<SocketServerOptions, 'models' | 'tcp' | 'prepare'>;
  readonly #clients = new Set<Client>();
  /** Connections refused with TOO_MANY, until they are closed. */
  readonly #refused = new Set<net.Socket>();
  readonly #streams = new Map<number, Stream>();
  readonly #servers: net.Server[] = [];
  readonly #started = performance.now();
  #nextId = 1;
  #tcpPort: number | undefined;
  /** Set by close(): no new connections, no more reading. */
  #closing = false;
  /** The single-instance lock on `path`, held from listen() to close(). */
  #lock: net.Server | undefined;

  constructor(options: SocketServerOptions) {
    super();
    if (typeof options?.handler !== 'function') throw new TypeError(`Expected function for handler but received ${typeof options?.handler}`);
    this.path = options.path ?? path.join(os.tmpdir(), 'sonoedge.sock');
    this.mode = options.mode ?? 0o660;
    if (!Number.isInteger(this.mode) || this.mode < 0 || this.mode > 0o777) throw new RangeError(`Expected permission bits 0..0o777 for mode but received ${this.mode}`);
    if (options.tcp && !['127.0.0.1', '::1', 'localhost', undefined].includes(options.tcp.host)) {
      throw new RangeError(`Expected a loopback host (127.0.0.1, ::1 or localhost) for tcp.host but received ${JSON.stringify(options.tcp.host)}`);
    }
    this.#o = {
      handler: options.handler, models: options.models, prepare: options.prepare, tcp: options.tcp ?? false,
      maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
      resultQueueLength: options.resultQueueLength ?? 8,
      maxPendingWriteBytes: options.maxPendingWriteBytes ?? 1024 * 1024,
      maxClients: options.maxClients ?? 16,
      maxStreams: options.maxStreams ?? 16,
      maxErrorsPerClient: options.maxErrorsPerClient ?? 64,
    };
  }

  get tcpPort(): number | undefined {
    return this.#tcpPort;
  }

  /**
   * Listens on the socket path (and TCP when asked). One runtime per path: a
   * second one is refused (ERR_SONOEDGE_SOCKET_IN_USE) and touches nothing;
   * a socket file left by a runtime that crashed is taken over.
   */
  async listen(): Promise<void> {
    this.#lock = await acquirePathLock(this.path);
    try {
      await this.#listen();
    } catch (err) {
      this.#releaseLock();
      for (const s of this.#servers.splice(0)) s.close();
      throw err;
    }
  }

  async #listen(): Promise<void> {
    let stale = false;
    try {
      if (!lstatSync(this.path).isSocket()) throw new Error(`Expected a socket or nothing at ${this.path} but received an existing file`);
      stale = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // A socket file: a runtime that crashed left it, or something still serves on it (then it is not ours to remove).
    if (stale) {
      if (await accepts(this.path)) throw socketInUse(this.path, 'a process accepts connections on it');
      unlinkSync(this.path);
    }
    const unix = net.createServer((s) => this.#accept(s));
    await new Promise<void>((resolve, reject) => {
      unix.once('error', reject);
      unix.listen(this.path, () => { unix.off('error', reject); resolve(); });
    });
    chmodSync(this.path, this.mode);
    this.#servers.push(unix);
    if (this.#o.tcp) {
      const tcp = net.createServer((s) => { s.setNoDelay(true); this.#accept(s); });
      const host = this.#o.tcp.host ?? '127.0.0.1';
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(this.#o.tcp ? this.#o.tcp.port : 0, host, () => { tcp.off('error', reject); resolve(); });
      });
      this.#tcpPort = (tcp.address() as net.AddressInfo).port;
      this.#servers.push(tcp);
    }
  }

  /**
   * Graceful stop: no new connections and no more reading; the frames in
   * flight finish and their results go out; every client then gets ERROR
   * SHUTTING_DOWN (fatal) and its connection is ended, and destroyed after
   * `graceMs` if the peer does not close its side.
   */
  async close(graceMs = 1000): Promise<void> {
    this.#closing = true;
    const listeners = this.#servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const s of this.#refused) s.destroy();
    for (const c of this.#clients) c.socket.pause();
    await Promise.all([...this.#streams.values()].map((s) => this.#closeStream(s)));
    const closing = [...this.#clients].map((c) => new Promise<void>((resolve) => {
      const s = c.socket;
      if (s.destroyed) { resolve(); return; }
      s.once('close', () => resolve());
      this.#flush(c);
      this.#send(c, msg.error(undefined, WireError.SHUTTING_DOWN, 'Expected a running runtime but received a shutdown (SIGTERM or close()): no more frames are served', true));
      s.end();
      setTimeout(() => s.destroy(), graceMs).unref();
    }));
    await Promise.all([...closing, ...listeners]);
    this.#releaseLock();
  }

  #releaseLock(): void {
    this.#lock?.close();
    this.#lock = undefined;
  }

  setState(state: RuntimeStateName): void {
    this.state = state;
  }

  /**
   * Stops or restarts a stream (the serial CMD_STOP_STREAM / CMD_START_STREAM). A stopped stream keeps its
   * configuration; its frames are dropped (counted in framesDropped, a FRAME_READY slot released at once) and its
   * owner gets one ERROR STREAM_STOPPED per stop. False for a stream that is not configured.
   */
  setStreamStopped(id: number, stopped: boolean): boolean {
    const s = this.#streams.get(id);
    if (!s) return false;
    s.stopped = stopped;
    s.stopReported = false;
    return true;
  }

  /** Streams configured and not stopped (the serial heartbeat's "streaming" bit). */
  get runningStreams(): number {
    let n = 0;
    for (const s of this.#streams.values()) if (!s.stopped) n++;
    return n;
  }

  /** A frame for a stopped stream: dropped, counted, and reported once per stop. */
  #dropStopped(client: Client, s: Stream, seq: number): void {
    this.stats.framesDropped++;
    if (s.stopReported) return;
    s.stopReported = true;
    this.#send(client, msg.error(seq, WireError.STREAM_STOPPED,
      `Expected frames for a running stream but stream ${s.id} is stopped (serial CMD_STOP_STREAM): its frames are dropped until CMD_START_STREAM; this ERROR is sent once per stop`));
  }

  /** ResultSink: publishes a result from any source to the subscribers of its stream. */
  write(result: ResultBody): void {
    this.#publish(result);
  }

  #accept(socket: net.Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const client = new Client(this.#nextId++, socket, this.#o.maxMessageSize);
    if (this.#clients.size >= this.#o.maxClients) {
      this.stats.rejected++;
      this.#send(client, msg.error(undefined, WireError.TOO_MANY, `Expected at most ${this.#o.maxClients} clients but received one more`, true));
      this.#refuse(socket);
      return;
    }
    this.#clients.add(client);
    this.stats.clients = this.#clients.size;
    socket.on('data', (chunk: Buffer) => this.#onData(client, chunk));
    socket.on('drain', () => this.#flush(client));
    socket.on('error', () => { /* reset by peer and the like: 'close' follows */ });
    socket.on('close', () => this.#drop(client));
    this.emit('client', client.id);
  }

  /**
   * Ends a refused connection and closes it: at once when the peer closes its
   * side, else after REFUSED_LINGER_MS (time to read the ERROR), so that a
   * peer that never closes cannot hold a descriptor of the runtime.
   */
  #refuse(socket: net.Socket): void {
    this.#refused.add(socket);
    socket.on('error', () => { /* reset by peer: 'close' follows */ });
    const timer = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
    socket.once('close', () => { clearTimeout(timer); this.#refused.delete(socket); });
    socket.end();
  }

  #drop(client: Client): void {
    if (client.closed) return;
    client.closed = true;
    client.decoder.end();
    client.queue.length = 0;
    this.#clients.delete(client);
    this.stats.clients = this.#clients.size;
    for (const s of [...this.#streams.values()]) {
      if (s.owner === client) this.#closeStream(s);
    }
    this.emit('disconnect', client.id);
  }

  #onData(client: Client, chunk: Buffer): void {
    if (client.closed || this.#closing) return;
    for (const ev of client.decoder.push(chunk)) {
      if (client.closed) return;
      if (ev.kind === 'error') this.#reject(client, ev.error);
      else {
        try {
          this.#handle(client, ev.message);
        } catch (err) {
          if (err instanceof ProtocolError) this.#reject(client, err);
          else this.#reject(client, new ProtocolError('INTERNAL', `Expected to handle ${messageTypeName(ev.message.header.type)} but failed: ${(err as Error).message}`, { seq: ev.message.header.seq }));
        }
      }
    }
  }

  #reject(client: Client, err: ProtocolError, fatal = false): void {
    this.stats.rejected++;
    client.errors++;
    const tooMany = client.errors > this.#o.maxErrorsPerClient;
    this.#send(client, msg.error(err.seq, err.wireCode, err.message, fatal || tooMany));
    this.emit('rejected', client.id, err);
    if (fatal || tooMany) {
      if (tooMany) this.stats.disconnectedForErrors++;
      client.socket.end();
      client.socket.destroySoon?.();
      this.#drop(client);
    }
  }

  /** Control replies: always sent; if the client does not read them, we stop reading it. */
  #send(client: Client, m: EncodeInput): void {
    if (m.type === MessageType.ERROR) this.stats.errorsSent++;
    const [head, payload] = encodeMessageParts(m);
    const s = client.socket;
    if (s.destroyed || !s.writable) return;
    s.write(head);
    if (payload) s.write(payload);
    if (s.writableLength > this.#o.maxPendingWriteBytes && !s.isPaused()) s.pause();
  }

  #flush(client: Client): void {
    const s = client.socket;
    while (client.queue.length > 0 && s.writableLength < this.#o.maxPendingWriteBytes) {
      writePair(s, client.queue.shift()!);
      this.stats.resultsSent++;
    }
    // While closing, nothing more is read: a drained socket stays paused.
    if (s.isPaused() && s.writableLength <= this.#o.maxPendingWriteBytes && !this.#closing) s.resume();
  }

  #handle(client: Client, m: Message): void {
    const { type, seq } = m.header;
    const x = { seq, type };
    if (client.version === 0 && !HELLO_FREE.has(type)) {
      throw new ProtocolError('HELLO_REQUIRED', `Expected HELLO before ${messageTypeName(type)} but received ${messageTypeName(type)} first`, x);
    }
    switch (type) {
      case MessageType.HELLO: {
        const h = parseHello(m.body, x);
        const common = h.versions.filter((v) => SUPPORTED_VERSIONS.includes(v));
        if (common.length === 0) {
          this.#reject(client, new ProtocolError('UNSUPPORTED_VERSION',
            `Expected one of versions ${SUPPORTED_VERSIONS.join(', ')} in HELLO.versions but received ${JSON.stringify(h.versions)}`, x), true);
          return;
        }
        client.version = Math.max(...common);
        this.#send(client, msg.helloReply(seq, {
          version: client.version, server: `sonoedge ${VERSION}`, maxMessageSize: this.#o.maxMessageSize,
          features: ['results', 'masks', 'contours', 'shm', ...(this.#o.models ? ['models'] : [])],
        }));
        return;
      }
      case MessageType.PING:
        this.#send(client, msg.pong(seq, m.body));
        return;
      case MessageType.CONFIGURE_STREAM: {
        const c = parseConfigure(m.body, x);
        const existing = this.#streams.get(c.stream);
        if (existing && existing.owner !== client) {
          throw new ProtocolError('STREAM_IN_USE', `Expected a stream not configured by another client but received stream ${c.stream} (client ${existing.owner.id})`, x);
        }
        if (!existing && this.#streams.size >= this.#o.maxStreams) {
          throw new ProtocolError('TOO_MANY', `Expected at most ${this.#o.maxStreams} streams but received one more (stream ${c.stream})`, x);
        }
        const bytes = frameBytes(c);
        if (bytes > this.#o.maxMessageSize) {
          throw new ProtocolError('MESSAGE_TOO_LARGE', `Expected frames of at most ${this.#o.maxMessageSize} bytes but received a geometry of ${bytes}`, x);
        }
        if (existing?.ringSwitching) {
          throw new ProtocolError('RING', `Expected the previous CONFIGURE_STREAM of stream ${c.stream} to be answered (its old ring is being released) but received another`, x);
        }
        // The ring is opened (or made) before anything changes: a bad ring leaves the stream as it was.
        const old = existing?.ring;
        const keep = old !== undefined && c.ring !== undefined && !c.ring.create
          && c.ring.name === old.name && c.ring.slots === old.slots && c.ring.slotBytes === old.slotBytes;
        const ring = keep ? old : c.ring === undefined ? undefined
          : c.ring.create ? ShmRing.create(c.ring, bytes, this.mode, x) : ShmRing.open(c.ring, bytes, x);
        if (keep) old.setFrameBytes(bytes);
        const reply = msg.configureReply(seq, { stream: c.stream, frameBytes: bytes, ring: ring?.info });
        if (!existing) {
          this.#streams.set(c.stream, this.#makeStream(client, c, bytes, ring));
          this.#replyConfigured(client, c, seq, reply);
          return;
        }
        existing.config = c;
        existing.frameBytes = bytes;
        existing.ring = ring;
        if (old === undefined || keep) {
          this.#replyConfigured(client, c, seq, reply);
          return;
        }
        // The old ring's frames finish and their slots come back (SLOT_RELEASE) before this reply.
        existing.ringSwitching = true;
        void this.#retireRing(existing.id, old).then(() => {
          existing.ringSwitching = false;
          if (!client.closed) this.#replyConfigured(client, c, seq, reply);
        });
        return;
      }
      case MessageType.FRAME_READY: {
        const f = parseFrameReady(m.body, x);
        const s = this.#streams.get(f.stream);
        if (!s || s.owner !== client) {
          throw new ProtocolError('UNKNOWN_STREAM', `Expected a stream configured on this connection but received stream ${f.stream}`, x);
        }
        const ring = s.ring;
        if (ring === undefined || s.ringSwitching) {
          throw new ProtocolError('RING', s.ringSwitching
            ? `Expected FRAME_READY for stream ${f.stream} after the CONFIGURE_STREAM reply but received it while the old ring is being released`
            : `Expected a stream configured with CONFIGURE_STREAM.ring for FRAME_READY but received stream ${f.stream}, which has no ring`, x);
        }
        const pixels = ring.hold(f.slot, f.stream, x);
        this.stats.framesIn++;
        if (s.stopped) {
          if (ring.release(f.slot)) this.#send(client, msg.slotRelease(client.nextSeq(), { stream: f.stream, slot: f.slot, seq: f.seq }));
          this.#dropStopped(client, s, seq);
          return;
        }
        let released = false;
        // Idempotent, so that the pipeline may release early (once preprocessing has read the slot) and the server still does after.
        const release = (): void => {
          if (released) return;
          released = true;
          if (ring.release(f.slot) && !client.closed) {
            this.#send(client, msg.slotRelease(client.nextSeq(), { stream: f.stream, slot: f.slot, seq: f.seq }));
          }
        };
        if (!s.scheduler.submit({
          seq: f.seq, acquiredAt: performance.now(), t: f.t, stream: f.stream, config: s.config, pixels,
          clientId: client.id, messageSeq: seq, release,
        })) this.stats.framesDropped++;
        return;
      }
      case MessageType.FRAME: {
        const f = parseFrame(m.body, x);
        const s = this.#streams.get(f.stream);
        if (!s || s.owner !== client) {
          throw new ProtocolError('UNKNOWN_STREAM', `Expected a stream configured on this connection but received stream ${f.stream}`, x);
        }
        if (m.payload.length !== s.frameBytes) {
          throw new ProtocolError('FRAME_SIZE', `Expected ${s.frameBytes} payload bytes for FRAME of stream ${f.stream} but received ${m.payload.length}`, x);
        }
        this.stats.framesIn++;
        if (s.stopped) {
          this.#dropStopped(client, s, seq);
          return;
        }
        if (!s.scheduler.submit({
          seq: f.seq, acquiredAt: performance.now(), t: f.t, stream: f.stream, config: s.config, pixels: m.payload,
          clientId: client.id, messageSeq: seq,
        })) this.stats.framesDropped++;
        return;
      }
      case MessageType.SUBSCRIBE: {
        client.sub = parseSubscribe(m.body, x);
        this.#send(client, msg.subscribeReply(seq, client.sub));
        return;
      }
      case MessageType.CLOSE_STREAM: {
        const c = parseCloseStream(m.body, x);
        const s = this.#streams.get(c.stream);
        if (!s || s.owner !== client) throw new ProtocolError('UNKNOWN_STREAM', `Expected a stream configured on this connection but received stream ${c.stream}`, x);
        const closed = this.#closeStream(s);
        // With a ring, the reply follows every SLOT_RELEASE of it, so the firmware may reuse the stream id and slot numbers at once.
        if (s.ring) void closed.then(() => { if (!client.closed) this.#send(client, msg.closeStreamReply(seq, c)); });
        else this.#send(client, msg.closeStreamReply(seq, c));
        return;
      }
      case MessageType.STATUS:
        this.#send(client, msg.statusReply(seq, {
          state: this.state, stateCode: RuntimeState[this.state], uptimeS: (performance.now() - this.#started) / 1000,
          model: this.#o.models?.current() ?? null, streams: [...this.#streams.keys()],
        }));
        return;
      case MessageType.STATS:
        this.#send(client, msg.statsReply(seq, this.stats));
        return;
      case MessageType.LOAD_MODEL:
      case MessageType.SWAP: {
        const models = this.#o.models;
        if (!models) throw new ProtocolError('UNSUPPORTED', `Expected a runtime with model control for ${messageTypeName(type)} but received it on a server without one`, x);
        const isLoad = type === MessageType.LOAD_MODEL;
        const req = isLoad ? parseLoadModel(m.body, x) : parseSwap(m.body, x);
        const op = isLoad ? models.load(req as LoadModel) : models.swap(req as Swap);
        op.then((reply) => this.#send(client, isLoad ? msg.loadModelReply(seq, reply) : msg.swapReply(seq, reply)),
          (err: unknown) => this.#send(client, msg.error(seq, WireError.MODEL_FAILED, (err as Error).message ?? String(err))));
        return;
      }
      case MessageType.ERROR:
        this.emit('clientError', client.id, m.body);
        return;
      default:
        throw new ProtocolError('UNSUPPORTED', `Expected a request but received ${messageTypeName(type)}, which only the runtime sends`, x);
    }
  }

  /** Sends a CONFIGURE_STREAM reply once the `prepare` hook (if any) has finished; its failure closes the stream. */
  #replyConfigured(client: Client, c: ConfigureStream, seq: number, reply: EncodeInput): void {
    const prepare = this.#o.prepare;
    if (!prepare) {
      this.#send(client, reply);
      return;
    }
    prepare(c.stream, c).then(() => {
      if (!client.closed) this.#send(client, reply);
    }, (err: unknown) => {
      const s = this.#streams.get(c.stream);
      if (s && s.owner === client && s.config === c) void this.#closeStream(s);
      if (!client.closed) {
        this.#send(client, msg.error(seq, WireError.MODEL_FAILED,
          `Expected the models to load for stream ${c.stream} (${c.width}x${c.height} ${c.format}) but they failed: ${(err as Error)?.message ?? String(err)}; the stream is closed`));
      }
    });
  }

  /**
   * Removes a stream; 'streamClosed' (id) is emitted once its frame in flight
   * has finished and its ring, if any, is unmapped ('ringClosed' first).
   */
  #closeStream(s: Stream): Promise<void> {
    this.#streams.delete(s.id);
    return s.scheduler.close()
      .then(() => (s.ring ? this.#retireRing(s.id, s.ring) : undefined))
      .then(() => { this.emit('streamClosed', s.id); });
  }

  /** Unmaps a ring once no slot of it is held; emits 'ringClosed' (stream id, ring name). */
  async #retireRing(id: number, ring: ShmRing): Promise<void> {
    await ring.whenFree();
    ring.close();
    this.emit('ringClosed', id, ring.name);
  }

  #makeStream(owner: Client, config: ConfigureStream, bytes: number, ring: ShmRing | undefined): Stream {
    const id = config.stream;
    /** Seqs of frames replaced since the last result (a few at most: the newer ones wait for the next result). */
    const dropped: number[] = [];
    const scheduler = new LatestWinsScheduler<ServerFrame, FrameResult>({
      // A slot goes back as soon as its frame has run (before the RESULT goes out), or failed.
      process: async (f, stage) => {
        try {
          return await this.#o.handler(f, stage);
        } finally {
          f.release?.();
        }
      },
      // Replaced under latest wins (or dropped by close): never processed, released at once.
      onDrop: (f) => { if (dropped.length >= 64) dropped.shift(); dropped.push(f.seq); f.release?.(); },
      onResult: ({ frame, result, timing }) => {
        this.stats.framesProcessed++;
        // DROPPED_BEFORE: a frame between the previous result's and this one was replaced (latest wins).
        // Dropped frames are always older than the one that replaced them; those older than this result are its own.
        const newer = dropped.filter((q) => q >= frame.seq);
        if (newer.length < dropped.length) {
          result = { ...result, flags: (result.flags ?? 0) | ResultFlag.DROPPED_BEFORE };
          dropped.splice(0, dropped.length, ...newer);
        }
        const body: ResultBody = {
          stream: id, seq: frame.seq, t: frame.t, view: result.view ?? null, confidence: result.confidence ?? null,
          quality: result.quality ?? null, state: result.state ?? 'ok', idScore: result.idScore ?? null,
          lvAreaMm2: result.lvAreaMm2 ?? null, ef: result.ef ?? null, efCi: result.efCi ?? null,
          edSeq: result.edSeq ?? null, esSeq: result.esSeq ?? null, flags: result.flags ?? 0,
          latency: { queueMs: timing.queueMs, totalMs: timing.totalMs, stages: timing.stages }, mask: result.mask, contour: result.contour,
        };
        this.#publish(body);
        this.emit('result', id, frame.seq, body);
      },
      onError: (frame, err) => {
        this.stats.framesFailed++;
        if (!owner.closed) this.#send(owner, msg.error(frame.messageSeq, WireError.FRAME_FAILED, `Expected a result for frame ${frame.seq} of stream ${id} but the pipeline failed: ${(err as Error)?.message ?? String(err)}`));
      },
    });
    return { id, owner, config, frameBytes: bytes, scheduler, ring, ringSwitching: false, stopped: false, stopReported: false };
  }

  #publish(r: ResultBody): void {
    const cache = new Map<string, Buffer>();
    for (const c of this.#clients) {
      const sub = c.sub;
      if (!sub || (sub.streams.length > 0 && !sub.streams.includes(r.stream))) continue;
      const key = `${sub.results.join(',')}|${sub.masks}|${sub.contours}`;
      let body = cache.get(key);
      if (body === undefined) {
        const want = new Set(sub.results);
        const [head] = encodeMessageParts(msg.result(0, {
          ...r,
          view: want.has('view') ? r.view : null, confidence: want.has('view') ? r.confidence : null,
          quality: want.has('quality') ? r.quality : null, lvAreaMm2: want.has('lv') ? r.lvAreaMm2 : null, ef: want.has('ef') ? r.ef : null,
          // state and idScore go to every subscriber (abstention is part of every result); efCi, edSeq, esSeq with ef.
          efCi: want.has('ef') ? r.efCi : null, edSeq: want.has('ef') ? r.edSeq : null, esSeq: want.has('ef') ? r.esSeq : null,
          mask: sub.masks ? r.mask : undefined, contour: sub.contours ? r.contour : undefined,
        }));
        body = head;
        cache.set(key, body);
      }
      // Per-client header seq: a copy of the 24-byte header re-signed; the body is shared by every client.
      const head = Buffer.from(body.subarray(0, HEADER_SIZE));
      head.writeUInt32LE(c.nextSeq(), 16);
      head.writeUInt32LE(crc32cHeader(head), 20);
      this.#enqueue(c, [head, body.subarray(HEADER_SIZE)]);
    }
  }

  #enqueue(c: Client, parts: [Buffer, Buffer]): void {
    const s = c.socket;
    if (s.destroyed || !s.writable) return;
    if (c.queue.length === 0 && s.writableLength < this.#o.maxPendingWriteBytes) {
      writePair(s, parts);
      this.stats.resultsSent++;
      return;
    }
    c.queue.push(parts);
    if (c.queue.length > this.#o.resultQueueLength) {
      c.queue.shift();
      c.resultsDropped++;
      this.stats.resultsDropped++;
    }
  }
}

const crc32cHeader = (b: Buffer): number => crc32c(b, 0, 20);

const socketInUse = (p: string, why: string): Error => coded(new Error(
  `Expected no other sonoedge runtime on ${p} but received one: ${why} (stop it, or give this one another socket.path)`), 'ERR_SONOEDGE_SOCKET_IN_USE');

/**
 * The single-instance lock of a socket path: a listening socket in Linux's
 * abstract namespace, named after the path. The kernel frees it when its
 * process dies, however it dies, so a crashed runtime never leaves a stale
 * lock, and a second runtime on the same path gets EADDRINUSE. Elsewhere
 * (no abstract namespace) the lock is skipped and listen() relies on the
 * connect probe alone.
 */
async function acquirePathLock(socketPath: string): Promise<net.Server | undefined> {
  if (process.platform !== 'linux') return undefined;
  const dir = path.dirname(path.resolve(socketPath));
  let real = dir;
  try { real = realpathSync(dir); } catch { /* a missing folder: listen() reports it */ }
  const name = `\0sonoedge-lock-${createHash('sha256').update(path.join(real, path.basename(socketPath))).digest('hex').slice(0, 32)}`;
  const lock = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    lock.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? socketInUse(socketPath, 'another runtime serves this socket path') : err));
    lock.listen(name, () => resolve());
  });
  lock.unref();
  return lock;
}

/** Whether something accepts connections on a Unix socket path (a stale file refuses them). */
function accepts(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createConnection(socketPath);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
}

/** One message as header and body, handed to the kernel together. */
function writePair(s: net.Socket, [head, body]: [Buffer, Buffer]): void {
  s.cork();
  s.write(head);
  if (body.length > 0) s.write(body);
  s.uncork();
}
