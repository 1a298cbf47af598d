// Supervision by systemd (Type=notify, WatchdogSec=): the sd_notify protocol
// and a watchdog that is fed only while the pipeline makes progress.
//
// sd_notify is one datagram of newline-separated KEY=VALUE lines sent to the
// AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" in the abstract
// namespace). Node has no AF_UNIX datagram sockets; node-unix-socket (prebuilt
// Node-API binaries, no install script, no libsystemd) gives one. It is loaded
// at the first message, only under systemd: its registry has a prebuilt for
// linux x64 but none for arm64, where a top-level import kept the whole
// runtime from starting. The sd-notify package needs libsystemd-dev and a
// compiler at install, which carts and CI do not have.
//
// The watchdog (WATCHDOG_USEC, set by systemd from WatchdogSec=; WATCHDOG_PID,
// when set, must be this process) is fed every WATCHDOG_USEC / 2 while the
// runtime is healthy: the event loop turns (a blocked loop feeds nothing),
// and the pipeline either completed a frame since the last feed, has no
// frame waiting or running, or is loading models (a TensorRT engine build
// takes minutes and is progress). A frame that runs longer than the stall
// limit with no other frame finishing stops the feeding; systemd then kills
// the runtime (SIGABRT, then SIGKILL) and Restart= starts it again.
import { createRequire } from 'node:module';
import type { DgramSocket } from 'node-unix-socket';
import { coded, rangeError, type ErrorCode } from '../errors.js';

/** What supervision's refusals and failed notifications carry. */
const NOTIFY: ErrorCode = 'ERR_SONOEDGE_NOTIFY';

/** A datagram socket from node-unix-socket, loaded on first use (the notifier remembers a failure to load). */
function dgramSocket(): DgramSocket {
  let Dgram: typeof DgramSocket;
  try {
    Dgram = (createRequire(import.meta.url)('node-unix-socket') as typeof import('node-unix-socket')).DgramSocket;
  } catch (err) {
    throw coded(new Error(`Expected node-unix-socket (AF_UNIX datagrams for sd_notify) to load on ${process.platform}-${process.arch} but it failed: ${(err as Error).message.split('\n')[0]}`), NOTIFY);
  }
  return new Dgram();
}

/** What the pipeline looks like to the watchdog. */
export interface ProgressProbe {
  /** Frames finished since start (results and failures). */
  completed: number;
  /** Streams with a frame running or waiting. */
  busy: number;
  /** Model loads in progress (stream models, LOAD_MODEL). */
  loading: number;
}

export interface NotifyTarget {
  /** The socket path; a leading "@" (or NUL) is the abstract namespace. */
  socket: string;
  /** The watchdog period systemd expects, in microseconds; undefined when the watchdog is off (or meant for another process). */
  watchdogUsec: number | undefined;
}

/** $NOTIFY_SOCKET and the watchdog settings for this process, or undefined when not run under Type=notify. */
export function notifyTarget(env: NodeJS.ProcessEnv = process.env, pid = process.pid): NotifyTarget | undefined {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return undefined;
  if (!(socket.startsWith('/') || socket.startsWith('@'))) {
    throw rangeError(NOTIFY, `Expected an absolute path or an @abstract name for NOTIFY_SOCKET but received ${JSON.stringify(socket)}`);
  }
  let watchdogUsec: number | undefined;
  const usec = env.WATCHDOG_USEC;
  const forPid = env.WATCHDOG_PID;
  if (usec !== undefined && (forPid === undefined || Number(forPid) === pid)) {
    const n = Number(usec);
    if (!(Number.isInteger(n) && n > 0)) {
      throw rangeError(NOTIFY, `Expected a positive integer (microseconds) for WATCHDOG_USEC but received ${JSON.stringify(usec)}`);
    }
    watchdogUsec = n;
  }
  return { socket, watchdogUsec };
}

/** Sends sd_notify messages; every send is best effort (a missing socket is reported to `onError`, never thrown). */
export class SystemdNotifier {
  readonly target: NotifyTarget;
  readonly #path: string;
  readonly #onError: (err: Error) => void;
  #socket: DgramSocket | undefined;
  /** Messages handed to the socket and not yet confirmed; close() waits for them. */
  #inFlight = 0;
  #closeWhenDone = false;
  /** node-unix-socket could not be loaded: reported once, nothing more is sent. */
  #unavailable = false;
  sent = 0;

  constructor(target: NotifyTarget, onError: (err: Error) => void = () => undefined) {
    this.target = target;
    this.#path = target.socket.startsWith('@') ? `\0${target.socket.slice(1)}` : target.socket;
    this.#onError = onError;
  }

