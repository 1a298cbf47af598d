// The local socket server: firmware and viewers connect over a Unix domain
// socket (and, when asked, TCP on loopback only), negotiate with HELLO,
// configure streams, send FRAMEs and subscribe to RESULTs.
//
// This file is the protocol side only: connections, framing, negotiation,
// replies and errors. Streams belong to a StreamManager (src/runtime/
// streams.ts: scheduler, ring, stop state, counters, sector search) and
// results fan out through its ResultPublisher (src/runtime/publisher.ts),
// where each subscribed client is one consumer; a server made without a
// manager makes its own from `handler` and `prepare` (the real ML pipeline in
// production, a stand-in in tests: the stand-in replaces the ML pipeline
// only; framing, negotiation, queues and errors are this real server). Every
// bad input is answered with an ERROR carrying a code, and counted; a client
// that sends too many is dropped; the others are served on. A slow subscriber
// never stalls anything: each client has a bounded result queue (oldest
// dropped and counted), and reading from a client that does not read its
// replies pauses until it does.
//
// Shared-memory frames: a stream configured with a ring (src/transport/
// shm-ring.ts) also takes FRAME_READY; its frame is a view of the slot, and
// the slot goes back with SLOT_RELEASE once the frame has run or was replaced
// (latest wins). Every SLOT_RELEASE of a ring is sent before the reply that
// ends the ring (CLOSE_STREAM, or a CONFIGURE_STREAM that changes it), and the
// ring is unmapped only once no slot of it is held.
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, realpathSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { crc32c } from '../protocol/crc.js';
import { encodeMessageParts, MessageDecoder, type EncodeInput, type Message } from '../protocol/codec.js';
import {
  DEFAULT_MAX_MESSAGE_SIZE, HEADER_SIZE, MessageType, RuntimeState, SUPPORTED_VERSIONS, messageTypeName,
  type RuntimeStateName,
} from '../protocol/constants.js';
import { ProtocolError, WireError, wireErrorName } from '../protocol/errors.js';
import {
  frameBytes, msg, parseCloseStream, parseConfigure, parseFrame, parseFrameReady, parseHello, parseLoadModel, parseSubscribe, parseSwap,
  type ConfigureStream, type LoadModel, type ModelReply, type OutboxStatus, type ResultBody, type Subscribe, type Swap,
} from '../protocol/messages.js';
import { coded, invalidType, invalidValue, rangeError, typeError } from '../errors.js';
import type { Subscription } from '../runtime/publisher.js';
import { StreamManager, type FrameHandler, type ServerFrame, type StreamOwner } from '../runtime/streams.js';
import type { SectorNotFound } from '../preprocess/sector.js';
import { hostProblem } from '../util/host.js';
import { listenOn } from '../util/listen.js';
import { VERSION } from '../version.js';
import { ShmRing } from './shm-ring.js';
import { MAX_SOCKET_PATH_BYTES, type ResultSink } from './types.js';

export type { FrameHandler, ServerFrame } from '../runtime/streams.js';

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
  /** TCP on loopback only (isLoopback: 127.x.x.x, ::1 or localhost; default 127.0.0.1); off by default. */
  tcp?: { port: number; host?: string } | false;
  /** The frame handler of the server's own stream manager; not with `streams`. */
  handler?: FrameHandler;
  models?: ModelControl;
  /** STATUS.outbox: the PACS outbox's state when STATUS is asked, null without a PACS; absent: always null. */
  outbox?: () => OutboxStatus | null;
  /**
   * Called for each CONFIGURE_STREAM before its reply (load the stream's models,
   * say): the reply waits for it; a rejection is answered with ERROR MODEL_FAILED
   * and the stream is closed. Frames sent before the reply wait in the stream's
   * scheduler (latest wins) as usual. Not with `streams` (give it to the manager).
   */
  prepare?: (stream: number, config: ConfigureStream) => Promise<void>;
  /** A stream manager shared with other transports (the runtime's); default one of the server's own. */
  streams?: StreamManager;
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
  /**
   * Where an error of a listening server after listen() (an accept that fails: the socket path's, TCP's, the path
   * lock's) is logged, as 'socket server error'; the server serves on. serve passes its "socket" component's logger
   * (the runtime's own when none is given).
   */
  log?: { error(o: object, m: string): void };
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

