// The serial link (docs/PROTOCOL.md, "Serial link"): result records at a
// configured rate (newest wins between sends), a heartbeat that stops while
// the runtime is faulted, and firmware commands read, acknowledged and handed
// to the runtime. The port is node-serialport's SerialPort by default, or any
// injected duplex with write/on('data')/close (the contract tests run the
// same suite against a socat pty pair).
import { SerialPort } from 'serialport';
import { ResultState, RuntimeState, ViewClass, VIEW_UNKNOWN, type RuntimeStateName } from '../protocol/constants.js';
import { WireError } from '../protocol/errors.js';
import type { ResultBody } from '../protocol/messages.js';
import {
  frameRecord, RecordType, SerialDecoder, type CommandRecord, type HeartbeatRecord, type ResultRecord,
} from '../protocol/serial.js';
import type { ResultSink } from './types.js';

export interface PortLike {
  write(data: Buffer): unknown;
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  close(cb?: (err?: Error | null) => void): unknown;
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
}

export interface SerialLinkStats {
  resultsSent: number;
  /** Results replaced by a newer one before their send slot. */
  resultsReplaced: number;
  heartbeats: number;
  commands: number;
  rejected: number;
}

export class SerialLink implements ResultSink {
  readonly kind = 'serial';
  readonly stats: SerialLinkStats = { resultsSent: 0, resultsReplaced: 0, heartbeats: 0, commands: 0, rejected: 0 };
  readonly decoder = new SerialDecoder();
  readonly #o: SerialLinkOptions;
  #port: PortLike | undefined;
  #pending: ResultBody | undefined;
  #timers: NodeJS.Timeout[] = [];
  #beat = 0;
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
    this.#port.on('data', (chunk) => this.#onData(chunk));
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

  async close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    const p = this.#port;
    this.#port = undefined;
    if (p && !this.#o.port) await new Promise<void>((resolve) => p.close(() => resolve()));
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
    this.#port.write(frameRecord(rec));
    this.stats.resultsSent++;
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
    this.#port.write(frameRecord(this.#snapshotRecord('HEARTBEAT', 0)));
    this.stats.heartbeats++;
  }

  #onData(chunk: Buffer): void {
    for (const ev of this.decoder.push(chunk)) {
      if (ev.kind === 'error') { this.stats.rejected++; continue; }
      const rec = ev.record;
      if (!rec.kind.startsWith('CMD_')) { this.stats.rejected++; continue; }
      const cmd = rec as CommandRecord;
      this.stats.commands++;
      void this.#command(cmd);
    }
  }

  async #command(cmd: CommandRecord): Promise<void> {
    let status = 0;
    if (cmd.kind === 'CMD_REQUEST_STATUS') {
      this.#port?.write(frameRecord(this.#snapshotRecord('STATUS', cmd.cmdSeq)));
    } else {
      try {
        status = this.#o.onCommand ? await this.#o.onCommand(cmd) : WireError.UNSUPPORTED;
      } catch {
        status = WireError.INTERNAL;
      }
    }
    this.#port?.write(frameRecord({ kind: 'ACK', cmdType: RecordType[cmd.kind], status, cmdSeq: cmd.cmdSeq }));
  }
}