  /** Under systemd's Type=notify: a notifier for $NOTIFY_SOCKET, or undefined. */
  static fromEnv(onError?: (err: Error) => void, env: NodeJS.ProcessEnv = process.env): SystemdNotifier | undefined {
    const target = notifyTarget(env);
    return target ? new SystemdNotifier(target, onError) : undefined;
  }

  /** READY=1 (with MAINPID and a STATUS line): the models are verified and the socket listens. */
  ready(status: string): void {
    this.send(`READY=1\nMAINPID=${process.pid}\nSTATUS=${oneLine(status)}`);
  }

  /** WATCHDOG=1. */
  watchdog(): void {
    this.send('WATCHDOG=1');
  }

  /** STOPPING=1 (with a STATUS line). */
  stopping(status: string): void {
    this.send(`STOPPING=1\nSTATUS=${oneLine(status)}`);
  }

  status(text: string): void {
    this.send(`STATUS=${oneLine(text)}`);
  }

  /** One datagram of KEY=VALUE lines. */
  send(message: string): void {
    if (this.#closeWhenDone || this.#unavailable) return;
    if (this.#socket === undefined) {
      try {
        this.#socket = dgramSocket();
      } catch (err) {
        // No datagram socket on this platform: said once, then every message is dropped (the watchdog feeds every few seconds).
        this.#unavailable = true;
        this.#onError(err as Error);
        return;
      }
    }
    try {
      const buf = Buffer.from(message);
      this.#inFlight++;
      this.#socket.sendTo(buf, 0, buf.length, this.#path, (err) => {
        this.#inFlight--;
        if (err) this.#onError(coded(err, NOTIFY));
        else this.sent++;
        if (this.#closeWhenDone && this.#inFlight === 0) this.#release();
      });
    } catch (err) {
      this.#onError(err as Error);
    }
  }

  /** Closes the datagram socket once what was sent went out (it holds the event loop while open). */
  close(): void {
    this.#closeWhenDone = true;
    if (this.#inFlight === 0) this.#release();
  }

  #release(): void {
    try {
      this.#socket?.close();
    } catch { /* already closed */ }
    this.#socket = undefined;
  }
}

export interface WatchdogOptions {
  /** How often to look (and feed when healthy), in ms; systemd's WATCHDOG_USEC / 2 when supervised. */
  intervalMs: number;
  /** A frame may run this long with no frame finishing before the pipeline counts as stalled; default 2 x intervalMs. */
  stallMs?: number;
  probe: () => ProgressProbe;
  feed: () => void;
  /** Called once when feeding stops (stalled), and once when it resumes. */
  onChange?: (healthy: boolean, why: string) => void;
}

/** Feeds a watchdog while the pipeline makes progress or is idle. */
export class PipelineWatchdog {
  readonly #o: Required<Omit<WatchdogOptions, 'onChange'>> & Pick<WatchdogOptions, 'onChange'>;
  #timer: NodeJS.Timeout | undefined;
  #lastCompleted = -1;
  #lastProgressAt = performance.now();
  #healthy = true;
  fed = 0;
  skipped = 0;

  constructor(options: WatchdogOptions) {
    if (!(Number.isFinite(options.intervalMs) && options.intervalMs >= 1)) {
      throw rangeError(NOTIFY, `Expected a number of at least 1 (ms) for intervalMs but received ${String(options.intervalMs)}`);
    }
    this.#o = { ...options, stallMs: options.stallMs ?? 2 * options.intervalMs };
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  start(): void {
    if (this.#timer) return;
    this.tick();
    this.#timer = setInterval(() => this.tick(), this.#o.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One look: feeds when healthy. Public for tests. */
  tick(): boolean {
    const p = this.#o.probe();
    const now = performance.now();
    if (p.completed !== this.#lastCompleted || p.busy === 0 || p.loading > 0) {
      this.#lastCompleted = p.completed;
      this.#lastProgressAt = now;
    }
    const stalledMs = now - this.#lastProgressAt;
    const healthy = stalledMs <= this.#o.stallMs;
    if (healthy !== this.#healthy) {
      this.#healthy = healthy;
      this.#o.onChange?.(healthy, healthy ? 'the pipeline finished a frame again'
        : `no frame finished for ${Math.round(stalledMs)} ms while ${p.busy} stream${p.busy === 1 ? ' has a frame' : 's have frames'} running or waiting`);
    }
    if (!healthy) {
      this.skipped++;
      return false;
    }
    this.fed++;
    this.#o.feed();
    return true;
  }
}

const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');
