// The runtime's Prometheus endpoint (prom-client): off by default, loopback
// only. GET /metrics is the text exposition format; GET /health a small JSON
// object (200 while the runtime is ready or running, 503 otherwise).
//
// Counters and gauges are read from the runtime's own counters when scraped
// (nothing per frame); the latency histograms and the in-distribution state
// per stream come from a consumer of the result publisher (keep-latest, so a
// scrape never slows a frame). docs/DEPLOYMENT.md, "Metrics and health",
// lists every family.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ResultState, RuntimeState } from '../protocol/constants.js';
import type { OutboxStats } from '../dicom/outbox.js';
import type { ResultBody } from '../protocol/messages.js';
import type { Runtime } from '../runtime/index.js';
import type { Subscription } from '../runtime/publisher.js';
import { invalidType, invalidValue, rangeError } from '../errors.js';
import { hostProblem } from '../util/host.js';
import { listenOn } from '../util/listen.js';

export interface MetricsOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** A loopback host (isLoopback: 127.x.x.x, ::1 or localhost); default 127.0.0.1. */
  host?: string;
  /** Where an error of the endpoint after it listens (an accept that fails: EMFILE) is logged; the runtime serves on. */
  log?: { error(o: object, m: string): void };
}

export interface Health {
  state: string;
  ok: boolean;
  uptimeS: number;
  clients: number;
  streams: number[];
  models: { task: string; id: string; variant: string; sha256: string }[];
  watchdog: { fed: number; skipped: number; healthy: boolean } | null;
  /** The serial link to the firmware: null without one; `up` false while its device is away (and being reopened). */
  serial: { path: string | null; up: boolean; losses: number; reopens: number } | null;
  /** The PACS outbox (dicom.pacs): its stats (src/dicom/outbox.ts, OutboxStats); null without a PACS. */
  outbox: OutboxStats | null;
}

