// The serial link (docs/PROTOCOL.md, "Serial link"): result records at a
// configured rate (newest wins between sends), a heartbeat that stops while
// the runtime is faulted, and firmware commands read, acknowledged and handed
// to the runtime. The port is node-serialport's SerialPort by default, or any
// injected duplex with write/on('data')/close (the contract tests run the
// same suite against a socat pty pair).
//
// A port opened from a path comes back by itself: when the device goes away
// (the port closes with a disconnect, or errors) or is not there at open(),
// the link is down (no heartbeat, no results, nothing queued for later) and
// the path is opened again with backoff (reopenMinMs doubling to
// reopenMaxMs) until it opens; then the heartbeat and the results resume with
// what is current, never with records from before the loss. Each change of
// state is reported once (onLinkChange), never each retry. An injected port
// cannot be reopened: its failure is final.
import { SerialPort } from 'serialport';
import { invalidType, invalidValue, rangeError, typeError } from '../errors.js';
import { ResultState, RuntimeState, ViewClass, VIEW_UNKNOWN, type RuntimeStateName } from '../protocol/constants.js';
import { ProtocolError, WireError } from '../protocol/errors.js';
import type { ResultBody } from '../protocol/messages.js';
import {
  frameRecord, HeartbeatFlag, RecordType, SerialDecoder, type CommandRecord, type HeartbeatRecord, type ResultRecord,
} from '../protocol/serial.js';
import type { ResultSink } from './types.js';

export interface PortLike {
  write(data: Buffer): unknown;
  /** 'data' (a Buffer) and, where the port has it, 'error' (an Error): a Node EventEmitter's signature. */
  on(event: string, fn: (...args: any[]) => void): unknown;
  close(cb?: (err?: Error | null) => void): unknown;
  /** Bytes queued but not yet taken by the device (a Node stream's); records are dropped above maxPendingBytes. */
  readonly writableLength?: number;
}

export interface RuntimeSnapshot {
  state: RuntimeStateName;
  modelSet: number;
  streaming: boolean;
  modelLoaded: boolean;
  framesProcessed: number;
  framesDropped: number;
  faultCode: number;
  /** The PACS outbox's last try failed (flags bit 2); absent: false (no PACS). */
  pacsFailing?: boolean;
  /** The PACS outbox holds objects back, or failed/ holds objects now (flags bit 3): an operator is needed; absent: false. */
  pacsAttention?: boolean;
}

export interface SerialLinkOptions {
  /** A device path (opened with serialport) or an open port. */
  path?: string;
  port?: PortLike;
  baudRate?: number;
  /** Result records per second at most; default 30. */
  resultRate?: number;
  /** Heartbeat period; default 500 ms. */
  heartbeatMs?: number;
  runtime: () => RuntimeSnapshot;
  /** A firmware command; resolves to 0 (OK) or an ERROR code for the ACK. */
  onCommand?: (cmd: CommandRecord) => number | Promise<number>;
  /**
   * The port failed (the device went away, a write failed): called once per loss, then the link writes nothing
   * (the heartbeat stops too) until the port is open again; later errors of the lost port are only counted.
   * Without it the error is only counted: it never throws.
   */
  onError?: (err: Error) => void;
  /** The link went down (lost, or not there at open()) or came up again: once per change, never per retry. */
  onLinkChange?: (change: SerialLinkChange) => void;
  /** A path's port: the first reopen attempt this long after the loss; each failed attempt doubles it. Default 250 ms. */
  reopenMinMs?: number;
  /** A path's port: the longest wait between two reopen attempts. Default 5000 ms. */
  reopenMaxMs?: number;
  /** Bytes the port may hold unsent before records are dropped (a firmware that does not read); default 4096. */
  maxPendingBytes?: number;
  /**
   * Input that is not a runnable command (bad CRC or COBS, a wrong length, an unknown type or version, a record only
   * the runtime sends): answered with a NACK, and reported here at most once a second; `suppressed` counts the
   * rejections since the last report that were not reported.
   */
  onRejected?: (err: ProtocolError, suppressed: number) => void;
  /** NACKs (ACKs with an error status) sent per second at most; default 20. */
  maxNacksPerSecond?: number;
}

