// The chaos soak (issue 13, part 5): a real `sonoedge serve` (dist/, bundled
// models, a socat pty as its serial port, metrics on) supervised as systemd
// would (Type=notify, WatchdogSec=3, Restart=always: test/helpers/
// supervisor.ts), several firmware-like clients streaming the sample cine at
// 30 fps, and an attacker that, all at once and all the time:
//   - kills clients mid-frame (half a FRAME written, then the socket destroyed),
//   - opens and abandons connections (silent, a partial header, HELLO only),
//   - reads slowly (subscribed to everything with masks and contours, paused),
//   - floods past maxClients (TOO_MANY),
//   - unplugs and replugs the serial pty (socat killed and started again),
//   - storms LOAD_MODEL / SWAP with good and bad packages,
// while the supervisor SIGKILLs the runtime, hangs it (SIGSTOP, caught by the
// watchdog) and restarts it with SIGTERM on a schedule.
//
// What it checks (each a line of the verdict):
//   - results lost: each live client streams in windows of a few seconds, each
//     on a fresh connection and stream id; at the end of a window it stops,
//     waits for the runtime to settle, and compares what it sent and received
//     with the runtime's per-stream counters (metrics endpoint): every frame
//     sent was taken (in = sent), every frame taken got a result or a counted
//     drop or failure (in = out + dropped + failed), and every result reached
//     the client (received = out). A window a runtime restart cut short is
//     counted apart (its frames died with the process; nothing to account);
//   - no fd growth: at every round's end the attacker pauses and the runtime's
//     open descriptors, less its connected clients, are sampled; within one
//     runtime life the last sample may not exceed the first by more than 2;
//   - RSS bounded: sampled every 2 s; the slope (least squares, per life,
//     after its first minute) is reported, and RSS must stay under a bound;
//   - no abort: every runtime exit is one the supervisor caused (SIGKILL, the
//     watchdog after a SIGSTOP) or a clean exit 0 after SIGTERM; the watchdog
//     never fires without a hang injected;
//   - every shutdown clean: every SIGTERM (mid-run and final) ends with exit 0
//     and a "runtime stopped" line with complete: true;
//   - live connections kept: no live client's window is cut short but by a
//     runtime restart (the runtime never drops a well-behaved client, and its
//     metrics endpoint answers within the settle time).
//   - heartbeat back: every runtime life that became ready sent heartbeats on
//     the serial line, and after every replug of the pty (the runtime notices
//     the loss and reopens the path with backoff) a heartbeat arrives within
//     10 s, unless a restart, the next unplug or the end came first.
//
//   npm run soak                          36 minutes (the last 30 in one runtime life), then the report
//   npm run soak -- --minutes 5 --json out.json
//   node --import tsx bench/soak.ts --seconds 60 --junit results/soak.xml   (CI: scripts/test.mjs suite "soak")
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseExposition, type Sample } from '../src/cli/status.js';
import { MODELS_DIR } from '../src/model/package.js';
import { encodeMessage, MessageDecoder } from '../src/protocol/codec.js';
import { HEADER_SIZE, MessageType } from '../src/protocol/constants.js';
import { WireError } from '../src/protocol/errors.js';
import { msg, parseError, type ConfigureStream } from '../src/protocol/messages.js';
import { RemoteError, SocketClient } from '../src/transport/socket-client.js';
import { freePort } from '../test/helpers/net.js';
import { PluggablePty } from '../test/helpers/pty.js';
import { readSampleCine, SAMPLE_SPACING_MM } from '../test/helpers/sample.js';
import { Supervisor, type Life } from '../test/helpers/supervisor.js';

export interface SoakOptions {
  durationS: number;
  /** Live clients streaming at `fps`; default 3. */
  clients?: number;
  fps?: number;
  /** Seconds between attacker pauses (fd and RSS samples); default 15. */
  roundS?: number;
  /** Live clients' window length range in seconds; default [3, 8]. */
  windowS?: [number, number];
  /** RSS bound in MB; default 900. */
  rssBoundMb?: number;
  /** Largest RSS slope in MB per minute, checked over a life with at least 10 minutes of samples; default 1. */
  rssSlopeMax?: number;
  log?: (line: string) => void;
  /** The sonoedge CLI serve runs from; default this checkout's dist/cli/main.js. */
  cli?: string;
}

type FaultKind = 'kill-client-mid-frame' | 'abandon-connection' | 'slow-reader' | 'too-many-flood' | 'serial-unplug' | 'model-load-good' | 'model-load-bad'
  | 'model-swap-good' | 'model-swap-bad' | 'runtime-sigkill' | 'runtime-hang' | 'runtime-sigterm';

interface Window { life: number; stream: number; sent: number; received: number; in?: number; out?: number; dropped?: number; failed?: number; ok?: boolean; why?: string }

