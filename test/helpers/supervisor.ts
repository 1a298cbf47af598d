// What systemd does for `sonoedge serve` under Type=notify with WatchdogSec=,
// done by the test itself (no systemd here): a NOTIFY_SOCKET datagram socket
// the test owns, READY=1 / WATCHDOG=1 / STOPPING=1 recorded with their times,
// a watchdog that SIGKILLs the runtime when WATCHDOG=1 stops for longer than
// the watchdog period, and Restart=always with no delay. Also a firmware-like
// client that streams at a fixed rate and reconnects when the runtime goes.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DgramSocket } from 'node-unix-socket';
import { MessageType } from '../../src/protocol/constants.js';
import type { ConfigureStream } from '../../src/protocol/messages.js';
import { SocketClient } from '../../src/transport/socket-client.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

export interface Notice { at: number; pid: number; fields: Record<string, string> }

/** The test's NOTIFY_SOCKET: every datagram, parsed into its KEY=VALUE fields. */
export class NotifySocket {
  readonly path: string;
  readonly notices: Notice[] = [];
  readonly #sock = new DgramSocket();
  #onNotice: ((n: Notice) => void) | undefined;

  constructor(file: string) {
    this.path = file;
    if (existsSync(file)) unlinkSync(file);
    this.#sock.bind(file);
    this.#sock.on('data', (buf: Buffer) => {
      const fields = Object.fromEntries(buf.toString().split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      const n: Notice = { at: performance.now(), pid: Number(fields.MAINPID ?? 0), fields };
      this.notices.push(n);
      this.#onNotice?.(n);
    });
  }

  set onNotice(fn: ((n: Notice) => void) | undefined) {
    this.#onNotice = fn;
  }

  close(): void {
    this.#sock.close();
  }
}

/** How often the supervisor's watchdog looks. */
const CHECK_MS = 50;

export interface Life { child: ChildProcess; spawnedAt: number; readyAt?: number; exitedAt?: number; exit?: { code: number | null; signal: NodeJS.Signals | null }; lastWatchdogAt?: number; killedBy?: string }

/**
 * Runs `serve --config FILE` with NOTIFY_SOCKET and WATCHDOG_USEC, restarts it whenever it exits (unless stopped),
 * and SIGKILLs it when a READY runtime sends no WATCHDOG=1 for `watchdogMs` (systemd's WatchdogSec=).
 */
export class Supervisor {
  readonly lives: Life[] = [];
  readonly notify: NotifySocket;
  readonly #config: string;
  readonly #watchdogMs: number;
  readonly #env: NodeJS.ProcessEnv;
  #timer: NodeJS.Timeout | undefined;
  #lastCheck: number | undefined;
  #stopping = false;
  stderr = '';
  /** Awaited before each (re)start, like systemd's After= on a device: the serial pty must be there, say. */
  beforeSpawn: (() => Promise<void>) | undefined;
  /** Called with each life that ended (after its exit is recorded). */
  onExit: ((life: Life) => void) | undefined;
  /** The CLI to run; default this checkout's dist/cli/main.js. */
  cli = CLI;

  constructor(config: string, notifyPath: string, watchdogMs: number, env: NodeJS.ProcessEnv = {}) {
    this.#config = config;
    this.#watchdogMs = watchdogMs;
    this.#env = env;
    this.notify = new NotifySocket(notifyPath);
    this.notify.onNotice = (n) => {
      const life = this.current;
      if (!life) return;
      if (n.fields.READY === '1' && life.readyAt === undefined) life.readyAt = n.at;
      if (n.fields.WATCHDOG === '1') life.lastWatchdogAt = n.at;
    };
  }

  get current(): Life | undefined {
    return this.lives[this.lives.length - 1];
  }

  start(): void {
    this.#spawn();
    this.#timer = setInterval(() => this.#check(), CHECK_MS);
  }