export type SerialLinkChange =
  /** `open`: the path could not be opened at open(); `lost`: an open port went away. retryInMs: null for an injected port (never reopened). */
  | { up: false; reason: 'open' | 'lost'; err: Error; retryInMs: number | null }
  /** The path opened again: `first` when it had never been open (the device came after open()); downMs since it went down. */
  | { up: true; first: boolean; reopens: number; downMs: number; attempts: number };

export interface SerialLinkStats {
  resultsSent: number;
  /** Results replaced by a newer one before their send slot. */
  resultsReplaced: number;
  heartbeats: number;
  commands: number;
  rejected: number;
  /** Records not written because the port held more than maxPendingBytes unsent. */
  recordsDropped: number;
  /** Port errors (the first of each loss takes the link down). */
  errors: number;
  /** Times an open port went away (closed by a disconnect, or errored). */
  losses: number;
  /** Times the path opened again after the link was down (a loss, or no device at open()). */
  reopens: number;
  /** Results offered while the link was down: not kept (nothing stale goes out after a reopen). */
  resultsWhileDown: number;
}

/** How long close() waits for the port to close. */
const CLOSE_TIMEOUT_MS = 1000;
const REOPEN_MIN_MS = 250;
const REOPEN_MAX_MS = 5000;
/** The longest delay a Node timer keeps (2^31-1 ms); a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const CODE = 'ERR_SONOEDGE_SERIAL_OPTION';

/** HEARTBEAT/STATUS flags (bytes 4-5) of a snapshot. */
function heartbeatFlags(s: RuntimeSnapshot): number {
  return (s.streaming ? HeartbeatFlag.STREAMING : 0) | (s.modelLoaded ? HeartbeatFlag.MODEL_LOADED : 0)
    | (s.pacsFailing ? HeartbeatFlag.PACS_FAILING : 0) | (s.pacsAttention ? HeartbeatFlag.PACS_ATTENTION : 0);
}

export class SerialLink implements ResultSink {
  readonly kind = 'serial';
  readonly stats: SerialLinkStats = {
    resultsSent: 0, resultsReplaced: 0, heartbeats: 0, commands: 0, rejected: 0, recordsDropped: 0, errors: 0, losses: 0, reopens: 0, resultsWhileDown: 0,
  };
  readonly decoder = new SerialDecoder();
  readonly #o: SerialLinkOptions;
  /** The open port; undefined while the link is down (and before open(), after close()). */
  #port: PortLike | undefined;
  #pending: ResultBody | undefined;
  #timers: NodeJS.Timeout[] = [];
  #beat = 0;
  #closed = false;
  #everOpen = false;
  #downSince = 0;
  #attempts = 0;
  #retryMs = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #minMs: number;
  readonly #maxMs: number;
  #nackWindow = -Infinity;
  #nacks = 0;
  #lastReport = -Infinity;
  #unreported = 0;
  readonly #started = performance.now();