export interface SoakReport {
  durationS: number;
  clients: number;
  fps: number;
  load: { framesSent: number; resultsReceived: number; framesPerSecond: number; resultsPerSecond: number; droppedInAccounted: number; failedInAccounted: number };
  faults: Record<FaultKind, number>;
  /** Attacks whose outcome was not the expected one (a good LOAD refused, a bad one taken, no TOO_MANY...). */
  unexpected: string[];
  windows: { completed: number; interrupted: number; framesSentInInterrupted: number; refusedStarts: number; interruptedBy: Record<string, number> };
  resultsLost: number;
  lossDetails: Window[];
  lives: { index: number; startedS: number; readyMs: number | null; endedS: number | null; exit: string; cause: string; heartbeats: number;
    fds: number[]; rssMb: { min: number; max: number; slopeMbPerMin: number | null; samples: number } }[];
  rssMaxMb: number;
  rssSlopeMbPerMin: number | null;
  fdGrowthMax: number;
  verdict: { name: string; ok: boolean; detail: string }[];
  ok: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (lo: number, hi: number) => lo + Math.random() * (hi - lo);

async function metricsOf(url: string): Promise<Map<string, Sample[]>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return parseExposition(await res.text());
}

function slope(samples: { t: number; mb: number }[]): number | null {
  if (samples.length < 5) return null;
  const n = samples.length;
  const mt = samples.reduce((a, s) => a + s.t, 0) / n;
  const mm = samples.reduce((a, s) => a + s.mb, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) { num += (s.t - mt) * (s.mb - mm); den += (s.t - mt) ** 2; }
  return den === 0 ? null : (num / den) * 60_000; // MB per minute (t in ms)
}