interface OwnerEvents {
  frameFailed(c: Client, f: ServerFrame, err: unknown): void;
  sectorNotFound(c: Client, f: ServerFrame, r: SectorNotFound): void;
}

/** A connection; the stream owner of the streams it configures. */
class Client implements StreamOwner {
  readonly id: number;
  readonly socket: net.Socket;
  readonly decoder: MessageDecoder;
  version = 0;
  sub: Subscribe | undefined;
  /** Its consumer in the publisher, from its first SUBSCRIBE (results wait there while its socket is full). */
  results: Subscription | undefined;
  seq = 0;
  errors = 0;
  closed = false;
  resultsDropped = 0;
  readonly #server: OwnerEvents;

  constructor(id: number, socket: net.Socket, maxMessageSize: number, server: OwnerEvents) {
    this.id = id;
    this.socket = socket;
    this.decoder = new MessageDecoder({ maxMessageSize });
    this.#server = server;
  }

  nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  frameFailed(frame: ServerFrame, err: unknown): void {
    this.#server.frameFailed(this, frame, err);
  }

  sectorNotFound(frame: ServerFrame, r: SectorNotFound): void {
    this.#server.sectorNotFound(this, frame, r);
  }
}

/** Transport counters; the frame counters come from the stream manager. */
interface TransportStats {
  clients: number;
  resultsSent: number;
  resultsDropped: number;
  rejected: number;
  errorsSent: number;
  disconnectedForErrors: number;
}

const HELLO_FREE = new Set<number>([MessageType.HELLO, MessageType.PING]);
/** How long a connection refused with TOO_MANY stays open for its peer to read the ERROR. */
const REFUSED_LINGER_MS = 500;