  constructor(options: SerialLinkOptions) {
    // Every refusal is ERR_SONOEDGE_SERIAL_OPTION, before any port is opened or timer started: a TypeError for a
    // value of the wrong type, a RangeError for one out of range.
    if (typeof options !== 'object' || options === null) throw invalidType(CODE, 'an object', 'serial link options', options);
    if (!options.path && !options.port) throw typeError(CODE, 'Expected path or port for the serial link but received neither');
    if (!options.port && typeof options.path !== 'string') throw invalidType(CODE, 'a device path string', 'path', options.path);
    if (typeof options.runtime !== 'function') throw invalidType(CODE, 'function', 'runtime', options.runtime);
    if (options.baudRate !== undefined) {
      if (typeof options.baudRate !== 'number') throw invalidType(CODE, 'a positive integer', 'baudRate', options.baudRate);
      if (!(Number.isInteger(options.baudRate) && options.baudRate >= 1)) throw invalidValue(CODE, 'a positive integer', 'baudRate', options.baudRate);
    }
    const rate = options.resultRate ?? 30;
    if (typeof rate !== 'number') throw invalidType(CODE, 'number in (0, 1000]', 'resultRate', rate);
    if (!(rate > 0 && rate <= 1000)) throw rangeError(CODE, `Expected number in (0, 1000] for resultRate but received ${rate}`);
    // A timer above 2^31-1 ms fires after 1 ms (Node's TimeoutOverflowWarning): a heartbeat or retry flood, not a slow one.
    // The result timer's interval is 1000/resultRate ms: a rate below 1000/(2^31-1) would send a record every millisecond.
    if (1000 / rate > MAX_TIMER_MS) {
      throw rangeError(CODE, `Expected number in [${1000 / MAX_TIMER_MS}, 1000] for resultRate (at most ${MAX_TIMER_MS} ms between results) but received ${rate}`);
    }
    const hb = options.heartbeatMs ?? 500;
    if (typeof hb !== 'number') throw invalidType(CODE, `a number 1..${MAX_TIMER_MS}`, 'heartbeatMs', hb);
    if (!(hb >= 1 && hb <= MAX_TIMER_MS)) throw invalidValue(CODE, `a number 1..${MAX_TIMER_MS}`, 'heartbeatMs', hb);
    this.#maxMs = options.reopenMaxMs ?? REOPEN_MAX_MS;
    if (!(Number.isFinite(this.#maxMs) && this.#maxMs >= 1)) throw rangeError(CODE, `Expected a positive number for reopenMaxMs but received ${this.#maxMs}`);
    if (this.#maxMs > MAX_TIMER_MS) throw invalidValue(CODE, `at most ${MAX_TIMER_MS}`, 'reopenMaxMs', this.#maxMs);
    const min = options.reopenMinMs ?? REOPEN_MIN_MS;
    if (!(Number.isFinite(min) && min >= 1)) throw rangeError(CODE, `Expected a positive number for reopenMinMs but received ${min}`);
    // The default first wait shrinks to a shorter reopenMaxMs; a first wait the caller chose longer than the longest is a mistake.
    if (options.reopenMinMs !== undefined && min > this.#maxMs) {
      throw invalidValue(CODE, `at most reopenMaxMs (${this.#maxMs})`, 'reopenMinMs', min);
    }
    this.#minMs = Math.min(min, this.#maxMs);
    for (const key of ['maxPendingBytes', 'maxNacksPerSecond'] as const) {
      const v = options[key];
      if (v === undefined) continue;
      if (typeof v !== 'number') throw invalidType(CODE, 'a number >= 0', key, v);
      if (!(v >= 0)) throw invalidValue(CODE, 'a number >= 0', key, v);
    }
    this.#o = options;
  }

  /**
   * Starts the link. An injected port is used as it is. A path is opened; when it cannot be (no device yet: a cart
   * that boots before its USB adapter), the link starts down, reports it (onLinkChange, onError) and keeps trying
   * to open it in the background: open() rejects for nothing but a bug.
   */
  async open(): Promise<void> {
    const rate = this.#o.resultRate ?? 30;
    this.#timers.push(setInterval(() => this.#sendResult(), 1000 / rate));
    this.#timers.push(setInterval(() => this.#heartbeat(), this.#o.heartbeatMs ?? 500));
    if (this.#o.port) {
      this.#attach(this.#o.port);
      return;
    }
    let port: PortLike;
    try {
      port = await this.#openPath();
    } catch (err) {
      if (!this.#closed) this.#down('open', err as Error);
      return;
    }
    if (this.#closed) await closePort(port); // close() came first: the port is not the link's to keep
    else this.#attach(port);
  }

  /** The device path (undefined for an injected port). */
  get path(): string | undefined {
    return this.#o.path;
  }

  /** True while the port is open and the link writes. */
  get up(): boolean {
    return this.#port !== undefined;
  }

  /** ResultSink: the newest result goes out at the next send slot; while the link is down it is not kept. */
  write(result: ResultBody): void {
    if (!this.#port) {
      this.stats.resultsWhileDown++;
      return;
    }
    if (this.#pending) this.stats.resultsReplaced++;
    this.#pending = result;
  }

  /** Stops the timers, any reopening, and closes a port it opened: bounded (CLOSE_TIMEOUT_MS) even with writes the device never takes. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const p = this.#port;
    this.#port = undefined;
    if (p && !this.#o.port) await closePort(p);
  }

  #openPath(): Promise<PortLike> {
    const p = new SerialPort({ path: this.#o.path!, baudRate: this.#o.baudRate ?? 115200, autoOpen: false });
    return new Promise<PortLike>((resolve, reject) => p.open((err) => (err ? reject(err) : resolve(p))));
  }

  /** The port is open: listen to it (events of a port that is no longer the link's are only counted) and write. */
  #attach(port: PortLike): void {
    this.#port = port;
    this.#everOpen = true;
    port.on('data', (chunk: Buffer) => { if (port === this.#port) this.#onData(chunk); });
    port.on('error', (err: Error) => {
      this.stats.errors++;
      // Writes cancelled by close() (a device that took nothing) are not a failure to report.
      if (port === this.#port && !this.#closed) this.#lost(err);
    });
    // node-serialport closes the port itself when a read or write finds the device gone ('close' with a
    // DisconnectedError): a pty whose other side went away, an unplugged USB adapter.
    port.on('close', (err?: Error | null) => {
      if (port !== this.#port || this.#closed) return;
      if (err) this.stats.errors++;
      this.#lost(err ?? new Error('Expected the serial port to stay open but it closed'));
    });
    this.#heartbeat();
  }

  /** An open port went away: the link is down, nothing of before goes out later, and a path is opened again. */
  #lost(err: Error): void {
    const port = this.#port!;
    this.stats.losses++;
    if (!this.#o.port) void closePort(port);
    this.#down('lost', err);
  }

  #down(reason: 'open' | 'lost', err: Error): void {
    this.#port = undefined;
    this.#pending = undefined;
    this.decoder.reset();
    this.#downSince = performance.now();
    this.#attempts = 0;
    this.#retryMs = this.#minMs;
    const reopen = !this.#o.port;
    this.#o.onError?.(err);
    this.#o.onLinkChange?.({ up: false, reason, err, retryInMs: reopen ? this.#retryMs : null });
    if (reopen) this.#scheduleReopen();
  }

  #scheduleReopen(): void {
    this.#retryTimer = setTimeout(() => void this.#reopen(), this.#retryMs);
  }

  async #reopen(): Promise<void> {
    this.#retryTimer = undefined;
    if (this.#closed) return;
    this.#attempts++;
    let port: PortLike;
    try {
      port = await this.#openPath();
    } catch {
      if (this.#closed) return;
      this.#retryMs = Math.min(this.#retryMs * 2, this.#maxMs);
      this.#scheduleReopen();
      return;
    }
    if (this.#closed) {
      await closePort(port);
      return;
    }
    const first = !this.#everOpen;
    this.stats.reopens++;
    this.#attach(port);
    this.#o.onLinkChange?.({ up: true, first, reopens: this.stats.reopens, downMs: Math.round(performance.now() - this.#downSince), attempts: this.#attempts });
  }

  /** Writes one framed record, unless the link is down or the port holds more than maxPendingBytes unsent (dropped, counted). */
  #send(record: Buffer): boolean {
    const p = this.#port;
    if (!p) return false;
    if ((p.writableLength ?? 0) > (this.#o.maxPendingBytes ?? 4096)) {
      this.stats.recordsDropped++;
      return false;
    }
    p.write(record);
    return true;
  }

  #sendResult(): void {
    const r = this.#pending;
    if (!r || !this.#port) return;
    this.#pending = undefined;
    const snap = this.#o.runtime();
    const rec: ResultRecord = {
      kind: 'RESULT', stream: r.stream, seq: r.seq,
      view: r.view !== null && r.view in ViewClass ? ViewClass[r.view as keyof typeof ViewClass] : VIEW_UNKNOWN,
      state: RuntimeState[snap.state], flags: r.flags, confidence: r.confidence, quality: r.quality, lvAreaMm2: r.lvAreaMm2, ef: r.ef,
      resultState: ResultState[r.state], idScore: r.idScore,
      latencyUs: r.latency.totalMs * 1000, timeMs: Math.floor(performance.now()),
    };
    if (this.#send(frameRecord(rec))) this.stats.resultsSent++;
  }

  #snapshotRecord(kind: 'HEARTBEAT' | 'STATUS', cmdSeq: number): HeartbeatRecord {
    const s = this.#o.runtime();
    return {
      kind, state: RuntimeState[s.state], modelSet: s.modelSet, flags: heartbeatFlags(s), cmdSeq,
      uptimeMs: Math.floor(performance.now() - this.#started), framesProcessed: s.framesProcessed, framesDropped: s.framesDropped,
      faultCode: s.faultCode, beat: this.#beat,
    };
  }

  #heartbeat(): void {
    if (!this.#port || this.#o.runtime().state === 'faulted') return;
    this.#beat = (this.#beat + 1) & 0xffff;
    if (this.#send(frameRecord(this.#snapshotRecord('HEARTBEAT', 0)))) this.stats.heartbeats++;
  }

  #onData(chunk: Buffer): void {
    for (const ev of this.decoder.push(chunk)) {
      if (ev.kind === 'error') { this.#reject(ev.error); continue; }
      const rec = ev.record;
      if (!rec.kind.startsWith('CMD_')) {
        this.#reject(new ProtocolError('UNSUPPORTED',
          `Expected a command record (types 0x10..0x13) but received ${rec.kind} (0x${RecordType[rec.kind].toString(16).padStart(2, '0')}), which only the runtime sends`,
          { type: RecordType[rec.kind] }));
        continue;
      }
      const cmd = rec as CommandRecord;
      this.stats.commands++;
      void this.#command(cmd);
    }
  }

  /**
   * Input that is not a command the runtime can run: answered with an ACK whose status is the error code (its
   * cmdType and cmdSeq when they could be read, else 0), at most maxNacksPerSecond a second so that line noise
   * never floods the line back; reported to onRejected at most once a second, with how many were not.
   */
  #reject(err: ProtocolError): void {
    this.stats.rejected++;
    const now = performance.now();
    if (now - this.#nackWindow >= 1000) {
      this.#nackWindow = now;
      this.#nacks = 0;
    }
    if (this.#nacks < (this.#o.maxNacksPerSecond ?? 20)) {
      this.#nacks++;
      this.#send(frameRecord({ kind: 'ACK', cmdType: err.type ?? 0, status: err.wireCode, cmdSeq: err.seq ?? 0 }));
    }
    if (now - this.#lastReport >= 1000) {
      this.#lastReport = now;
      this.#o.onRejected?.(err, this.#unreported);
      this.#unreported = 0;
    } else {
      this.#unreported++;
    }
  }

  async #command(cmd: CommandRecord): Promise<void> {
    let status = 0;
    if (cmd.kind === 'CMD_REQUEST_STATUS') {
      this.#send(frameRecord(this.#snapshotRecord('STATUS', cmd.cmdSeq)));
    } else {
      try {
        status = this.#o.onCommand ? await this.#o.onCommand(cmd) : WireError.UNSUPPORTED;
      } catch {
        status = WireError.INTERNAL;
      }
    }
    this.#send(frameRecord({ kind: 'ACK', cmdType: RecordType[cmd.kind], status, cmdSeq: cmd.cmdSeq }));
  }
}

/** Closes a port, waiting at most CLOSE_TIMEOUT_MS (a device that takes nothing holds its writes); never rejects. */
function closePort(p: PortLike): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
    try {
      p.close(() => { clearTimeout(timer); resolve(); });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}