function procStats(pid: number): { fds: number; rssMb: number } | undefined {
  try {
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { fds, rssMb: m ? Number(m[1]) / 1024 : NaN };
  } catch {
    return undefined;
  }
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const clients = o.clients ?? 3;
  const fps = o.fps ?? 30;
  const roundS = o.roundS ?? 15;
  const [wMin, wMax] = o.windowS ?? [3, 8];
  const rssBoundMb = o.rssBoundMb ?? 900;
  const rssSlopeMax = o.rssSlopeMax ?? 1;
  const WATCHDOG_MS = 3000;
  /** A replug must be answered by a heartbeat within this (serve retries at most every 5 s). */
  const REPLUG_BEAT_MS = 10000;
  const MAX_CLIENTS = 12;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-soak-'));
  const sock = path.join(dir, 'soak.sock');
  const serialLink = path.join(dir, 'ttySOAK');
  const logFile = path.join(dir, 'serve.log');
  const metricsPort = await freePort();
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const configFile = path.join(dir, 'serve.yaml');
  writeFileSync(configFile, `socket:
  path: ${sock}
  maxClients: ${MAX_CLIENTS}
  maxStreams: 64
serial:
  path: ${serialLink}
models:
  viewQuality: ${path.join(MODELS_DIR, 'view_quality')}
  segmentation: ${path.join(MODELS_DIR, 'lv_segmentation')}
  trustStore: ${path.join(MODELS_DIR, 'trust')}
metrics:
  port: ${metricsPort}
logging:
  level: info
  file: ${logFile}
`);
  // Packages for the model storm: a tampered copy (signature no longer matches), and the segmentation package (wrong task for the view slot).
  const tampered = path.join(dir, 'tampered_vq');
  cpSync(path.join(MODELS_DIR, 'view_quality'), tampered, { recursive: true });
  const mf = path.join(tampered, 'manifest.json');
  writeFileSync(mf, readFileSync(mf, 'utf8').replace('"version"', '"description_extra": "tampered", "version"'));

  const { frames } = await readSampleCine();
  const faults = Object.fromEntries(([
    'kill-client-mid-frame', 'abandon-connection', 'slow-reader', 'too-many-flood', 'serial-unplug', 'model-load-good', 'model-load-bad',
    'model-swap-good', 'model-swap-bad', 'runtime-sigkill', 'runtime-hang', 'runtime-sigterm',
  ] as FaultKind[]).map((k) => [k, 0])) as Record<FaultKind, number>;
  const unexpected: string[] = [];
  const windows: Window[] = [];
  const rss: { life: number; t: number; mb: number }[] = [];
  const fdSamples: { life: number; fds: number }[] = [];
  const lifeCause = new Map<number, string>();
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;

  // The firmware end keeps the heartbeat times only (a 36-minute run would otherwise hold every record).
  const pty = new PluggablePty(serialLink, { keepRecords: false });
  await pty.plug();
  /** Every replug, with the runtime life it happened in: the heartbeat must come back after each. */
  const replugs: { at: number; life: number }[] = [];
  const unplugs: number[] = [];
  // The environment of the systemd unit in docs/DEPLOYMENT.md. As there, the runtime does not wait for its serial
  // adapter: a restart while the pty is unplugged starts without it, and the link opens when it is plugged in again.
  const sup = new Supervisor(configFile, path.join(dir, 'notify.sock'), WATCHDOG_MS, { MALLOC_ARENA_MAX: '2' });
  if (o.cli) sup.cli = o.cli;
  sup.start();
  await sup.ready(60000);
  log(`soak: runtime ready (pid ${sup.current!.child.pid}); ${clients} clients at ${fps} fps for ${o.durationS} s; dir ${dir}`);

  let stopping = false;
  let paused = false;
  let nextStream = 1;
  const streamId = () => { const id = nextStream; nextStream = nextStream >= 30000 ? 1 : nextStream + 1; return id; };
  let attackStream = 40000;
  const attackId = () => { attackStream = attackStream >= 60000 ? 40000 : attackStream + 1; return attackStream; };
  const lifeNo = () => sup.lives.length;
  /** Live-client connections refused or cut before their first frame (TOO_MANY during a flood, a restart). */
  let refusedStarts = 0;
  /** The life a hang was injected into: the runtime is stopped, connections are queued by the kernel, unanswered. */
  let hungLife = 0;

  // --- live clients -----------------------------------------------------------
  const config = (stream: number): ConfigureStream => ({ stream, width: 256, height: 256, format: 'GRAY8', spacing: [SAMPLE_SPACING_MM, SAMPLE_SPACING_MM], fps });
  async function liveClient(k: number): Promise<void> {
    let frame = k * 7;
    while (!stopping) {
      const w: Window = { life: lifeNo(), stream: streamId(), sent: 0, received: 0 };
      let c: SocketClient;
      try {
        c = await SocketClient.connect(sock);
      } catch {
        await sleep(50);
        continue;
      }
      c.socket.on('error', () => undefined);
      let closed = false;
      c.socket.once('close', () => { closed = true; });
      try {
        w.life = lifeNo();
        await c.hello(`soak-client-${k}`);
        await c.configure(config(w.stream));
        await c.subscribe({ streams: [w.stream] });
        c.on('message', (m) => { if (m.header.type === MessageType.RESULT && (m.body as { stream: number }).stream === w.stream) w.received++; });
        const end = performance.now() + rand(wMin, wMax) * 1000;
        while (performance.now() < end && !stopping && !closed) {
          c.sendFrame(w.stream, w.sent, frames[frame++ % frames.length]);
          w.sent++;
          await sleep(1000 / fps);
        }
        if (closed) throw new Error(lifeNo() !== w.life ? 'the runtime restarted' : 'the connection closed');
        // Settle: wait until the runtime has answered every frame and the client has every result.
        const settleEnd = performance.now() + 8000;
        for (;;) {
          if (lifeNo() !== w.life) throw new Error('the runtime restarted');
          if (closed) throw new Error('the connection closed');
          let f: Awaited<ReturnType<typeof metricsOf>>;
          try {
            f = await metricsOf(metricsUrl);
          } catch (err) {
            if (performance.now() > settleEnd) throw new Error(`the metrics endpoint did not answer: ${(err as Error).message}`);
            await sleep(100);
            continue;
          }
          const v = (name: string) => f.get(name)?.find((x) => x.labels.stream === String(w.stream))?.value ?? 0;
          w.in = v('sonoedge_frames_in_total'); w.out = v('sonoedge_frames_out_total'); w.dropped = v('sonoedge_frames_dropped_total'); w.failed = v('sonoedge_frames_failed_total');
          const settled = w.in === w.sent && w.in === w.out + w.dropped + w.failed && w.received === w.out;
          if (settled) { w.ok = true; break; }
          if (performance.now() > settleEnd) {
            if (lifeNo() !== w.life) throw new Error('the runtime restarted');
            w.ok = false;
            w.why = `sent ${w.sent}, in ${w.in}, out ${w.out}, dropped ${w.dropped}, failed ${w.failed}, received ${w.received}`;
            break;
          }
          await sleep(100);
        }
        windows.push(w);
        await c.request((seq) => msg.closeStream(seq, { stream: w.stream })).catch(() => undefined);
      } catch (err) {
        if (w.sent === 0) {
          // Refused (TOO_MANY while the attacker floods) or cut before streaming: a reconnect, not a window.
          refusedStarts++;
        } else {
          let why = (err as Error).message;
          // The socket closes a moment before the supervisor sees the exit: a close followed by a restart is the restart.
          const seen = performance.now() + 2000;
          while (why === 'the connection closed' && lifeNo() === w.life && performance.now() < seen) await sleep(50);
          if (lifeNo() !== w.life) why = 'the runtime restarted';
          w.ok = undefined;
          w.why = `interrupted: ${why}`;
          windows.push(w);
        }
      } finally {
        await c.close();
      }
    }
  }

  // --- the attacker ------------------------------------------------------------
  const attackSockets = new Set<net.Socket>();
  const track = (s: net.Socket) => { attackSockets.add(s); s.on('error', () => undefined); s.once('close', () => attackSockets.delete(s)); return s; };
  const rawConnect = () => new Promise<net.Socket>((resolve, reject) => {
    const s = track(net.createConnection(sock));
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
  const hello = encodeMessage(msg.hello(1, { versions: [1], client: 'attacker', features: [] }));
  let busy = 0;
  async function loop(name: string, everyMs: [number, number], step: () => Promise<void>): Promise<void> {
    while (!stopping) {
      if (paused) { await sleep(50); continue; }
      busy++;
      const life = lifeNo();
      try {
        await step();
      } catch (err) {
        // Expected: the runtime went away (restart, hang) or refused the connection (TOO_MANY while the flood holds every slot).
        const e = err as Error & { code?: string; wireCode?: number };
        const gone = lifeNo() !== life || hungLife === life || stopping;
        const refused = e.wireCode === WireError.TOO_MANY || /ECONNREFUSED|ENOENT|ECONNRESET|EPIPE/.test(e.code ?? e.message) || /connection closed/.test(e.message);
        if (!gone && !refused) unexpected.push(`${name}: ${e.message}`);
      } finally {
        busy--;
      }
      await sleep(rand(everyMs[0], everyMs[1]));
    }
  }

  const attacks = [
    loop('kill-client-mid-frame', [800, 1600], async () => {
      const s = await rawConnect();
      const stream = attackId();
      s.write(hello);
      s.write(encodeMessage(msg.configure(2, config(stream))));
      await sleep(rand(200, 600));
      for (let i = 0; i < 2; i++) { s.write(encodeMessage(msg.frame(3 + i, { stream, seq: i, t: 0 }, frames[i]))); await sleep(33); }
      const whole = encodeMessage(msg.frame(9, { stream, seq: 9, t: 0 }, frames[3]));
      s.write(whole.subarray(0, HEADER_SIZE + Math.floor((whole.length - HEADER_SIZE) * Math.random())));
      s.destroy();
      faults['kill-client-mid-frame']++;
    }),
    loop('abandon-connection', [500, 1200], async () => {
      const s = await rawConnect();
      const kind = Math.floor(Math.random() * 3);
      if (kind === 1) s.write(hello.subarray(0, 1 + Math.floor(Math.random() * (HEADER_SIZE - 1))));
      if (kind === 2) s.write(hello);
      faults['abandon-connection']++;
      setTimeout(() => (Math.random() < 0.5 ? s.destroy() : s.end()), rand(1000, 4000)).unref();
    }),
    loop('slow-reader', [3000, 6000], async () => {
      const c = await SocketClient.connect(sock);
      track(c.socket);
      await c.hello('slow-reader');
      await c.subscribe({ masks: true, contours: true });
      faults['slow-reader']++;
      c.socket.pause();
      const end = performance.now() + rand(4000, 10000);
      while (performance.now() < end && !paused && !stopping) {
        await sleep(1500);
        c.socket.resume();
        await sleep(20);
        c.socket.pause();
      }
      c.socket.destroy();
    }),
    loop('too-many-flood', [6000, 12000], async () => {
      const n = MAX_CLIENTS + 6;
      const life = lifeNo();
      const socks = await Promise.all(Array.from({ length: n }, () => rawConnect().catch(() => undefined)));
      let refused = 0;
      await Promise.all(socks.map((s) => s && new Promise<void>((resolve) => {
        const dec = new MessageDecoder();
        s.on('data', (d: Buffer) => {
          for (const ev of dec.push(d)) {
            if (ev.kind === 'message' && ev.message.header.type === MessageType.ERROR && parseError(ev.message.body).code === WireError.TOO_MANY) refused++;
          }
        });
        s.once('close', () => resolve());
        setTimeout(() => { s.destroy(); resolve(); }, 700).unref();
      })));
      faults['too-many-flood']++;
      // Only a runtime that was up throughout must have refused some (a stopped or restarting one answers nothing).
      const upThroughout = life === lifeNo() && hungLife !== life && socks.every((x) => x !== undefined) && sup.current?.readyAt !== undefined;
      if (refused === 0 && upThroughout) unexpected.push(`too-many-flood: ${n} connections at once and none refused with TOO_MANY`);
    }),
    loop('serial-unplug', [8000, 16000], async () => {
      unplugs.push(performance.now());
      await pty.unplug();
      faults['serial-unplug']++;
      await sleep(rand(500, 2000));
      await pty.plug();
      replugs.push({ at: performance.now(), life: lifeNo() });
    }),
    loop('model-storm', [2500, 5000], async () => {
      const c = await SocketClient.connect(sock);
      track(c.socket);
      try {
        await c.hello('model-storm');
        const kind = Math.floor(Math.random() * 4);
        const expectFail = async (what: FaultKind, op: Promise<unknown>) => {
          faults[what]++;
          try {
            await op;
            unexpected.push(`${what}: succeeded`);
          } catch (e) {
            if (!(e instanceof RemoteError) || e.wireCode !== WireError.MODEL_FAILED) throw e;
          }
        };
        if (kind === 0) {
          const id = `soak-${Math.random().toString(36).slice(2, 8)}-${lifeNo()}`;
          faults['model-load-good']++;
          await c.request((seq) => msg.loadModel(seq, { path: path.join(MODELS_DIR, 'view_quality'), id, task: 'view_quality' }), 30000);
          faults['model-swap-good']++;
          await c.request((seq) => msg.swap(seq, { id }), 30000);
        } else if (kind === 1) {
          await expectFail('model-load-bad', c.request((seq) => msg.loadModel(seq, { path: tampered, id: 'soak-tampered' }), 30000));
        } else if (kind === 2) {
          await expectFail('model-load-bad', c.request((seq) => msg.loadModel(seq, { path: path.join(MODELS_DIR, 'lv_segmentation'), id: 'soak-wrong-task', task: 'view_quality' }), 30000));
        } else {
          await expectFail('model-swap-bad', c.request((seq) => msg.swap(seq, { id: 'soak-no-such-model' }), 30000));
        }
      } catch (e) {
        if (e instanceof RemoteError) unexpected.push(`model-storm: ${e.message}`);
        else throw e;
      } finally {
        await c.close();
      }
    }),
  ];

  // --- the supervisor's faults ------------------------------------------------------
  // Short runs: the three restarts at a quarter, a half and three quarters. Long runs (10 min and more): at 2, 4 and
  // 6 minutes, so that the last life runs the rest of the soak (30 minutes of a 36-minute run) for the RSS slope and fds.
  const cycle = ['runtime-sigkill', 'runtime-hang', 'runtime-sigterm'] as const;
  const schedule = cycle.map((kind, i) => ({ kind, at: o.durationS >= 600 ? 120 * (i + 1) : (o.durationS * (i + 1)) / 4 }));
  sup.onExit = (life) => {
    const i = sup.lives.indexOf(life) + 1;
    if (!lifeCause.has(i)) lifeCause.set(i, `unexpected exit ${JSON.stringify(life.exit)}${life.killedBy ? ` (killed by the ${life.killedBy})` : ''}`);
  };
  const supervisorFaults = (async () => {
    for (const f of schedule) {
      while (elapsed() < f.at && !stopping) await sleep(100);
      if (stopping) return;
      const life = sup.current;
      if (!life || life.exit || life.readyAt === undefined) { await sup.ready(60000).catch(() => undefined); continue; }
      const i = sup.lives.length;
      faults[f.kind]++;
      log(`soak: ${elapsed().toFixed(0)} s: ${f.kind} (life ${i}, pid ${life.child.pid})`);
      if (f.kind === 'runtime-sigkill') { lifeCause.set(i, 'SIGKILL (injected)'); life.child.kill('SIGKILL'); }
      if (f.kind === 'runtime-hang') { lifeCause.set(i, 'hang (SIGSTOP injected), killed by the watchdog'); hungLife = i; life.child.kill('SIGSTOP'); }
      if (f.kind === 'runtime-sigterm') {
        lifeCause.set(i, 'SIGTERM (injected)');
        life.child.kill('SIGTERM');
      }
      await sleep(500);
      await sup.ready(60000).catch(() => undefined);
    }
  })();

  // --- samples ---------------------------------------------------------------------
  const rssTimer = setInterval(() => {
    const life = sup.current;
    if (!life || life.exit || life.readyAt === undefined || !life.child.pid) return;
    const s = procStats(life.child.pid);
    // A process on its way out has no VmRSS line: no sample.
    if (s && Number.isFinite(s.rssMb)) rss.push({ life: sup.lives.length, t: performance.now(), mb: s.rssMb });
  }, 2000);

  const liveClients = Array.from({ length: clients }, (_, k) => liveClient(k));
  const runEnd = t0 + o.durationS * 1000;
  while (performance.now() < runEnd) {
    await sleep(Math.min(roundS * 1000, runEnd - performance.now()));
    if (performance.now() >= runEnd - 1000) break;
    // Round end: the attacker pauses and lets go of everything; then the runtime's descriptors are counted.
    paused = true;
    const pauseEnd = performance.now() + 5000;
    while (busy > 0 && performance.now() < pauseEnd) await sleep(20);
    for (const s of attackSockets) s.destroy();
    if (!pty.plugged) await pty.plug().then(() => { replugs.push({ at: performance.now(), life: lifeNo() }); }, () => undefined);
    await sleep(1500);
    const life = sup.current;
    if (life && !life.exit && life.readyAt !== undefined && life.child.pid) {
      const before = sup.lives.length;
      const s = procStats(life.child.pid);
      const f = await metricsOf(metricsUrl).catch(() => undefined);
      const connected = f?.get('sonoedge_clients')?.[0]?.value;
      if (s && Number.isFinite(s.rssMb) && connected !== undefined && sup.lives.length === before) {
        fdSamples.push({ life: before, fds: s.fds - connected });
        log(`soak: ${elapsed().toFixed(0)} s: life ${before}: fds ${s.fds} (${connected} clients), RSS ${s.rssMb.toFixed(1)} MB; windows ${windows.filter((w) => w.ok).length} ok, ${windows.filter((w) => w.ok === false).length} lost, ${windows.filter((w) => w.ok === undefined).length} interrupted`);
      }
    }
    paused = false;
  }

  // --- the end ---------------------------------------------------------------------
  stopping = true;
  await Promise.all([...attacks, supervisorFaults, ...liveClients]);
  for (const s of attackSockets) s.destroy();
  clearInterval(rssTimer);
  await sup.ready(60000).catch(() => undefined);
  const lastIndex = sup.lives.length;
  lifeCause.set(lastIndex, 'SIGTERM (final stop)');
  const finalExit = await sup.stop();
  sup.kill();
  await pty.unplug();
  const endedAt = performance.now();
  const durationS = elapsed();

  // --- the report --------------------------------------------------------------------
  const logLines = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l) as { msg: string; pid: number; complete?: boolean }; } catch { return { msg: '', pid: 0 }; } });
  const lives: SoakReport['lives'] = sup.lives.map((life: Life, k) => {
    const index = k + 1;
    const samples = rss.filter((r) => r.life === index);
    const settled = samples.filter((r) => r.t - (life.readyAt ?? life.spawnedAt) > 60_000);
    const cause = lifeCause.get(index) ?? (life.exit ? `unexpected exit ${JSON.stringify(life.exit)}` : 'running');
    return {
      index,
      startedS: Math.round((life.spawnedAt - t0) / 100) / 10,
      readyMs: life.readyAt === undefined ? null : Math.round(life.readyAt - life.spawnedAt),
      endedS: life.exitedAt === undefined ? null : Math.round((life.exitedAt - t0) / 100) / 10,
      exit: life.exit ? (life.exit.signal ?? `code ${life.exit.code}`) : 'running',
      cause,
      heartbeats: pty.beats.filter((b) => b >= life.spawnedAt && b <= (life.exitedAt ?? Infinity)).length,
      fds: fdSamples.filter((f) => f.life === index).map((f) => f.fds),
      rssMb: {
        min: samples.length ? Math.round(Math.min(...samples.map((s) => s.mb))) : 0,
        max: samples.length ? Math.round(Math.max(...samples.map((s) => s.mb))) : 0,
        slopeMbPerMin: ((s) => (s === null ? null : Math.round(s * 100) / 100))(slope(settled)),
        samples: samples.length,
      },
    };
  });
  const completed = windows.filter((w) => w.ok !== undefined);
  const lost = completed.filter((w) => !w.ok);
  // A mismatched window counts the frames it cannot account for (at least one).
  const resultsLost = lost.reduce((a, w) => a + Math.max(1, w.sent - w.received - (w.dropped ?? 0) - (w.failed ?? 0)), 0);
  const interrupted = windows.filter((w) => w.ok === undefined);
  const cutOtherwise = interrupted.filter((w) => w.why !== 'interrupted: the runtime restarted');
  const fdGrowth = lives.map((l) => (l.fds.length >= 2 ? l.fds[l.fds.length - 1] - l.fds[0] : 0));
  const longest = [...lives].filter((l) => l.rssMb.slopeMbPerMin !== null).sort((a, b) => b.rssMb.samples - a.rssMb.samples)[0];
  const rssMaxMb = Math.max(0, ...lives.map((l) => l.rssMb.max));
  const exitsOk = sup.lives.every((life, k) => {
    const cause = lifeCause.get(k + 1) ?? '';
    if (!life.exit) return false;
    if (cause.startsWith('SIGKILL')) return life.exit.signal === 'SIGKILL';
    if (cause.startsWith('hang')) return life.exit.signal === 'SIGKILL' && life.killedBy === 'watchdog';
    if (cause.startsWith('SIGTERM')) return life.exit.code === 0;
    return false;
  });
  const terms = sup.lives.map((l, k) => ({ l, k, cause: lifeCause.get(k + 1) ?? '' })).filter((x) => x.cause.startsWith('SIGTERM'));
  const stoppedLines = logLines.filter((l) => l.msg === 'runtime stopped');
  const cleanStops = terms.filter(({ l }) => l.exit?.code === 0 && stoppedLines.some((s) => s.pid === l.child.pid && s.complete === true));
  const framesSent = windows.reduce((a, w) => a + w.sent, 0);
  const resultsReceived = windows.reduce((a, w) => a + w.received, 0);
  const heartbeatBack = lives.filter((l) => l.readyMs !== null).every((l) => l.heartbeats > 0);
  // After each replug the runtime reopens its port (backoff 250 ms doubling to 5 s) and the heartbeat comes back:
  // a heartbeat within REPLUG_BEAT_MS, before anything else happened (the life's end, the next unplug, the soak's end),
  // passes; none, with nothing else happening in REPLUG_BEAT_MS, fails; the rest is not judged.
  const replugOutcomes = replugs.map((r) => {
    const life = sup.lives[r.life - 1];
    const disrupted = Math.min(life?.exitedAt ?? Infinity, unplugs.find((u) => u > r.at) ?? Infinity, endedAt);
    const beat = pty.beats.find((x) => x > r.at);
    if (beat !== undefined && beat - r.at <= REPLUG_BEAT_MS && beat < disrupted) return { judged: true, ms: beat - r.at };
    const clean = life !== undefined && life.readyAt !== undefined && life.readyAt <= r.at && disrupted > r.at + REPLUG_BEAT_MS;
    return { judged: clean, ms: Infinity };
  });
  const judged = replugOutcomes.filter((o) => o.judged);
  const beatDelays = judged.map((o) => o.ms);
  const replugsMissed = beatDelays.filter((d) => d > REPLUG_BEAT_MS).length;
  const finite = beatDelays.filter((d) => d <= REPLUG_BEAT_MS).sort((a, b) => a - b);
  const verdict = [
    { name: 'results lost', ok: resultsLost === 0 && completed.length >= clients, detail: `${resultsLost} lost over ${completed.length} completed windows (${lost.length} with a mismatch${lost.length ? `: ${lost.slice(0, 3).map((w) => w.why).join('; ')}` : ''}); ${interrupted.length} cut short by runtime restarts` },
    {
      name: 'live connections kept',
      ok: cutOtherwise.length === 0,
      detail: cutOtherwise.length === 0 ? `no window cut short but by a runtime restart (${interrupted.length} were)` : `${cutOtherwise.length} windows cut short on a live runtime: ${[...new Set(cutOtherwise.map((w) => w.why))].join('; ')}`,
    },
    { name: 'fd growth', ok: fdGrowth.every((g) => g <= 2), detail: `per life, last minus first sample of (descriptors - connected clients): ${fdGrowth.join(', ')}` },
    {
      name: 'RSS bounded',
      ok: rssMaxMb > 0 && rssMaxMb <= rssBoundMb && (!longest || longest.rssMb.samples * 2 < 600 || (longest.rssMb.slopeMbPerMin ?? 0) <= rssSlopeMax),
      detail: `max ${rssMaxMb} MB (bound ${rssBoundMb} MB); slope ${longest ? `${longest.rssMb.slopeMbPerMin} MB/min over life ${longest.index} (${(longest.rssMb.samples * 2 / 60).toFixed(1)} min of samples; bound ${rssSlopeMax} MB/min from 10 min on)` : 'not measured (lives shorter than a minute after warm-up)'}`,
    },
    { name: 'no abort', ok: exitsOk, detail: sup.lives.map((l, k) => `life ${k + 1}: ${lifeCause.get(k + 1) ?? '?'} -> ${l.exit ? (l.exit.signal ?? `exit ${l.exit.code}`) : 'running'}`).join('; ') },
    { name: 'clean shutdowns', ok: cleanStops.length === terms.length && finalExit?.code === 0, detail: `${cleanStops.length} of ${terms.length} SIGTERM stops exited 0 with "runtime stopped" complete: true` },
    { name: 'attacks as expected', ok: unexpected.length === 0, detail: unexpected.length === 0 ? 'every attack had the expected outcome' : unexpected.slice(0, 5).join('; ') },
    { name: 'heartbeat back after each restart', ok: heartbeatBack, detail: lives.map((l) => `life ${l.index}: ${l.heartbeats}`).join(', ') },
    {
      name: 'heartbeat back after each serial replug',
      ok: replugsMissed === 0,
      detail: `${judged.length - replugsMissed} of ${judged.length} replugs heard from within ${REPLUG_BEAT_MS / 1000} s`
        + `${finite.length ? ` (median ${Math.round(finite[Math.floor(finite.length / 2)])} ms, max ${Math.round(finite.at(-1)!)} ms)` : ''}`
        + `; ${replugs.length - judged.length} not judged (a restart, the next unplug or the end within ${REPLUG_BEAT_MS / 1000} s)`,
    },
  ];
  const report: SoakReport = {
    durationS: Math.round(durationS),
    clients,
    fps,
    load: {
      framesSent, resultsReceived, framesPerSecond: Math.round((framesSent / durationS) * 10) / 10, resultsPerSecond: Math.round((resultsReceived / durationS) * 10) / 10,
      droppedInAccounted: completed.reduce((a, w) => a + (w.dropped ?? 0), 0), failedInAccounted: completed.reduce((a, w) => a + (w.failed ?? 0), 0),
    },
    faults,
    unexpected,
    windows: {
      completed: completed.length, interrupted: interrupted.length, framesSentInInterrupted: interrupted.reduce((a, w) => a + w.sent, 0), refusedStarts,
      interruptedBy: interrupted.reduce<Record<string, number>>((a, w) => { const k = (w.why ?? '').replace(/^interrupted: /, '').replace(/\d+/g, 'N'); a[k] = (a[k] ?? 0) + 1; return a; }, {}),
    },
    resultsLost,
    lossDetails: lost,
    lives,
    rssMaxMb,
    rssSlopeMbPerMin: longest?.rssMb.slopeMbPerMin ?? null,
    fdGrowthMax: Math.max(0, ...fdGrowth),
    verdict,
    ok: verdict.every((v) => v.ok),
  };
  rmSync(dir, { recursive: true, force: true });
  return report;
}