export class SocketServer extends EventEmitter implements ResultSink {
  readonly kind = 'socket';
  readonly path: string;
  readonly mode: number;
  readonly #t: TransportStats = { clients: 0, resultsSent: 0, resultsDropped: 0, rejected: 0, errorsSent: 0, disconnectedForErrors: 0 };
  /** ERRORs sent since start, by name (BAD_FIELD, TOO_MANY, ...). */
  readonly errorsByName = new Map<string, number>();
  state: RuntimeStateName = 'ready';
  /** The streams: this server's own manager, or the one shared through options.streams. */
  readonly streams: StreamManager;
  readonly #o: Required<Omit<SocketServerOptions, 'path' | 'mode' | 'tcp' | 'models' | 'outbox' | 'prepare' | 'handler' | 'streams' | 'log'>> & Pick<SocketServerOptions, 'models' | 'outbox' | 'tcp' | 'log'>;
  readonly #clients = new Set<Client>();
  /** Connections refused with TOO_MANY, until they are closed. */
  readonly #refused = new Set<net.Socket>();
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
    if (options?.streams === undefined && typeof options?.handler !== 'function') throw typeError('ERR_SONOEDGE_SOCKET_OPTION', `Expected function for handler but received ${typeof options?.handler}`);
    if (options.streams !== undefined && (options.handler !== undefined || options.prepare !== undefined)) {
      throw typeError('ERR_SONOEDGE_SOCKET_OPTION', 'Expected handler and prepare on the stream manager given as streams but received them on the server too');
    }
    // Absent is the default; null or another type is refused (as tcp and tcp.host), not read as the default through ??.
    const pathOption: unknown = options.path;
    if (pathOption !== undefined && typeof pathOption !== 'string') throw invalidType('ERR_SONOEDGE_SOCKET_OPTION', 'a socket file path (string)', 'path', pathOption);
    if (pathOption === '') throw invalidValue('ERR_SONOEDGE_SOCKET_OPTION', 'a non-empty socket file path', 'path', pathOption);
    const modeOption: unknown = options.mode;
    if (modeOption !== undefined && typeof modeOption !== 'number') throw invalidType('ERR_SONOEDGE_SOCKET_OPTION', 'permission bits 0..0o777 (number)', 'mode', modeOption);
    this.path = pathOption ?? path.join(os.tmpdir(), 'sonoedge.sock');
    this.mode = modeOption ?? 0o660;
    if (!Number.isInteger(this.mode) || this.mode < 0 || this.mode > 0o777) throw invalidValue('ERR_SONOEDGE_SOCKET_OPTION', 'permission bits 0..0o777', 'mode', this.mode);
    // tcp is false (or absent) for none, else {port, host}: null, 0 or '' meant none silently, true or '7070' was
    // refused as a tcp.port of undefined. As host: null, a null tcp is refused, not read as a default.
    const tcpOption: unknown = options.tcp;
    if (tcpOption !== undefined && tcpOption !== false && (typeof tcpOption !== 'object' || tcpOption === null || Array.isArray(tcpOption))) {
      throw invalidType('ERR_SONOEDGE_SOCKET_OPTION', 'false or {port, host}', 'tcp', tcpOption);
    }
    // Any type: an array such as ['127.0.0.1'] would otherwise reach net's BlockList (a Node TypeError).
    const tcpHost: unknown = options.tcp ? options.tcp.host : undefined;
    const hostBad = tcpHost === undefined ? undefined : hostProblem(tcpHost, 'loopback', 'tcp.host');
    if (hostBad) throw rangeError('ERR_SONOEDGE_SOCKET_OPTION', hostBad);
    // As the serve config's socket.tcp.port (0 picks a free one); else Node's ERR_SOCKET_BAD_PORT at listen.
    const tcpPort: unknown = options.tcp ? options.tcp.port : 0;
    if (!(Number.isInteger(tcpPort) && (tcpPort as number) >= 0 && (tcpPort as number) <= 65535)) {
      throw invalidValue('ERR_SONOEDGE_SOCKET_OPTION', 'an integer 0..65535', 'tcp.port', tcpPort);
    }
    this.#o = {
      models: options.models, outbox: options.outbox, tcp: options.tcp ?? false, log: options.log,
      maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
      resultQueueLength: options.resultQueueLength ?? 8,
      maxPendingWriteBytes: options.maxPendingWriteBytes ?? 1024 * 1024,
      maxClients: options.maxClients ?? 16,
      maxStreams: options.maxStreams ?? 16,
      maxErrorsPerClient: options.maxErrorsPerClient ?? 64,
    };
    this.streams = options.streams ?? new StreamManager({ handler: options.handler!, ...(options.prepare ? { prepare: options.prepare } : {}) });
    this.streams.on('streamClosed', (id: number) => this.emit('streamClosed', id));
    this.streams.on('ringClosed', (id: number, name: string) => this.emit('ringClosed', id, name));
    this.streams.on('result', (id: number, seq: number, body: ResultBody) => this.emit('result', id, seq, body));
  }

  /** Counters since start (`clients`: the connections open now), as STATS sends them. */
  get stats(): ServerStats {
    const f = this.streams.stats;
    const t = this.#t;
    return {
      clients: t.clients, framesIn: f.framesIn, framesProcessed: f.framesProcessed, framesDropped: f.framesDropped, framesFailed: f.framesFailed,
      resultsSent: t.resultsSent, resultsDropped: t.resultsDropped, rejected: t.rejected, errorsSent: t.errorsSent, disconnectedForErrors: t.disconnectedForErrors,
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
    // Listening: a later error of a server (an accept that fails) is logged, and neither ends the process nor stops the
    // server (listen's once('error') handlers are spent or gone: an 'error' without a listener would end the process).
    const [unix, tcp] = this.#servers;
    const lasting = (server: net.Server | undefined, where: object) => server?.on('error', (err) => this.#o.log?.error({ err, ...where }, 'socket server error'));
    lasting(unix, { listener: 'path', path: this.path });
    lasting(tcp, { listener: 'tcp', host: this.#o.tcp ? this.#o.tcp.host ?? '127.0.0.1' : undefined, port: this.#tcpPort });
    lasting(this.#lock, { listener: 'lock', path: this.path });
  }

  /** The listening servers (for tests: their listeners): the socket path's, then TCP's when on, then the path lock's (Linux). */
  get servers(): net.Server[] {
    return [...this.#servers, ...(this.#lock ? [this.#lock] : [])];
  }

  async #listen(): Promise<void> {
    // Linux cuts a longer path short without a word: the socket would sit at another path, and chmod then failed.
    if (Buffer.byteLength(this.path) > MAX_SOCKET_PATH_BYTES) {
      throw socketPathError(`Expected a socket path of at most ${MAX_SOCKET_PATH_BYTES} bytes (what a Unix socket address holds) but received ${Buffer.byteLength(this.path)} bytes: ${this.path}`);
    }
    let stale = false;
    try {
      if (!lstatSync(this.path).isSocket()) throw socketPathError(`Expected a socket or nothing at ${this.path} but received an existing file`);
      stale = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    // listen() said EACCES for a folder that does not exist.
    const dir = path.dirname(path.resolve(this.path));
    if (!existsSync(dir)) throw socketPathError(`Expected an existing folder for the socket ${this.path} but received none at ${dir}`);
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
    // Held before anything else can fail, so that listen() closes it: a server left listening kept the process alive.
    this.#servers.push(unix);
    chmodSync(this.path, this.mode);
    if (this.#o.tcp) {
      const tcp = net.createServer((s) => { s.setNoDelay(true); this.#accept(s); });
      const host = this.#o.tcp.host ?? '127.0.0.1';
      await listenOn(tcp, this.#o.tcp.port, host, "the socket's TCP (socket.tcp)", 'ERR_SONOEDGE_LISTEN');
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
    await Promise.all([...this.#clients].map((c) => this.streams.closeOwnedBy(c)));
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
    return this.streams.setStopped(id, stopped);
  }

  /** Streams configured and not stopped (the serial heartbeat's "streaming" bit). */
  get runningStreams(): number {
    return this.streams.running;
  }

  /** The first frame for a stopped stream since its stop: reported once per stop (the manager dropped and counted it). */
  #reportStopped(client: Client, id: number, seq: number): void {
    this.#send(client, msg.error(seq, WireError.STREAM_STOPPED,
      `Expected frames for a running stream but stream ${id} is stopped (serial CMD_STOP_STREAM): its frames are dropped until CMD_START_STREAM; this ERROR is sent once per stop`));
  }

  /** ResultSink: publishes a result from any source to every consumer of the publisher (subscribed clients among them). */
  write(result: ResultBody): void {
    this.streams.publish(result);
  }

  /** Connections open now. */
  get clientCount(): number {
    return this.#clients.size;
  }

  #accept(socket: net.Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const client = new Client(this.#nextId++, socket, this.#o.maxMessageSize, this.#ownerEvents);
    if (this.#clients.size >= this.#o.maxClients) {
      this.#t.rejected++;
      this.#send(client, msg.error(undefined, WireError.TOO_MANY, `Expected at most ${this.#o.maxClients} clients but received one more`, true));
      this.#refuse(socket);
      return;
    }
    this.#clients.add(client);
    this.#t.clients = this.#clients.size;
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
    client.results?.close();
    this.#clients.delete(client);
    this.#t.clients = this.#clients.size;
    void this.streams.closeOwnedBy(client);
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

  /** What the stream manager tells a connection about its frames after they were accepted. */
  readonly #ownerEvents = {
    frameFailed: (c: Client, frame: ServerFrame, err: unknown): void => {
      this.#send(c, msg.error(frame.messageSeq, WireError.FRAME_FAILED, `Expected a result for frame ${frame.seq} of stream ${frame.stream} but the pipeline failed: ${(err as Error)?.message ?? String(err)}`));
    },
    sectorNotFound: (c: Client, frame: ServerFrame, r: SectorNotFound): void => {
      this.#send(c, msg.error(frame.messageSeq, WireError.SECTOR_NOT_FOUND,
        `Expected an image region in the first ${r.framesUsed} frames of stream ${frame.stream} (CONFIGURE_STREAM.autoSector) but the sector finder found none (${r.reason}: ${r.message}); it looks again at the next ${r.framesUsed}`));
    },
  };

  #reject(client: Client, err: ProtocolError, fatal = false): void {
    this.#t.rejected++;
    client.errors++;
    const tooMany = client.errors > this.#o.maxErrorsPerClient;
    this.#send(client, msg.error(err.seq, err.wireCode, err.message, fatal || tooMany));
    this.emit('rejected', client.id, err);
    if (fatal || tooMany) {
      if (tooMany) this.#t.disconnectedForErrors++;
      client.socket.end();
      client.socket.destroySoon?.();
      this.#drop(client);
    }
  }

  /** Control replies: always sent; if the client does not read them, we stop reading it. */
  #send(client: Client, m: EncodeInput): void {
    if (m.type === MessageType.ERROR) {
      this.#t.errorsSent++;
      const name = wireErrorName((m.body as { code: number }).code);
      this.errorsByName.set(name, (this.errorsByName.get(name) ?? 0) + 1);
    }
    const [head, payload] = encodeMessageParts(m);
    const s = client.socket;
    if (s.destroyed || !s.writable) return;
    s.write(head);
    if (payload) s.write(payload);
    if (s.writableLength > this.#o.maxPendingWriteBytes && !s.isPaused()) s.pause();
  }

  #flush(client: Client): void {
    const s = client.socket;
    client.results?.wake();
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
        const existing = this.streams.get(c.stream);
        if (existing && existing.owner !== client) {
          throw new ProtocolError('STREAM_IN_USE', `Expected a stream not configured by another client but received stream ${c.stream} (client ${(existing.owner as Client).id})`, x);
        }
        if (!existing && this.streams.size >= this.#o.maxStreams) {
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
        if (keep) old.setFrameBytes(bytes, x);
        const reply = msg.configureReply(seq, { stream: c.stream, frameBytes: bytes, ring: ring?.info });
        // The reply waits for the old ring's slots (SLOT_RELEASE first) and the stream's models; a failure closes the stream.
        this.streams.configure(client, c, bytes, ring, (err) => {
          if (client.closed) return;
          if (err === undefined) this.#send(client, reply);
          else {
            this.#send(client, msg.error(seq, WireError.MODEL_FAILED,
              `Expected the models to load for stream ${c.stream} (${c.width}x${c.height} ${c.format}) but they failed: ${(err as Error)?.message ?? String(err)}; the stream is closed`));
          }
        });
        return;
      }
      case MessageType.FRAME_READY: {
        const f = parseFrameReady(m.body, x);
        const s = this.streams.get(f.stream);
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
        let released = false;
        // Idempotent, so that the pipeline may release early (once preprocessing has read the slot) and the server still does after.
        const release = (): void => {
          if (released) return;
          released = true;
          if (ring.release(f.slot) && !client.closed) {
            this.#send(client, msg.slotRelease(client.nextSeq(), { stream: f.stream, slot: f.slot, seq: f.seq }));
          }
        };
        const outcome = this.streams.submit(f.stream, {
          seq: f.seq, acquiredAt: performance.now(), t: f.t, stream: f.stream, config: s.config, pixels,
          clientId: client.id, messageSeq: seq, release,
        });
        if (outcome === 'stopped' || outcome === 'stopped-first') {
          release();
          if (outcome === 'stopped-first') this.#reportStopped(client, f.stream, seq);
        }
        return;
      }
      case MessageType.FRAME: {
        const f = parseFrame(m.body, x);
        const s = this.streams.get(f.stream);
        if (!s || s.owner !== client) {
          throw new ProtocolError('UNKNOWN_STREAM', `Expected a stream configured on this connection but received stream ${f.stream}`, x);
        }
        if (m.payload.length !== s.frameBytes) {
          throw new ProtocolError('FRAME_SIZE', `Expected ${s.frameBytes} payload bytes for FRAME of stream ${f.stream} but received ${m.payload.length}`, x);
        }
        const outcome = this.streams.submit(f.stream, {
          seq: f.seq, acquiredAt: performance.now(), t: f.t, stream: f.stream, config: s.config, pixels: m.payload,
          clientId: client.id, messageSeq: seq,
        });
        if (outcome === 'stopped-first') this.#reportStopped(client, f.stream, seq);
        return;
      }
      case MessageType.SUBSCRIBE: {
        client.sub = parseSubscribe(m.body, x);
        client.results ??= this.#subscribe(client);
        this.#send(client, msg.subscribeReply(seq, client.sub));
        return;
      }
      case MessageType.CLOSE_STREAM: {
        const c = parseCloseStream(m.body, x);
        const s = this.streams.get(c.stream);
        if (!s || s.owner !== client) throw new ProtocolError('UNKNOWN_STREAM', `Expected a stream configured on this connection but received stream ${c.stream}`, x);
        const closed = this.streams.close(c.stream);
        // With a ring, the reply follows every SLOT_RELEASE of it, so the firmware may reuse the stream id and slot numbers at once.
        if (s.ring) void closed.then(() => { if (!client.closed) this.#send(client, msg.closeStreamReply(seq, c)); });
        else this.#send(client, msg.closeStreamReply(seq, c));
        return;
      }
      case MessageType.STATUS:
        this.#send(client, msg.statusReply(seq, {
          state: this.state, stateCode: RuntimeState[this.state], uptimeS: (performance.now() - this.#started) / 1000,
          model: this.#o.models?.current() ?? null, streams: this.streams.ids, outbox: this.#o.outbox?.() ?? null,
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

  /**
   * The client's consumer in the publisher: its SUBSCRIBE filters the streams; while its socket holds
   * maxPendingWriteBytes unsent, results wait in its queue (resultQueueLength, oldest dropped and counted).
   */
  #subscribe(c: Client): Subscription {
    const s = c.socket;
    return this.streams.publisher.subscribe({
      name: `socket-client-${c.id}`,
      policy: 'drop-oldest',
      capacity: this.#o.resultQueueLength,
      filter: (r) => c.sub !== undefined && (c.sub.streams.length === 0 || c.sub.streams.includes(r.stream)),
      // A socket that is gone takes (and ignores) everything until 'close' unsubscribes it.
      ready: () => s.destroyed || !s.writable || s.writableLength < this.#o.maxPendingWriteBytes,
      deliver: (r) => {
        if (s.destroyed || !s.writable || c.sub === undefined) return;
        const body = encodedResult(r, c.sub);
        // Per-client header seq: a copy of the 24-byte header re-signed; the body is shared by every client.
        const head = Buffer.from(body.subarray(0, HEADER_SIZE));
        head.writeUInt32LE(c.nextSeq(), 16);
        head.writeUInt32LE(crc32cHeader(head), 20);
        writePair(s, [head, body.subarray(HEADER_SIZE)]);
        this.#t.resultsSent++;
      },
      onDrop: () => { c.resultsDropped++; this.#t.resultsDropped++; },
    });
  }
}

/** One encoding of a result per subscription shape, shared by every client with that shape. */
const encodings = new WeakMap<ResultBody, Map<string, Buffer>>();

function encodedResult(r: ResultBody, sub: Subscribe): Buffer {
  const key = `${sub.results.join(',')}|${sub.masks}|${sub.contours}`;
  let cache = encodings.get(r);
  if (cache === undefined) {
    cache = new Map();
    encodings.set(r, cache);
  }
  let body = cache.get(key);
  if (body === undefined) {
    const want = new Set(sub.results);
    [body] = encodeMessageParts(msg.result(0, {
      ...r,
      view: want.has('view') ? r.view : null, confidence: want.has('view') ? r.confidence : null,
      quality: want.has('quality') ? r.quality : null, lvAreaMm2: want.has('lv') ? r.lvAreaMm2 : null, ef: want.has('ef') ? r.ef : null,
      // state and idScore go to every subscriber (abstention is part of every result); efCi, edSeq, esSeq with ef.
      efCi: want.has('ef') ? r.efCi : null, edSeq: want.has('ef') ? r.edSeq : null, esSeq: want.has('ef') ? r.esSeq : null,
      mask: sub.masks ? r.mask : undefined, contour: sub.contours ? r.contour : undefined,
    }));
    cache.set(key, body);
  }
  return body;
}

const crc32cHeader = (b: Buffer): number => crc32c(b, 0, 20);

const socketPathError = (message: string): Error => coded(new Error(message), 'ERR_SONOEDGE_SOCKET_PATH');

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
    const failed = (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? socketInUse(socketPath, 'another runtime serves this socket path') : err);
    lock.once('error', failed);
    lock.listen(name, () => { lock.off('error', failed); resolve(); });
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
