// `sonoedge status`: what a running `serve` is doing, read from its metrics
// endpoint (GET /metrics, the Prometheus text format prom-client writes): state,
// clients, the running models with their sha256, per-stream frames in, out,
// dropped and failed with latency, the in-distribution state, errors by code,
// RSS, event-loop delay, the watchdog, the serial link and the PACS outbox. When
// the outbox's last try failed, why is read from the same server's GET /health
// (outbox.lastError and its code, outbox.lastErrorCode: /metrics has only the
// 0 or 1). Exit 0 when the
// runtime is ready or running (whether or not its serial device is there),
// 1 when it is not or cannot be reached.
//
// The exposition is read by the few lines of parseExposition below, not by a
// package: parse-prometheus-text-format (the one on the registry) drops the
// labels, _sum and _count of labelled histograms, which is what prom-client
// writes for the per-stream latency.
import { loadServeConfig } from '../config/index.js';
import { coded, type ErrorCode } from '../errors.js';
import { commandHelp, numberFlag, parseCommandArgs, UsageError, type CommandSpec, type ParsedArgs } from './args.js';

export const SPEC: CommandSpec = {
  name: 'status',
  summary: 'a running serve\'s state, models, streams, latency, errors and memory, from its metrics endpoint',
  usage: '(--config FILE | --port N | --url URL) [--json]',
  flags: {
    config: { type: 'string', value: 'FILE', help: 'the serve config: its metrics.host and metrics.port' },
    port: { type: 'string', value: 'N', help: 'the metrics port on 127.0.0.1' },
    url: { type: 'string', value: 'URL', help: 'the metrics URL (http://127.0.0.1:9464/metrics)' },
    json: { type: 'boolean', help: 'one JSON object instead of the table' },
    timeout: { type: 'string', value: 'MS', help: 'how long to wait for the endpoint (default 2000)' },
  },
};

/** One sample line: `name{label="value",...} number`. */
export interface Sample { name: string; labels: Record<string, string>; value: number }

/** What status's refusals carry: no endpoint answering, an exposition that is not one. */
const STATUS: ErrorCode = 'ERR_SONOEDGE_STATUS';

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/y;

/**
 * The samples of a Prometheus text exposition (version 0.0.4), by metric name; comment lines are skipped.
 * A line that is not a sample is an Error naming it (ERR_SONOEDGE_STATUS).
 */
export function parseExposition(text: string): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    const labels: Record<string, string> = {};
    let ok = m !== null;
    if (m?.[2]) {
      LABEL.lastIndex = 0;
      let at = 0;
      for (let l = LABEL.exec(m[2]); l !== null; l = LABEL.exec(m[2])) {
        labels[l[1]] = l[2].replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
        at = LABEL.lastIndex;
      }
      ok = at === m[2].length;
    }
    // prom-client writes NaN as "Nan" (a gauge with no samples yet, such as the event-loop lag right after start):
    // NaN and Inf are read whatever their case, as Prometheus itself reads them.
    const nan = m !== null && /^nan$/i.test(m[3]);
    const value = m ? Number(m[3].replace(/^\+?inf$/i, 'Infinity').replace(/^-inf$/i, '-Infinity')) : NaN;
    if (!ok || Number.isNaN(value) && !nan) {
      throw coded(new Error(`Expected Prometheus sample lines (name{labels} value) but received line ${i + 1}: ${JSON.stringify(line.slice(0, 120))}`), STATUS);
    }
    const list = out.get(m![1]) ?? [];
    list.push({ name: m![1], labels, value });
    out.set(m![1], list);
  }
  return out;
}

export interface StreamStatus {
  stream: number;
  framesIn: number;
  framesOut: number;
  framesDropped: number;
  framesFailed: number;
  state: string | null;
  latencyMeanMs: number | null;
  /** The upper bound of the histogram bucket holding the 99th percentile. */
  latencyP99Ms: number | null;
}

