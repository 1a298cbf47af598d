// Structured logs for the long-running runtime (pino): one JSON object a line,
// with the level as its name ("info", not 30) and an ISO time, to standard
// output (journald) or to a file. Each part logs through a child logger that
// names it, `log.child({ component: 'socket' })`, so a line says where it
// came from. Writes are asynchronous (sonic-boom, sync: false): the event loop
// never waits on a disk; `close()` at shutdown writes out what is pending.
import { mkdirSync, openSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from './config/serve-schema.js';
import { coded } from './errors.js';

export type { LogLevel } from './config/serve-schema.js';

export interface LoggerOptions {
  /** Lowest level written; default 'info'. */
  level?: LogLevel;
  /** Append to this file (its folder is created); default standard output. */
  file?: string | null;
  /** One human-readable line per entry instead of JSON; default false. */
  pretty?: boolean;
  /**
   * Bytes of lines held while the destination does not take them (a stdout nobody reads); lines beyond are
   * dropped, so a wedged reader cannot grow memory without bound. Default 16 MiB.
   */
  maxBufferBytes?: number;
}

/** A component's logger: pino's, from `log.child({ component })`. */
export type Logger = PinoLogger;

export interface RootLogger extends PinoLogger {
  /**
   * Graceful shutdown's last step: writes out every pending line, closes the
   * file (standard output stays open); a line logged later, by this logger or
   * any child, is dropped rather than thrown at a closed stream. Idempotent.
   * With `timeoutMs`, resolves after that long at the latest: a destination
   * that takes nothing (a pipe nobody reads) cannot hold a shutdown; what
   * it has not taken by then is lost.
   */
  close(timeoutMs?: number): Promise<void>;
}

const LABELS: Record<string, string> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'FATAL' };

/** `2026-05-01T12:00:00.123Z INFO  [socket] client connected {"client":3}`: pino's JSON line, for a person. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { time, level, component, msg, pid: _pid, hostname: _host, ...rest } = entry;
  const label = LABELS[String(level)] ?? String(level).toUpperCase();
  const where = component === undefined ? '' : `[${String(component)}] `;
  const extra = Object.keys(rest).length === 0 ? '' : ` ${JSON.stringify(rest)}`;
  return `${String(time)} ${label.padEnd(5)} ${where}${String(msg ?? '')}${extra}\n`;
}

/**
 * Opens the log file now, so that a bad path is an error at start-up rather
 * than an 'error' event later; sonic-boom then writes to the descriptor.
 */
function openLogFile(file: string): number {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    return openSync(file, 'a');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'an error';
    throw coded(new Error(`Expected a writable log file at ${file} but received ${code}`, { cause: err }), 'ERR_SONOEDGE_CONFIG');
  }
}

export function createLogger(options: LoggerOptions = {}): RootLogger {
  const file = options.file ?? null;
  const maxLength = options.maxBufferBytes ?? 16 * 1024 * 1024;
  if (!Number.isInteger(maxLength) || maxLength <= 0) {
    throw coded(new RangeError(`Expected a positive integer for maxBufferBytes but received ${String(maxLength)}`), 'ERR_SONOEDGE_CONFIG');
  }
  const dest = pino.destination({ dest: file === null ? 1 : openLogFile(file), sync: false, maxLength });
  // A failed write (disk full) must not take the runtime down with an unhandled 'error'.
  dest.on('error', (err: Error) => { process.stderr.write(`sonoedge: cannot write the log: ${err.message}\n`); });
  // Every line goes through here: after close() the file is gone, and a late
  // line from any child logger is dropped instead of thrown.
  let open = true;
  const pretty = options.pretty === true;
  const stream: DestinationStream & { flush(cb: (err?: Error) => void): void } = {
    write: (line: string) => { if (open) dest.write(pretty ? prettyLine(line) : line); },
    flush: (cb) => dest.flush(cb),
  };
  const logger = pino({
    level: options.level ?? 'info',
    base: { pid: process.pid, hostname: os.hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, stream);
  let closing: Promise<void> | undefined;
  const close = (timeoutMs?: number): Promise<void> => {
    closing ??= new Promise<void>((resolve, reject) => {
      open = false;
      // end() waits for a write in flight, writes the rest, then closes (never fd 1 or 2).
      dest.once('close', () => resolve());
      dest.once('error', reject);
      dest.end();
    });
    if (timeoutMs === undefined) return closing;
    let timer: NodeJS.Timeout | undefined;
    // Given up: the pending lines are abandoned (destroy), or pino's exit hook would retry writing them for good.
    const gaveUp = new Promise<void>((resolve) => { timer = setTimeout(() => { dest.destroy(); resolve(); }, timeoutMs); });
    return Promise.race([closing, gaveUp]).finally(() => clearTimeout(timer));
  };
  return Object.assign(logger, { close });
}
