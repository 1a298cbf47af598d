// The live viewer (docs/VIEWER.md): a page and a WebSocket on one HTTP port
// that show each stream as the runtime sees it: the frame with the LV
// outline, view and quality against the gate, the in-distribution state, the
// LV area curve and EF with ED/ES marked, per-stage latency and drops.
//
// It costs the pipeline nothing while nobody watches: the result consumer and
// the frame observer are attached when the first viewer connects and removed
// when the last one leaves. While someone watches:
// - results come through the ResultPublisher as a keep-latest consumer whose
//   deliver only records a few numbers per result (the area curve, ED/ES);
// - frame pixels are copied on the frame's turn (one memcpy into a buffer the
//   stream reuses) only when the stream is due for an update: at most `rate`
//   a second per stream, and never while that stream's previous picture is
//   still being encoded (latest wins; counted as skipped);
// - encoding (sharp, JPEG) runs on a worker thread of its own (encoder.ts),
//   started with the first page and ended with the last; a picture goes out to
//   every viewer once both it and its frame's result are there, one binary
//   message built once; a viewer whose socket is backed up past
//   `maxBufferedBytes` is passed over for that update (counted).
//
// Access: loopback by default. With `token`, every request and the WebSocket
// upgrade must carry it (?token= or Authorization: Bearer): none is 401, a
// wrong one 403. A non-loopback host needs a token (refused at start). A
// WebSocket upgrade from a page of another origin is refused (403).
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { rangeError, typeError } from '../errors.js';
import { ResultFlag } from '../protocol/constants.js';
import type { ConfigureStream, ResultBody } from '../protocol/messages.js';
import type { ResultPublisher, Subscription } from '../runtime/publisher.js';
import type { ServerFrame, StreamManager } from '../runtime/streams.js';
import type { FrameResult } from '../transport/types.js';
import { hostProblem } from '../util/host.js';
import { isLoopback } from '../util/is.js';
import { listenOn } from '../util/listen.js';
import { snapshot, snapshotBytes } from './encode.js';
import { JpegEncoder } from './encoder.js';
import { VIEWER_PAGE } from './page.js';

/** What the viewer watches: the Runtime is one. */
export interface ViewerSource {
  readonly publisher: ResultPublisher;
  /** Its streams, their counters, and 'streamClosed' (a closed stream leaves the pages at once). */
  readonly streams: Pick<StreamManager, 'streams' | 'perStream' | 'get' | 'on' | 'off'>;
  observeFrames(fn: (frame: ServerFrame, result: FrameResult) => void): () => void;
  /**
   * The quality bar now (the Runtime's: its options and the view package running, so that a package swapped in with
   * another bar moves the meter's marks): the LOW_QUALITY flag's, and segmentation's unless the view package has a
   * segmentation bar of its own (postprocessing.quality.thresholds.segmentation); used where neither
   * ViewerOptions.qualityGate nor qualityGateExit is set.
   */
  qualityBar?(): { enter: number; exit: number };
}

export interface ViewerOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** IPv4 or IPv6 address or host name to listen on; default 127.0.0.1. Anything but loopback needs `token`. */
  host?: string;
  /** Required on every request when set (?token= or Authorization: Bearer); at least 16 characters. */
  token?: string | null;
  /** Updates per second per stream at most; default 30. */
  rate?: number;
  /** Seconds of history the page keeps for the curves and for pause and step; default 10. */
  seconds?: number;
  /** JPEG quality 1..100; default 70. */
  quality?: number;
  /**
   * The quality bar (LOW_QUALITY's, and segmentation's unless the view package has its own segmentation bar), drawn
   * on the quality meter, fixed; default: the source's qualityBar()
   * at each hello and status (it follows a swapped view package), 0.5 for a source without one.
   */
  qualityGate?: number;
  /** Where the open gate closes, a second mark on the meter, fixed; default qualityGate (no hysteresis) when that is set, else as qualityGate says. */
  qualityGateExit?: number;
  /** A viewer whose socket holds more than this is passed over for an update; default 4 MiB. */
  maxBufferedBytes?: number;
  /** Where it logs: 'viewer listening', encodings that fail, and an error of the HTTP server after it listens ('viewer server error'; it serves on). */
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
}