export interface Status {
  url: string;
  state: string | null;
  clients: number;
  models: { task: string; id: string; variant: string; sha256: string }[];
  streams: StreamStatus[];
  errors: Record<string, number>;
  rssBytes: number | null;
  eventLoopDelayP99Ms: number | null;
  watchdog: { healthy: boolean; fed: number } | null;
  /** The serial link: null when serve has none. */
  serial: { up: boolean; losses: number; reopens: number } | null;
  /**
   * The PACS outbox (dicom.pacs): objects pending (held ones included), held back (their move tried again every heldRetryMs), stored, moved to
   * failed/ since serve started (failed), in failed/ now (inFailed: an earlier run's too, until an operator removes them;
   * 0 from a serve before sonoedge_pacs_outbox_in_failed), failed tries; whether the last try failed, and why: /health's
   * outbox.lastError and lastErrorCode
   * (ERR_SONOEDGE_PACS, EISDIR...; each null when the last try did not fail, or /health did not say). null when serve
   * sends to no PACS.
   */
  outbox: { pending: number; held: number; sent: number; failed: number; inFailed: number; retries: number; lastTryFailed: boolean; lastError: string | null; lastErrorCode: string | null } | null;
}

export async function status(args: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(SPEC, args);
  if (help) {
    process.stdout.write(commandHelp(SPEC));
    return 0;
  }
  const url = await metricsUrl(values);
  const timeout = numberFlag(values, 'timeout', 2000, { min: 1, integer: true });
  let text: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeout) });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    text = await res.text();
  } catch (err) {
    const e = err as Error & { cause?: Error };
    process.stderr.write(`sonoedge status: [${STATUS}] Expected a sonoedge metrics endpoint at ${url} but received ${e.cause?.message ?? e.message} (is serve running with metrics on?)\n`);
    return 1;
  }
  const samples = parseExposition(text);
  // /metrics says only that the last try failed; why is /health's outbox.lastError, on the same server. Read only then,
  // and never fatal: without it the line says that the try failed, not why.
  const health = samples.get('sonoedge_pacs_outbox_last_try_failed')?.[0]?.value === 1 ? await readHealth(url, timeout) : undefined;
  const s = summarise(url, samples, health);
  process.stdout.write(values.json ? `${JSON.stringify(s)}\n` : render(s));
  return s.state === 'ready' || s.state === 'running' ? 0 : 1;
}

/** The JSON of GET /health beside the metrics URL (http://host:port/metrics -> http://host:port/health), any HTTP status (503 while not ready); undefined when it cannot be read. */
async function readHealth(metrics: string, timeout: number): Promise<unknown> {
  try {
    const res = await fetch(new URL('health', metrics), { signal: AbortSignal.timeout(timeout) });
    return await res.json() as unknown;
  } catch {
    return undefined;
  }
}

async function metricsUrl(values: ParsedArgs['values']): Promise<string> {
  const given = ['config', 'port', 'url'].filter((k) => values[k] !== undefined);
  if (given.length !== 1) throw new UsageError(`expects one of --config FILE, --port N or --url URL but received ${given.length === 0 ? 'none' : given.map((k) => `--${k}`).join(' and ')}`);
  if (typeof values.url === 'string') {
    let u: URL;
    try {
      u = new URL(values.url);
    } catch {
      throw new UsageError(`option --url expects an http:// URL but received ${JSON.stringify(values.url)}`);
    }
    if (u.protocol !== 'http:') throw new UsageError(`option --url expects an http:// URL but received ${JSON.stringify(values.url)}`);
    return u.href;
  }
  if (values.port !== undefined) return `http://127.0.0.1:${numberFlag(values, 'port', 0, { min: 1, max: 65535, integer: true })}/metrics`;
  const config = await loadServeConfig(values.config as string);
  if (!config.metrics) throw new UsageError(`${values.config as string} has no metrics section: serve runs without a metrics endpoint (docs/DEPLOYMENT.md, "Metrics and health")`);
  const host = config.metrics.host === '::1' ? '[::1]' : config.metrics.host;
  return `http://${host}:${config.metrics.port}/metrics`;
}

