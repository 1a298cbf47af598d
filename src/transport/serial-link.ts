// The serial link (docs/PROTOCOL.md, "Serial link"): result records at a
// configured rate (newest wins between sends), a heartbeat that stops while
// the runtime is faulted, and firmware commands read, acknowledged and handed
// to the runtime. The port is node-serialport's SerialPort by default, or any
// injected duplex with write/on('data')/close (the contract tests run the
// same suite against a socat pty pair).
import { SerialPort } from 'serialport';
import { ResultState, RuntimeState, ViewClass, VIEW_UNKNOWN, type RuntimeStateName } from '../protocol/constants.js';
import { ProtocolError, WireError } from '../protocol/errors.js';
import type { ResultBody } from '../protocol/messages.js';
import {
  frameRecord, RecordType, SerialDecoder, type CommandRecord, type HeartbeatRecord, type ResultRecord,
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
   * The port failed (the device went away, a write failed): called once, then the link stops writing (the
   * heartbeat stops too); later errors are only counted. Without it the error is only counted: it never throws.
   */
  onError?: (err: Error) => void;
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

export interface SerialLinkStats {
  resultsSent: number;
  /** Results replaced by a newer one before their send slot. */
  resultsReplaced: number;
  heartbeats: number;
  commands: number;
  rejected: number;
  /** Records not written because the port held more than maxPendingBytes unsent. */
  recordsDropped: number;
  /** Port errors (after the first, the link writes nothing). */
  errors: number;
}

/** How long close() waits for the port to close. */
const CLOSE_TIMEOUT_MS = 1000;

export class SerialLink implements ResultSink {
  readonly kind = 'serial';
  readonly stats: SerialLinkStats = { resultsSent: 0, resultsReplaced: 0, heartbeats: 0, commands: 0, rejected: 0, recordsDropped: 0, errors: 0 };
  readonly decoder = new SerialDecoder();
  readonly #o: SerialLinkOptions;
  #port: PortLike | undefined;
  #pending: ResultBody | undefined;
  #timers: NodeJS.Timeout[] = [];
  #beat = 0;
  #failed = false;
  #closed = false;
  #nackWindow = -Infinity;
  #nacks = 0;
  #lastReport = -Infinity;
  #unreported = 0;
  readonly #started = performance.now();

  constructor(options: SerialLinkOptions) {
    if (!options.path && !options.port) throw new TypeError('Expected path or port for the serial link but received neither');
    const rate = options.resultRate ?? 30;
    if (!(rate > 0 && rate <= 1000)) throw new RangeError(`Expected number in (0, 1000] for resultRate but received ${rate}`);
    this.#o = options;
  }

  async open(): Promise<void> {
    if (this.#o.port) this.#port = this.#o.port;
    else {
      const p = new SerialPort({ path: this.#o.path!, baudRate: this.#o.baudRate ?? 115200, autoOpen: false });
      await new Promise<void>((resolve, reject) => p.open((err) => (err ? reject(err) : resolve())));
      this.#port = p;
    }
    const port = this.#port;
    port.on('data', (chunk: Buffer) => this.#onData(chunk));
    port.on('error', (err: Error) => this.#onError(err));
    const rate = this.#o.resultRate ?? 30;
    this.#timers.push(setInterval(() => this.#sendResult(), 1000 / rate));
    this.#timers.push(setInterval(() => this.#heartbeat(), this.#o.heartbeatMs ?? 500));
    this.#heartbeat();
  }

  /** ResultSink: the newest result goes out at the next send slot. */
  write(result: ResultBody): void {
    if (this.#pending) this.stats.resultsReplaced++;
    this.#pending = result;
  }

  /** Stops the timers and closes a port it opened: bounded (CLOSE_TIMEOUT_MS) even with writes the device never takes. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    const p = this.#port;
    this.#port = undefined;
    if (p && !this.#o.port) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
        p.close(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  #onError(err: Error): void {
    this.stats.errors++;
    // Writes cancelled by close() (a device that took nothing) are not a failure to report.
    if (this.#failed || this.#closed) return;
    this.#failed = true;
    this.#o.onError?.(err);
  }

  /** Writes one framed record, unless the port failed or holds more than maxPendingBytes unsent (dropped, counted). */
  #send(record: Buffer): boolean {
    const p = this.#port;
    if (!p || this.#failed) return false;
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
      kind, state: RuntimeState[s.state], modelSet: s.modelSet, flags: (s.streaming ? 1 : 0) | (s.modelLoaded ? 2 : 0), cmdSeq,
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