  #spawn(): void {
    if (this.beforeSpawn) {
      void this.beforeSpawn().then(() => { if (!this.#stopping) this.#spawnNow(); });
      return;
    }
    this.#spawnNow();
  }

  #spawnNow(): void {
    const child = spawn(process.execPath, [this.cli, 'serve', '--config', this.#config], {
      cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...this.#env, NOTIFY_SOCKET: this.notify.path, WATCHDOG_USEC: String(this.#watchdogMs * 1000) },
    });
    const life: Life = { child, spawnedAt: performance.now() };
    this.lives.push(life);
    child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    child.on('exit', (code, signal) => {
      life.exitedAt = performance.now();
      life.exit = { code, signal };
      this.onExit?.(life);
      if (!this.#stopping) this.#spawn();
    });
  }

  /**
   * systemd's watchdog: a ready runtime that has not fed it for watchdogMs is killed (and restarted on exit). A check
   * that runs late (this process was starved of CPU on a loaded machine) decides nothing: the WATCHDOG=1 datagrams
   * that came meanwhile are still queued behind it, and systemd, which reads them as they come, would not act on them.
   */
  #check(): void {
    const now = performance.now();
    const late = this.#lastCheck !== undefined && now - this.#lastCheck > 4 * CHECK_MS;
    this.#lastCheck = now;
    if (late) return;
    const life = this.current;
    if (!life || life.exit || life.readyAt === undefined || life.killedBy) return;
    const last = life.lastWatchdogAt ?? life.readyAt;
    if (now - last > this.#watchdogMs) {
      life.killedBy = 'watchdog';
      life.child.kill('SIGKILL');
    }
  }

  /** Waits for the current life to be READY. */
  async ready(timeoutMs = 30000): Promise<Life> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const life = this.current;
      if (life?.readyAt !== undefined && !life.exit) return life;
      if (this.#stopping) throw new Error('Expected READY=1 but the supervisor is stopping');
      if (performance.now() > end) throw new Error(`Expected READY=1 within ${timeoutMs} ms but received none (stderr: ${this.stderr.slice(-400)})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** SIGTERM, no restart; resolves with the exit (of the current life; waits for a start in progress first). */
  async stop(): Promise<Life['exit']> {
    this.#stopping = true;
    if (this.#timer) clearInterval(this.#timer);
    const life = this.current;
    if (!life || life.exit) return life?.exit;
    if (life.readyAt === undefined) {
      const end = performance.now() + 30000;
      while (life.readyAt === undefined && !life.exit && performance.now() < end) await new Promise((r) => setTimeout(r, 10));
      if (life.exit) return life.exit;
    }
    const exited = new Promise<Life['exit']>((resolve) => life.child.once('exit', (code, signal) => resolve({ code, signal })));
    life.child.kill('SIGTERM');
    return exited;
  }

  /** Kills whatever runs (teardown). */
  kill(): void {
    this.#stopping = true;
    if (this.#timer) clearInterval(this.#timer);
    for (const l of this.lives) if (!l.exit) l.child.kill('SIGKILL');
    this.notify.close();
  }
}

/**
 * A firmware-like client: connects (retrying while the runtime is away), configures its stream, subscribes, and
 * sends a frame every `intervalMs`; when the connection goes, it reconnects and resumes with the next frame.
 */
export class StreamingClient {
  readonly results: { seq: number; at: number }[] = [];
  readonly sent: { seq: number; at: number; connection: number }[] = [];
  connections = 0;
  #client: SocketClient | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #seq = 0;
  #connecting = false;
  readonly #sock: string;
  readonly #config: ConfigureStream;
  readonly #frames: Uint8Array[];
  readonly #intervalMs: number;

  constructor(sock: string, config: ConfigureStream, frames: Uint8Array[], intervalMs: number) {
    this.#sock = sock;
    this.#config = config;
    this.#frames = frames;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    void this.#connect();
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
  }

  async #connect(): Promise<void> {
    if (this.#connecting || this.#stopped) return;
    this.#connecting = true;
    try {
      for (;;) {
        if (this.#stopped) return;
        try {
          const c = await SocketClient.connect(this.#sock);
          c.socket.on('error', () => undefined);
          await c.hello('supervised-client');
          await c.configure(this.#config);
          await c.subscribe({ streams: [this.#config.stream] });
          c.on('message', (m) => { if (m.header.type === MessageType.RESULT) this.results.push({ seq: (m.body as { seq: number }).seq, at: performance.now() }); });
          c.socket.once('close', () => { if (this.#client === c) this.#client = undefined; void this.#connect(); });
          this.connections++;
          this.#client = c;
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    } finally {
      this.#connecting = false;
    }
  }

  #tick(): void {
    const c = this.#client;
    if (!c || c.socket.destroyed) return;
    const seq = this.#seq++;
    c.sendFrame(this.#config.stream, seq, this.#frames[seq % this.#frames.length]);
    this.sent.push({ seq, at: performance.now(), connection: this.connections });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#client?.close();
  }
}