/** The figures `status` shows, from the parsed exposition and (for the outbox's last error) /health's JSON. */
export function summarise(url: string, samples: Map<string, Sample[]>, health?: unknown): Status {
  const all = (name: string): Sample[] => samples.get(name) ?? [];
  const one = (name: string): number | null => all(name)[0]?.value ?? null;
  const state = all('sonoedge_runtime_state').find((m) => m.value === 1)?.labels.state ?? null;
  const byStream = new Map<number, StreamStatus>();
  const stream = (id: string): StreamStatus => {
    const n = Number(id);
    let s = byStream.get(n);
    if (!s) {
      s = { stream: n, framesIn: 0, framesOut: 0, framesDropped: 0, framesFailed: 0, state: null, latencyMeanMs: null, latencyP99Ms: null };
      byStream.set(n, s);
    }
    return s;
  };
  const counts = { sonoedge_frames_in_total: 'framesIn', sonoedge_frames_out_total: 'framesOut', sonoedge_frames_dropped_total: 'framesDropped', sonoedge_frames_failed_total: 'framesFailed' } as const;
  for (const [name, key] of Object.entries(counts)) {
    for (const m of all(name)) if (m.labels.stream !== undefined) stream(m.labels.stream)[key] = m.value;
  }
  for (const m of all('sonoedge_stream_state')) if (m.labels.stream !== undefined && m.value === 1) stream(m.labels.stream).state = m.labels.state ?? null;
  for (const m of all('sonoedge_frame_latency_seconds_count')) {
    const id = m.labels.stream;
    if (id === undefined || m.value === 0) continue;
    const s = stream(id);
    const count = m.value;
    const sum = all('sonoedge_frame_latency_seconds_sum').find((x) => x.labels.stream === id)?.value ?? NaN;
    s.latencyMeanMs = round2((sum / count) * 1000);
    const bounds = all('sonoedge_frame_latency_seconds_bucket').filter((x) => x.labels.stream === id)
      .map((x) => [x.labels.le === '+Inf' ? Infinity : Number(x.labels.le), x.value] as const).sort((a, b) => a[0] - b[0]);
    const at = bounds.find(([, c]) => c >= 0.99 * count);
    s.latencyP99Ms = at === undefined || at[0] === Infinity ? null : round2(at[0] * 1000);
  }
  const errors: Record<string, number> = {};
  for (const m of all('sonoedge_errors_total')) if (m.labels.code) errors[m.labels.code] = m.value;
  const healthy = one('sonoedge_watchdog_healthy');
  const lag = one('nodejs_eventloop_lag_p99_seconds');
  const serialUp = one('sonoedge_serial_link_up');
  const outboxPending = one('sonoedge_pacs_outbox_pending');
  const lastTryFailed = one('sonoedge_pacs_outbox_last_try_failed') === 1;
  const told = (health as { outbox?: { lastError?: unknown; lastErrorCode?: unknown } } | null | undefined)?.outbox;
  const lastError = lastTryFailed && typeof told?.lastError === 'string' ? told.lastError : null;
  return {
    url,
    state,
    clients: one('sonoedge_clients') ?? 0,
    models: all('sonoedge_model_info').map((m) => ({ task: m.labels.task ?? '', id: m.labels.id ?? '', variant: m.labels.variant ?? '', sha256: m.labels.sha256 ?? '' })),
    streams: [...byStream.values()].sort((a, b) => a.stream - b.stream),
    errors,
    rssBytes: one('process_resident_memory_bytes'),
    eventLoopDelayP99Ms: lag === null ? null : round2(lag * 1000),
    watchdog: healthy === null || healthy < 0 ? null : { healthy: healthy === 1, fed: one('sonoedge_watchdog_fed_total') ?? 0 },
    serial: serialUp === null ? null
      : { up: serialUp === 1, losses: one('sonoedge_serial_link_losses_total') ?? 0, reopens: one('sonoedge_serial_reopens_total') ?? 0 },
    outbox: outboxPending === null ? null : {
      pending: outboxPending,
      held: one('sonoedge_pacs_outbox_held') ?? 0,
      sent: one('sonoedge_pacs_outbox_sent_total') ?? 0,
      failed: one('sonoedge_pacs_outbox_failed_total') ?? 0,
      inFailed: one('sonoedge_pacs_outbox_in_failed') ?? 0,
      retries: one('sonoedge_pacs_outbox_retries_total') ?? 0,
      lastTryFailed,
      lastError,
      // Only beside its message (a /health of a serve before lastErrorCode has the message alone).
      lastErrorCode: lastError !== null && typeof told?.lastErrorCode === 'string' ? told.lastErrorCode : null,
    },
  };
}