const RUNTIME_STATE_NAMES = Object.keys(RuntimeState);
const RESULT_STATE_NAMES = Object.keys(ResultState);
/** Seconds: around the frame interval (16.7 ms at 60 fps, 33 ms at 30) and well past it. */
const LATENCY_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.0167, 0.025, 0.0333, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class MetricsServer {
  readonly registry = new Registry();
  readonly #rt: Runtime;
  readonly #server: http.Server;
  readonly #sub: Subscription;
  readonly #started = performance.now();
  /** The shown in-distribution state of each stream's last result. */
  readonly #streamState = new Map<number, string>();
  #port = 0;
  readonly #onStreamClosed: (id: number) => void;

  private constructor(rt: Runtime) {
    this.#rt = rt;
    const r = this.registry;
    collectDefaultMetrics({ register: r, eventLoopMonitoringPrecision: 10 });
    const self = this;
    const perStream = (name: string, help: string, key: 'framesIn' | 'framesProcessed' | 'framesDropped' | 'framesFailed') => new Counter({
      name, help, labelNames: ['stream'], registers: [r],
      collect() {
        this.reset();
        for (const [id, c] of rt.streams.perStream) this.inc({ stream: String(id) }, c[key]);
      },
    });
    perStream('sonoedge_frames_in_total', 'Frames received per stream (FRAME and FRAME_READY).', 'framesIn');
    perStream('sonoedge_frames_out_total', 'Frames answered with a result per stream (models, or the sector search).', 'framesProcessed');
    perStream('sonoedge_frames_dropped_total', 'Frames dropped per stream: replaced under latest frame wins, or sent to a stopped stream.', 'framesDropped');
    perStream('sonoedge_frames_failed_total', 'Frames the pipeline failed on, per stream.', 'framesFailed');
    const server = (name: string, help: string, read: () => number) => new Counter({
      name, help, registers: [r], collect() { this.reset(); this.inc(read()); },
    });
    server('sonoedge_results_sent_total', 'RESULT messages written to socket subscribers.', () => rt.server.stats.resultsSent);
    server('sonoedge_results_dropped_total', 'RESULT messages dropped from a slow subscriber\'s queue.', () => rt.server.stats.resultsDropped);
    server('sonoedge_rejected_total', 'Bad inputs answered with ERROR, and connections refused with TOO_MANY.', () => rt.server.stats.rejected);
    new Counter({
      name: 'sonoedge_errors_total', help: 'ERROR messages sent, by error name (docs/PROTOCOL.md, ERROR).', labelNames: ['code'], registers: [r],
      collect() {
        this.reset();
        for (const [code, n] of rt.server.errorsByName) this.inc({ code }, n);
      },
    });
    new Gauge({ name: 'sonoedge_clients', help: 'Socket connections open now.', registers: [r], collect() { this.set(rt.server.clientCount); } });
    new Gauge({ name: 'sonoedge_streams', help: 'Streams configured now.', registers: [r], collect() { this.set(rt.streams.size); } });
    new Gauge({
      name: 'sonoedge_engine_sessions', help: 'Engine sessions open now: one per model variant, shared by every stream.', registers: [r],
      collect() { this.set(rt.pipeline.sessions.size); },
    });
    new Gauge({
      name: 'sonoedge_engine_session_users', help: 'Runners (a stream\'s model, a model prepared for SWAP) using each open engine session.',
      labelNames: ['model', 'variant', 'provider'], registers: [r],
      collect() {
        this.reset();
        for (const x of rt.pipeline.sessions.list()) this.set({ model: x.model, variant: x.variant, provider: x.provider ?? 'loading' }, x.users);
      },
    });
    new Gauge({
      name: 'sonoedge_runtime_state', help: 'The runtime state: 1 for the current one.', labelNames: ['state'], registers: [r],
      collect() { for (const s of RUNTIME_STATE_NAMES) this.set({ state: s }, rt.state === s ? 1 : 0); },
    });
    new Gauge({
      name: 'sonoedge_model_info', help: 'The running models: task, id, variant and the sha256 of the variant\'s file.',
      labelNames: ['task', 'id', 'variant', 'sha256'], registers: [r],
      collect() {
        this.reset();
        for (const m of rt.runningModels()) this.set({ task: m.task, id: m.id, variant: m.variant, sha256: m.sha256 }, 1);
      },
    });
    new Gauge({
      name: 'sonoedge_stream_state', help: 'The in-distribution state of each stream\'s last result: 1 for the current one.',
      labelNames: ['stream', 'state'], registers: [r],
      collect() {
        this.reset();
        for (const id of rt.streams.ids) {
          const shown = self.#streamState.get(id);
          if (shown !== undefined) for (const s of RESULT_STATE_NAMES) this.set({ stream: String(id), state: s }, shown === s ? 1 : 0);
        }
      },
    });
    const results = new Counter({ name: 'sonoedge_results_total', help: 'Results per stream and in-distribution state.', labelNames: ['stream', 'state'], registers: [r] });
    new Gauge({
      name: 'sonoedge_watchdog_healthy', help: 'The systemd watchdog: 1 fed, 0 not fed (the pipeline is stalled), -1 no watchdog (not under WatchdogSec=).', registers: [r],
      collect() { const w = rt.watchdog; this.set(w ? (w.healthy ? 1 : 0) : -1); },
    });
    new Counter({
      name: 'sonoedge_watchdog_fed_total', help: 'WATCHDOG=1 messages sent to systemd.', registers: [r],
      collect() { this.reset(); this.inc(rt.watchdog?.fed ?? 0); },
    });
    // The serial link, only when serve has one: whether its port is open now, and how often it went and came back.
    const serial = rt.serial;
    if (serial) {
      new Gauge({
        name: 'sonoedge_serial_link_up', help: 'The serial link to the firmware: 1 its port is open, 0 the device is away (being reopened with backoff).', registers: [r],
        collect() { this.set(serial.up ? 1 : 0); },
      });
      new Counter({
        name: 'sonoedge_serial_link_losses_total', help: 'Times the serial port went away (the device unplugged, a disconnect or port error).', registers: [r],
        collect() { this.reset(); this.inc(serial.stats.losses); },
      });
      new Counter({
        name: 'sonoedge_serial_reopens_total', help: 'Times the serial port opened again after being down (lost, or absent at start).', registers: [r],
        collect() { this.reset(); this.inc(serial.stats.reopens); },
      });
    }
    // The PACS outbox, only when serve sends to a PACS (dicom.pacs): read from the outbox's stats when scraped.
    const outbox = rt.dicom?.outbox;
    if (outbox) {
      const outboxGauge = (name: string, help: string, key: 'pending' | 'held' | 'inFailed') => new Gauge({
        name, help, registers: [r], collect() { this.set(outbox.stats[key]); },
      });
      outboxGauge('sonoedge_pacs_outbox_pending', 'Objects in the PACS outbox\'s pending/ at its last listing, held back ones included.', 'pending');
      outboxGauge('sonoedge_pacs_outbox_held', 'Of the pending objects, those held back (answered by the PACS, their move failed maxMoveFailures times in a row): not sent again, their move tried again every heldRetryMs.', 'held');
      outboxGauge('sonoedge_pacs_outbox_in_failed', 'Objects in the PACS outbox\'s failed/ now (their .txt reasons not counted), at its last listing: they need an operator, after a restart too.', 'inFailed');
      new Gauge({
        name: 'sonoedge_pacs_outbox_last_try_failed', help: 'The PACS outbox\'s last try: 1 it failed (the PACS, or a local file error) and a retry waits, 0 otherwise.', registers: [r],
        collect() { this.set(outbox.stats.lastError === null ? 0 : 1); },
      });
      const outboxCounter = (name: string, help: string, key: 'sent' | 'failed' | 'retries') => new Counter({
        name, help, registers: [r], collect() { this.reset(); this.inc(outbox.stats[key]); },
      });
      outboxCounter('sonoedge_pacs_outbox_sent_total', 'Objects the PACS stored, removed from the outbox (or moved into sent/).', 'sent');
      outboxCounter('sonoedge_pacs_outbox_failed_total', 'Objects moved into the outbox\'s failed/ since serve started: refused by the PACS, or unreadable on this machine (sonoedge_pacs_outbox_in_failed: there now).', 'failed');
      outboxCounter('sonoedge_pacs_outbox_retries_total', 'Tries of the outbox that failed and were scheduled again after a backoff.', 'retries');
    }
    new Gauge({ name: 'sonoedge_uptime_seconds', help: 'Seconds since the metrics endpoint started.', registers: [r], collect() { this.set((performance.now() - self.#started) / 1000); } });
    const total = new Histogram({ name: 'sonoedge_frame_latency_seconds', help: 'From receipt to result, per stream.', labelNames: ['stream'], buckets: LATENCY_BUCKETS, registers: [r] });
    const queue = new Histogram({ name: 'sonoedge_queue_seconds', help: 'Time a frame waited for its stream\'s pipeline, per stream.', labelNames: ['stream'], buckets: LATENCY_BUCKETS, registers: [r] });
    const stage = new Histogram({ name: 'sonoedge_stage_seconds', help: 'Time per pipeline stage.', labelNames: ['stage'], buckets: LATENCY_BUCKETS, registers: [r] });

    this.#sub = rt.publisher.subscribe({
      name: 'metrics',
      policy: 'keep-latest',
      deliver: (res: ResultBody) => {
        const stream = String(res.stream);
        total.observe({ stream }, res.latency.totalMs / 1000);
        queue.observe({ stream }, res.latency.queueMs / 1000);
        for (const [name, ms] of Object.entries(res.latency.stages)) stage.observe({ stage: name }, ms / 1000);
        results.inc({ stream, state: res.state });
        this.#streamState.set(res.stream, res.state);
      },
    });

    // A closed stream's series end with it (the per-stream counters go with the manager's entry), so the
    // exposition stays as large as the streams open, whatever ids clients go through.
    this.#onStreamClosed = (id: number) => {
      if (rt.streams.get(id) !== undefined) return;
      const stream = String(id);
      total.remove({ stream });
      queue.remove({ stream });
      for (const state of RESULT_STATE_NAMES) results.remove({ stream, state });
      this.#streamState.delete(id);
    };
    rt.streams.on('streamClosed', this.#onStreamClosed);
    this.#server = http.createServer((req, res) => void this.#serve(req, res));
  }

  /**
   * Starts the endpoint; RangeError (ERR_SONOEDGE_METRICS) for a host that is not loopback, Error (ERR_SONOEDGE_LISTEN,
   * naming metrics.port) for a port that cannot be taken: then nothing of it is left (no subscriber, no listener on the runtime).
   */
  static async start(rt: Runtime, options: MetricsOptions): Promise<MetricsServer> {
    // Before, null options were Node's TypeError (reading 'host'); a port of null or undefined listened on a free port
    // nobody asked for, a string was taken as a port, and -1 or 1.5 was Node's uncoded ERR_SOCKET_BAD_PORT.
    if (options === null || typeof options !== 'object') throw invalidType('ERR_SONOEDGE_METRICS', 'an object', 'metrics options', options);
    if (!(Number.isInteger(options.port) && options.port >= 0 && options.port <= 65535)) {
      throw invalidValue('ERR_SONOEDGE_METRICS', 'an integer 0..65535', 'metrics.port', options.port);
    }
    // Absent: the default. null is refused as every host option refuses it (hostProblem: "received null"), not taken as the default.
    const host = options.host === undefined ? '127.0.0.1' : options.host;
    // Any type: an array such as ['127.0.0.1'] would otherwise reach net's BlockList (a Node TypeError).
    const hostBad = hostProblem(host, 'loopback', 'metrics.host');
    if (hostBad) throw rangeError('ERR_SONOEDGE_METRICS', hostBad);
    const m = new MetricsServer(rt);
    try {
      await listenOn(m.#server, options.port, host, 'the metrics endpoint (metrics.port)', 'ERR_SONOEDGE_LISTEN');
    } catch (err) {
      m.#sub.close();
      rt.streams.off('streamClosed', m.#onStreamClosed);
      throw err;
    }
    m.#port = (m.#server.address() as AddressInfo).port;
    // Listening: a later error (an accept that fails) is logged, and neither ends the process nor stops the endpoint.
    const log = options.log;
    m.#server.on('error', (err) => log?.error({ err, host, port: m.#port }, 'metrics endpoint error'));
    return m;
  }

  /** The HTTP server (for tests: its listeners). */
  get server(): http.Server {
    return this.#server;
  }

  get port(): number {
    return this.#port;
  }

  health(): Health {
    const rt = this.#rt;
    const w = rt.watchdog;
    return {
      state: rt.state,
      ok: rt.state === 'ready' || rt.state === 'running',
      uptimeS: Math.round((performance.now() - this.#started) / 100) / 10,
      clients: rt.server.clientCount,
      streams: rt.streams.ids,
      models: rt.runningModels(),
      watchdog: w ? { fed: w.fed, skipped: w.skipped, healthy: w.healthy } : null,
      serial: rt.serial ? { path: rt.serial.path ?? null, up: rt.serial.up, losses: rt.serial.stats.losses, reopens: rt.serial.stats.reopens } : null,
      outbox: rt.dicom?.outboxStats ?? null,
    };
  }

  async #serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end(`Expected GET or HEAD but received ${req.method}\n`);
      return;
    }
    try {
      if (url === '/metrics') {
        const body = await this.registry.metrics();
        res.writeHead(200, { 'content-type': this.registry.contentType }).end(req.method === 'HEAD' ? undefined : body);
      } else if (url === '/health') {
        const h = this.health();
        res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(req.method === 'HEAD' ? undefined : `${JSON.stringify(h)}\n`);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`Expected /metrics or /health but received ${url}\n`);
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`Expected to render the metrics but failed: ${(err as Error).message}\n`);
    }
  }

  /** Stops listening and unsubscribes. */
  close(): Promise<void> {
    this.#sub.close();
    this.#rt.streams.off('streamClosed', this.#onStreamClosed);
    this.#server.closeAllConnections?.();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