export interface ViewerStats {
  /** Viewers connected now. */
  clients: number;
  /** Updates (picture + result) sent, counted once per update however many viewers got it. */
  updates: number;
  /** Frames not shown because their stream's previous picture was still encoding. */
  skippedBusy: number;
  /** Updates a viewer was passed over for (its socket backed up). */
  skippedClient: number;
  /** Requests and upgrades refused for a missing (401) or wrong (403) token or a foreign origin (403). */
  refused: number;
  /** Encodings that failed. */
  encodeFailed: number;
  /** Milliseconds spent on the pipeline's turn (the frame observer and the result consumer), in all, and the calls. */
  turnMs: number;
  turns: number;
}

/** A picture waiting for its result (or the other way round). */
interface Capture {
  seq: number;
  config: ConfigureStream;
  jpeg?: Buffer;
  result?: ResultBody;
  sent: boolean;
}

/** One sample of the curves: every result, whether or not its picture was shown. */
type Sample = [seq: number, area: number | null, quality: number | null, state: number, ef: number | null];
const STATE_CODE: Record<ResultBody['state'], number> = { ok: 0, uncertain: 1, unknown: 2 };

interface StreamView {
  id: number;
  /** The stream's snapshot buffer: away (at the encoder) while a picture is encoded. */
  buffer: ArrayBuffer | undefined;
  encoding: boolean;
  capture: Capture | undefined;
  /** Token bucket: updates may go out at `rate` a second, two at once after a pause (frame timing jitters). */
  tokens: number;
  refilled: number;
  /** Results since the last update sent: its curve samples and ED/ES marks. */
  samples: Sample[];
  marks: { ed: number[]; es: number[] };
  shown: number;
  skipped: number;
}

/** Kept per stream between updates at most (a stream whose pictures all fail still sends no more than this). */
const MAX_SAMPLES = 512;

export class ViewerServer {
  readonly stats: ViewerStats = { clients: 0, updates: 0, skippedBusy: 0, skippedClient: 0, refused: 0, encodeFailed: 0, turnMs: 0, turns: 0 };
  readonly #src: ViewerSource;
  readonly #http: http.Server;
  readonly #wss: WebSocketServer;
  readonly #o: Required<Omit<ViewerOptions, 'token' | 'log' | 'qualityGate' | 'qualityGateExit'>> & { token: string | null };
  /** The meter's marks now: the ones ViewerOptions.qualityGate and qualityGateExit fix, else the source's bar. */
  readonly #bar: () => { enter: number; exit: number };
  readonly #log: ViewerOptions['log'];
  readonly #tokenDigest: Buffer | null;
  readonly #clients = new Set<WebSocket>();
  readonly #views = new Map<number, StreamView>();
  readonly #encoder = new JpegEncoder();
  #sub: Subscription | undefined;
  #unobserve: (() => void) | undefined;
  #status: NodeJS.Timeout | undefined;
  /** 'streamClosed': the stream's buffers go, and every page is told at once. */
  readonly #onStreamClosed = (id: number): void => {
    if (this.#src.streams.get(id) !== undefined) return; // its id was configured again
    this.#views.delete(id);
    this.#broadcastStatus();
  };
  #port = 0;