const round2 = (v: number): number => Math.round(v * 100) / 100;
const dash = (v: number | null, unit = ''): string => (v === null ? '-' : `${v}${unit}`);

/**
 * `pacs outbox: 2 pending (1 held back, move retried), 5 sent, 0 to failed/ (3 in failed/ now), retried 3 times; the last try failed,
 * retrying: [ERR_SONOEDGE_PACS] Expected the PACS ...` (the error when /health told it, its code as the CLI prints
 * every error's).
 */
function outboxLine(o: NonNullable<Status['outbox']>): string {
  const why = o.lastError === null ? '' : `: ${o.lastErrorCode === null ? '' : `[${o.lastErrorCode}] `}${o.lastError}`;
  return `pacs outbox: ${o.pending} pending${o.held === 0 ? '' : ` (${o.held} held back, move retried)`}, ${o.sent} sent, ${o.failed} to failed/ (${o.inFailed} in failed/ now), `
    + `retried ${o.retries} times${o.lastTryFailed ? `; the last try failed, retrying${why}` : ''}`;
}

/** The table `status` prints (without --json). */
export function render(s: Status): string {
  const lines = [
    `sonoedge at ${s.url}: ${s.state ?? 'unknown state'}, ${s.clients} client${s.clients === 1 ? '' : 's'}, `
      + `RSS ${s.rssBytes === null ? '-' : `${(s.rssBytes / 1048576).toFixed(1)} MB`}, event-loop delay p99 ${dash(s.eventLoopDelayP99Ms, ' ms')}, `
      + `watchdog ${s.watchdog === null ? 'off' : `${s.watchdog.healthy ? 'fed' : 'NOT FED (pipeline stalled)'}, ${s.watchdog.fed} feeds`}`,
    ...s.models.map((m) => `model ${m.task}: ${m.id} (${m.variant}, sha256 ${m.sha256})`),
    ...(s.serial === null ? [] : [`serial link ${s.serial.up ? 'up' : 'DOWN (device away, reopening)'}; lost ${s.serial.losses}, reopened ${s.serial.reopens} times`]),
    ...(s.outbox === null ? [] : [outboxLine(s.outbox)]),
  ];
  if (s.streams.length > 0) {
    const head = ['stream', 'in', 'out', 'dropped', 'failed', 'state', 'mean ms', 'p99 ms <='];
    const rows = s.streams.map((x) => [x.stream, x.framesIn, x.framesOut, x.framesDropped, x.framesFailed, x.state ?? '-', dash(x.latencyMeanMs), dash(x.latencyP99Ms)].map(String));
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const r of [head, ...rows]) lines.push(r.map((c, i) => c.padStart(widths[i])).join('  '));
  } else {
    lines.push('no streams yet');
  }
  const errs = Object.entries(s.errors);
  lines.push(`errors sent: ${errs.length === 0 ? 'none' : errs.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}