export function renderReport(r: SoakReport): string {
  const lines = [
    `sonoedge chaos soak: ${r.durationS} s, ${r.clients} clients at ${r.fps} fps: ${r.ok ? 'PASS' : 'FAIL'}`,
    `load held: ${r.load.framesSent} frames sent (${r.load.framesPerSecond}/s), ${r.load.resultsReceived} results received (${r.load.resultsPerSecond}/s); in the accounted windows ${r.load.droppedInAccounted} dropped (latest frame wins), ${r.load.failedInAccounted} failed`,
    `faults injected: ${Object.entries(r.faults).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `windows: ${r.windows.completed} accounted, ${r.windows.interrupted} cut short (${Object.entries(r.windows.interruptedBy).map(([k, v]) => `${k}: ${v}`).join(', ') || '-'}; ${r.windows.framesSentInInterrupted} frames sent in them); ${r.windows.refusedStarts} live-client connections refused or cut before their first frame (retried)`,
    `results lost: ${r.resultsLost}`,
    `RSS: max ${r.rssMaxMb} MB, slope ${r.rssSlopeMbPerMin ?? '-'} MB/min; fd growth max ${r.fdGrowthMax}`,
    'lives:',
    ...r.lives.map((l) => `  ${l.index}: started ${l.startedS} s, ready after ${l.readyMs ?? '-'} ms, ended ${l.endedS ?? '-'} s by ${l.cause} (${l.exit}); heartbeats ${l.heartbeats}; fds ${l.fds.join(' ') || '-'}; RSS ${l.rssMb.min}-${l.rssMb.max} MB, slope ${l.rssMb.slopeMbPerMin ?? '-'} MB/min`),
    'verdict:',
    ...r.verdict.map((v) => `  ${v.ok ? 'ok  ' : 'FAIL'} ${v.name}: ${v.detail}`),
  ];
  return `${lines.join('\n')}\n`;
}

function junit(r: SoakReport): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  const cases = r.verdict.map((v) => `  <testcase classname="soak" name="${esc(v.name)}">${v.ok ? '' : `<failure message="${esc(v.detail)}"/>`}</testcase>`);
  return `<testsuite name="soak" tests="${r.verdict.length}" failures="${r.verdict.filter((v) => !v.ok).length}">\n${cases.join('\n')}\n</testsuite>\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({ options: { minutes: { type: 'string' }, seconds: { type: 'string' }, clients: { type: 'string' }, json: { type: 'string' }, junit: { type: 'string' }, round: { type: 'string' }, cli: { type: 'string' } } });
  const seconds = values.seconds !== undefined ? Number(values.seconds) : Number(values.minutes ?? 36) * 60;
  if (!(seconds >= 20)) {
    process.stderr.write(`soak: expects --minutes or --seconds of at least 20 s but received ${JSON.stringify(values.seconds ?? values.minutes)}\n`);
    process.exit(2);
  }
  const report = await runSoak({
    durationS: seconds,
    ...(values.clients ? { clients: Number(values.clients) } : {}),
    ...(values.cli ? { cli: path.resolve(values.cli) } : {}),
    ...(values.round ? { roundS: Number(values.round) } : seconds < 300 ? { roundS: 10 } : {}),
  });
  process.stdout.write(renderReport(report));
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  if (values.junit) writeFileSync(values.junit, junit(report));
  process.stdout.write(`${report.verdict.filter((v) => v.ok).length} passed, ${report.verdict.filter((v) => !v.ok).length} failed\n`);
  process.exit(report.ok ? 0 : 1);
}