  private constructor(src: ViewerSource, o: ViewerOptions) {
    this.#src = src;
    this.#o = {
      port: o.port, host: o.host ?? '127.0.0.1', token: o.token ?? null, rate: o.rate ?? 30, seconds: o.seconds ?? 10,
      quality: o.quality ?? 70, maxBufferedBytes: o.maxBufferedBytes ?? 4 * 1024 * 1024,
    };
    // Either option set (or a source without a bar): fixed marks, as given; neither: the source's bar, as it is now.
    const fixed = { enter: o.qualityGate ?? 0.5, exit: o.qualityGateExit ?? o.qualityGate ?? 0.5 };
    const fromSource = src.qualityBar?.bind(src);
    this.#bar = o.qualityGate !== undefined || o.qualityGateExit !== undefined || fromSource === undefined ? () => fixed : fromSource;
    this.#log = o.log;
    this.#tokenDigest = this.#o.token === null ? null : digest(this.#o.token);
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
    this.#http = http.createServer((req, res) => this.#request(req, res));
    this.#http.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
  }

  /** Checks the options (RangeError / TypeError with code ERR_SONOEDGE_VIEWER_OPTION) and listens. */
  static async start(src: ViewerSource, options: ViewerOptions): Promise<ViewerServer> {
    checkOptions(options);
    const v = new ViewerServer(src, options);
    await listenOn(v.#http, v.#o.port, v.#o.host, 'the viewer (viewer.port)', 'ERR_SONOEDGE_LISTEN');
    v.#port = (v.#http.address() as AddressInfo).port;
    // Listening: a later error (an accept that fails) is logged, and neither ends the process nor stops the viewer.
    v.#http.on('error', (err) => v.#log?.error({ err, host: v.#o.host, port: v.#port }, 'viewer server error'));
    v.#log?.info({ url: v.url.replace(/token=[^&]*/, 'token=...'), rate: v.#o.rate }, 'viewer listening');
    return v;
  }

  get port(): number {
    return this.#port;
  }

  /** The HTTP server (for tests: its listeners). */
  get server(): http.Server {
    return this.#http;
  }

  /** The page's address, with the token when there is one. */
  get url(): string {
    const h = this.#o.host.includes(':') ? `[${this.#o.host}]` : this.#o.host;
    return `http://${h}:${this.#port}/${this.#o.token === null ? '' : `?token=${encodeURIComponent(this.#o.token)}`}`;
  }

  /** Closes every viewer connection and the port. Idempotent. */
  async close(): Promise<void> {
    for (const ws of this.#clients) ws.terminate();
    this.#clients.clear();
    this.#detach();
    this.#wss.close();
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  // --- HTTP and access -------------------------------------------------------

  /** 0 allowed, else the status to refuse with. */
  #access(req: http.IncomingMessage): 0 | 401 | 403 {
    if (this.#tokenDigest === null) return 0;
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization;
    const given = url.searchParams.get('token') ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : null);
    if (given === null || given === '') return 401;
    return timingSafeEqual(digest(given), this.#tokenDigest) ? 0 : 403;
  }

  #request(req: http.IncomingMessage, res: http.ServerResponse): void {
    const denied = this.#access(req);
    if (denied !== 0) {
      this.stats.refused++;
      res.writeHead(denied, { 'content-type': 'text/plain; charset=utf-8', ...(denied === 401 ? { 'www-authenticate': 'Bearer' } : {}) });
      res.end(denied === 401 ? 'a token is required: open the URL sonoedge printed (…/?token=…)\n' : 'wrong token\n');
      return;
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src blob:; connect-src 'self'",
      });
      res.end(req.method === 'HEAD' ? undefined : VIEWER_PAGE);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }

  #upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, why: string): void => {
      this.stats.refused++;
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${why.length + 1}\r\n\r\n${why}\n`);
    };
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const denied = this.#access(req);
    if (denied !== 0) {
      refuse(denied, denied === 401 ? 'a token is required' : 'wrong token');
      return;
    }
    // A page of another site in the same browser may not watch (cross-site WebSocket hijacking).
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== 'null') {
      let host: string | undefined;
      try { host = new URL(origin).host; } catch { host = undefined; }
      if (host !== req.headers.host) {
        refuse(403, `origin ${origin} is not this page's`);
        return;
      }
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#connected(ws));
  }

  // --- viewers ---------------------------------------------------------------

  #connected(ws: WebSocket): void {
    this.#clients.add(ws);
    this.stats.clients = this.#clients.size;
    if (this.#clients.size === 1) this.#attach();
    ws.on('close', () => {
      this.#clients.delete(ws);
      this.stats.clients = this.#clients.size;
      if (this.#clients.size === 0) this.#detach();
    });
    ws.on('error', () => ws.terminate());
    // The page says nothing that matters; what it sends is read and dropped (maxPayload bounds it).
    ws.on('message', () => undefined);
    ws.send(JSON.stringify({ type: 'hello', rate: this.#o.rate, seconds: this.#o.seconds, ...this.#statusBody() }));
  }

  /** The first viewer came: take results and frames. */
  #attach(): void {
    this.#sub = this.#src.publisher.subscribe({ name: 'viewer', policy: 'keep-latest', deliver: (r) => this.#timed(() => this.#result(r)) });
    this.#unobserve = this.#src.observeFrames((f, r) => this.#timed(() => this.#frame(f, r)));
    this.#src.streams.on('streamClosed', this.#onStreamClosed);
    this.#status = setInterval(() => this.#broadcastStatus(), 1000);
    this.#status.unref();
  }

  /** The last viewer left: the pipeline pays nothing for the viewer any more. */
  #detach(): void {
    this.#sub?.close();
    this.#sub = undefined;
    this.#unobserve?.();
    this.#unobserve = undefined;
    this.#src.streams.off('streamClosed', this.#onStreamClosed);
    if (this.#status) clearInterval(this.#status);
    this.#status = undefined;
    this.#views.clear();
    void this.#encoder.close();
  }

  #statusBody(): object {
    const streams = this.#src.streams.streams.map((s) => {
      const c = this.#src.streams.perStream.get(s.id);
      const v = this.#views.get(s.id);
      const g = s.effective;
      return {
        id: s.id, width: g.width, height: g.height, format: g.format, spacing: g.spacing, fps: g.fps, stopped: s.stopped,
        framesIn: c?.framesIn ?? 0, framesProcessed: c?.framesProcessed ?? 0, framesDropped: c?.framesDropped ?? 0, framesFailed: c?.framesFailed ?? 0,
        shown: v?.shown ?? 0, skipped: v?.skipped ?? 0,
      };
    });
    // The marks go with every status, so that a view package swapped in with another bar moves them within a second.
    const bar = this.#bar();
    return { streams, clients: this.#clients.size, qualityGate: bar.enter, qualityGateExit: Math.max(0, bar.exit) };
  }

  #broadcastStatus(): void {
    const text = JSON.stringify({ type: 'status', ...this.#statusBody() });
    for (const ws of this.#clients) if (ws.readyState === ws.OPEN) ws.send(text);
  }

  // --- frames and results (the pipeline's turn: cheap) -------------------------

  #timed(fn: () => void): void {
    const t0 = performance.now();
    try {
      fn();
    } finally {
      this.stats.turnMs += performance.now() - t0;
      this.stats.turns++;
    }
  }

  /**
   * The stream's view, made on its first frame or result; undefined for an id the StreamManager does not know (a
   * result published from another source, or after its stream closed): a view made for it would stay until the last
   * page left, and its curve samples would open the curve of a stream later configured with that id.
   */
  #view(id: number): StreamView | undefined {
    let v = this.#views.get(id);
    if (!v) {
      if (this.#src.streams.get(id) === undefined) return undefined;
      v = { id, buffer: undefined, encoding: false, capture: undefined, tokens: 2, refilled: performance.now(), samples: [], marks: { ed: [], es: [] }, shown: 0, skipped: 0 };
      this.#views.set(id, v);
    }
    return v;
  }

  /** Frame observer: copy the pixels when the stream is due for an update and its encoder is free. */
  #frame(f: ServerFrame, _r: FrameResult): void {
    const v = this.#view(f.stream);
    if (v === undefined) return;
    const now = performance.now();
    v.tokens = Math.min(2, v.tokens + ((now - v.refilled) * this.#o.rate) / 1000);
    v.refilled = now;
    if (v.tokens < 1) return;
    if (v.encoding) {
      v.skipped++;
      this.stats.skippedBusy++;
      return;
    }
    const config = f.config;
    const bytes = snapshotBytes(config);
    if (v.buffer === undefined || v.buffer.byteLength !== bytes) v.buffer = new ArrayBuffer(bytes);
    if (!snapshot(f.pixels, config, new Uint8Array(v.buffer))) return;
    v.tokens -= 1;
    v.encoding = true;
    const cap: Capture = { seq: f.seq, config, sent: false };
    // The result may have been published already (it normally comes right after this call).
    v.capture = cap;
    const buffer = v.buffer;
    v.buffer = undefined;
    this.#encoder.encode(buffer, bytes, config, this.#o.quality).then((done) => {
      v.buffer = done.buffer;
      cap.jpeg = done.jpeg;
      this.#trySend(v, cap);
    }, (err: Error & { buffer?: ArrayBuffer }) => {
      v.buffer = err.buffer;
      this.stats.encodeFailed++;
      if (this.stats.encodeFailed <= 3) this.#log?.warn({ err, stream: f.stream }, 'viewer: frame not encoded');
    }).finally(() => { v.encoding = false; });
  }

  /** Result consumer: every result adds a curve sample; the one whose picture is waiting completes it. */
  #result(r: ResultBody): void {
    if ((r.flags & ResultFlag.SECTOR_SEARCH) !== 0) return;
    const v = this.#view(r.stream);
    if (v === undefined) return;
    if (v.samples.length >= MAX_SAMPLES) v.samples.shift();
    v.samples.push([r.seq, r.lvAreaMm2, r.quality, STATE_CODE[r.state] ?? 2, r.ef]);
    if (r.edSeq !== null) v.marks.ed.push(r.edSeq);
    if (r.esSeq !== null) v.marks.es.push(r.esSeq);
    const cap = v.capture;
    if (cap && cap.seq === r.seq && cap.result === undefined) {
      cap.result = r;
      this.#trySend(v, cap);
    }
  }

  #trySend(v: StreamView, cap: Capture): void {
    if (cap.sent || cap.jpeg === undefined || cap.result === undefined) return;
    cap.sent = true;
    if (v.capture === cap) v.capture = undefined;
    const r = cap.result;
    const g = cap.config;
    const header = Buffer.from(JSON.stringify({
      type: 'frame', stream: v.id, seq: r.seq, t: r.t, width: g.width, height: g.height, spacing: g.spacing,
      view: r.view, confidence: r.confidence, quality: r.quality, lowQuality: (r.flags & ResultFlag.LOW_QUALITY) !== 0,
      state: r.state, idScore: r.idScore, lvAreaMm2: r.lvAreaMm2, ef: r.ef, efCi: r.efCi,
      efLowQuality: (r.flags & ResultFlag.EF_LOW_QUALITY) !== 0, droppedBefore: (r.flags & ResultFlag.DROPPED_BEFORE) !== 0,
      latency: r.latency, contour: r.contour ?? null, roi: r.roi ?? g.roi ?? null,
      samples: v.samples, ed: v.marks.ed, es: v.marks.es,
    }));
    v.samples = [];
    v.marks = { ed: [], es: [] };
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32LE(header.length, 0);
    const msg = Buffer.concat([len, header, cap.jpeg]);
    v.shown++;
    this.stats.updates++;
    for (const ws of this.#clients) {
      if (ws.readyState !== ws.OPEN) continue;
      if (ws.bufferedAmount > this.#o.maxBufferedBytes) {
        this.stats.skippedClient++;
        continue;
      }
      ws.send(msg, { binary: true });
    }
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

function optionError(message: string, type = false): Error {
  return type ? typeError('ERR_SONOEDGE_VIEWER_OPTION', message) : rangeError('ERR_SONOEDGE_VIEWER_OPTION', message);
}

function checkOptions(o: ViewerOptions): void {
  if (o === null || typeof o !== 'object') throw optionError(`Expected an object for viewer options but received ${o === null ? 'null' : typeof o}`, true);
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw optionError(`Expected an integer 0..65535 for viewer.port but received ${String(o.port)}`);
  // Absent: the default. null is refused as every host option refuses it (hostProblem: "received null"), not taken as the default.
  const host = o.host === undefined ? '127.0.0.1' : o.host;
  // Before the token rule: a malformed address (127.300.0.1) is neither loopback nor a host to listen on.
  const hostBad = hostProblem(host, 'any', 'viewer.host');
  if (hostBad) throw optionError(hostBad);
  const token = o.token ?? null;
  if (token !== null && (typeof token !== 'string' || token.length < 16)) {
    throw optionError(`Expected a string of at least 16 characters for viewer.token but received ${typeof token === 'string' ? `${token.length} characters` : typeof token}`);
  }
  if (!isLoopback(host) && token === null) {
    throw optionError(`Expected viewer.token when viewer.host is not loopback but received host ${JSON.stringify(host)} and no token`);
  }
  const num = (name: string, x: number | undefined, lo: number, hi: number): void => {
    if (x !== undefined && !(typeof x === 'number' && x >= lo && x <= hi)) throw optionError(`Expected a number ${lo}..${hi} for viewer.${name} but received ${String(x)}`);
  };
  num('rate', o.rate, 0.1, 240);
  num('seconds', o.seconds, 1, 120);
  num('quality', o.quality, 1, 100);
  num('qualityGate', o.qualityGate, 0, 1);
  num('qualityGateExit', o.qualityGateExit, 0, o.qualityGate ?? 0.5);
  num('maxBufferedBytes', o.maxBufferedBytes, 1024, 2 ** 31);
}
