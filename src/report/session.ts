// The report of a run of the pipeline over a cine (the demo, replay): frames
// with the LV outline and the in-distribution state, LV area, quality, the
// in-distribution score and EF with its interval over frames, latency per
// frame and per stage. Callers map their results (pipeline results, socket RESULTs) to
// SessionRecords; this module turns them into a report folder.
import type { Cine } from '../io/types.js';
import { MIN_LV_PIXELS, type LvSkip } from '../pipeline/index.js';
import { median } from '../pipeline/postprocess.js';
import { PERCENTILE_METHOD, summarize } from '../util/stats.js';
import { writeReport, type ReportFrame } from './html.js';
import { lineChart } from './svg.js';

export interface SessionRecord {
  /** The frame's sequence number (x axis), and its index into cine.frames. */
  seq: number;
  frame: number;
  view: string | null;
  quality: number | null;
  lvAreaMm2: number | null;
  ef: number | null;
  /** The EF's 95% interval, when there is an EF. */
  efCi?: [number, number] | null;
  /** The in-distribution state shown for this frame, and the (smoothed) score; null without a score. */
  state: 'ok' | 'uncertain' | 'unknown';
  idScore: number | null;
  /** LV outline in frame pixels, x0,y0,x1,y1,... */
  contour?: number[];
  /** From receipt to result, and per stage (ms). */
  totalMs: number;
  stages: Record<string, number>;
  /** More latencies to plot and tabulate beside total (for example the client's round trip). */
  extra?: Record<string, number>;
}

export interface SessionReport {
  title: string;
  subtitle: string;
  summary: [string, string][];
  cine: Cine;
  records: SessionRecord[];
  /** How many frames to show (default 16): the last ones, or evenly spread over the run. */
  frames?: number;
  spread?: boolean;
}

const gray = (cine: Cine, f: Uint8Array): Uint8Array => {
  if (cine.format === 'GRAY8') return f;
  const g = new Uint8Array(cine.width * cine.height);
  for (let i = 0; i < g.length; i++) g[i] = Math.round(0.299 * f[3 * i] + 0.587 * f[3 * i + 1] + 0.114 * f[3 * i + 2]);
  return g;
};

/** The keys of every record's stages (or extras), in first-seen order. */
const keysOf = (records: readonly SessionRecord[], pick: (r: SessionRecord) => Record<string, number> | undefined): string[] =>
  [...new Set(records.flatMap((r) => Object.keys(pick(r) ?? {})))];

/**
 * How many frames were in each in-distribution state, and the score: "ok 30, uncertain 2, unknown 0 (in-distribution
 * score mean 0.93, min 0.41)", or "(no in-distribution score: the view model has none, so nothing abstains)".
 */
export function stateSummary(records: readonly Pick<SessionRecord, 'state' | 'idScore'>[]): string {
  const n = { ok: 0, uncertain: 0, unknown: 0 };
  for (const r of records) n[r.state]++;
  const scores = records.flatMap((r) => (r.idScore === null ? [] : [r.idScore]));
  const score = scores.length === 0 ? 'no in-distribution score: the view model has none, so nothing abstains'
    : `in-distribution score mean ${(scores.reduce((a, b) => a + b, 0) / scores.length).toFixed(2)}, min ${Math.min(...scores).toFixed(2)}`;
  return `ok ${n.ok}, uncertain ${n.uncertain}, unknown ${n.unknown} (${score})`;
}

/** What noEfText reads of a frame's result (src/pipeline's PipelineResult has these). */
export interface NoEfFrame {
  state: 'ok' | 'uncertain' | 'unknown';
  quality: { smoothed: number };
  lv?: { pixels: number };
  lvRejected?: unknown;
  lvSkipped?: LvSkip;
  ef?: { valid: boolean; reason?: string };
}

/** The words for each reason segmentation did not run (PipelineResult.lvSkipped), in the order they are listed. */
const SKIPPED: readonly [LvSkip, string][] = [
  ['quality', 'with the smoothed quality under the segmentation bar'],
  ['quality_not_a_number', 'with a quality output that is not a number'],
  ['view', 'shown as a view it does not run on'],
  ['view_not_a_number', 'with a view output that is not a number'],
  ['unknown', 'in state unknown'],
  ['stride', 'between segmented frames (segmentationStride)'],
];

/**
 * Why a run of frames gave no EF, for a summary line, from what the pipeline says of each frame: "EF n/a (an LV on 0
 * of 30 frames: 30 with the smoothed quality under the segmentation bar 0.5, median 0.25)". An LV counts when its mask
 * has at least MIN_LV_PIXELS pixels (what the EF window measures). Frames segmentation did not run on are counted by their
 * `lvSkipped` reason, frames whose LV was withheld by their `lvRejected` code (across the beam, a heart read as
 * mirrored); with LVs drawn, the EF window's last reason
 * follows (or, when the run ended in state unknown, that). `segmentation` false: the models have no LV package.
 */
export function noEfText(frames: readonly NoEfFrame[], opts: { segmentation: boolean; views: readonly string[]; bar: number }): string {
  if (!opts.segmentation) return 'EF n/a (no LV segmentation package)';
  const lv = frames.filter((f) => (f.lv?.pixels ?? 0) >= MIN_LV_PIXELS).length;
  const head = `EF n/a (an LV on ${lv} of ${frames.length} frame${frames.length === 1 ? '' : 's'}`;
  if (lv > 0) {
    const last = frames[frames.length - 1];
    const reason = last?.state === 'unknown' ? 'the in-distribution state is unknown'
      : [...frames].reverse().find((f) => f.ef && !f.ef.valid && f.ef.reason)?.ef?.reason;
    return `${head}${reason ? `; the EF window: ${reason}` : ''})`;
  }
  const parts = SKIPPED.flatMap(([reason, text]) => {
    const skipped = frames.filter((f) => f.lvSkipped === reason);
    if (skipped.length === 0) return [];
    const n = skipped.length;
    if (reason === 'view') return [`${n} ${text} (${opts.views.join(', ')} only)`];
    if (reason !== 'quality') return [`${n} ${text}`];
    return [`${n} ${text} ${+opts.bar.toFixed(3)}, median ${median(skipped.map((f) => f.quality.smoothed)).toFixed(2)}`];
  });
  const across = rejectedCount(frames, 'LV_ACROSS_BEAM');
  if (across > 0) parts.push(`${across} with the LV across the beam`);
  const mirrored = rejectedCount(frames, 'LV_MIRRORED');
  if (mirrored > 0) parts.push(`${mirrored} read as a four-chamber heart mirrored`);
  const empty = frames.filter((f) => f.lv !== undefined && f.lv.pixels < MIN_LV_PIXELS).length;
  if (empty > 0) parts.push(`${empty} segmented with no LV found`);
  return `${head}${parts.length ? `: ${parts.join('; ')}` : ''})`;
}

/** The frames whose LV was withheld with this `lvRejected` code (LV_ACROSS_BEAM, LV_MIRRORED). */
export function rejectedCount(frames: readonly { lvRejected?: unknown }[], code: string): number {
  return frames.filter((f) => (f.lvRejected as { code?: string } | undefined)?.code === code).length;
}

/** "65.0% (95% CI 63.0-67.0, 4 beats, low quality)", for an EF and what is known of it. */
export function efText(ef: number, ci: [number, number] | null | undefined, more: { beats?: number; lowQuality?: boolean } = {}): string {
  const parts = [
    ...(ci ? [`95% CI ${ci[0].toFixed(1)}-${ci[1].toFixed(1)}`] : []),
    ...(more.beats !== undefined ? [`${more.beats} beat${more.beats === 1 ? '' : 's'}`] : []),
    ...(more.lowQuality ? ['low quality'] : []),
  ];
  return `${ef.toFixed(1)}%${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/** Latency rows (stage, frames, p50, p90, p99, max) for total, every extra and every stage, in first-seen order. */
export function latencyTable(records: readonly SessionRecord[]): { header: string[]; rows: (string | number)[][] } {
  const header = ['stage', 'frames', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'];
  const row = (name: string, xs: number[]): (string | number)[] => {
    const s = summarize(xs);
    return [name, xs.length, s.median.toFixed(2), s.p90.toFixed(2), s.p99.toFixed(2), s.max.toFixed(2)];
  };
  if (records.length === 0) return { header, rows: [] };
  const stages = keysOf(records, (r) => r.stages);
  const extras = keysOf(records, (r) => r.extra);
  const pick = (get: (r: SessionRecord) => number | undefined) => records.flatMap((r) => { const v = get(r); return v === undefined ? [] : [v]; });
  return {
    header,
    rows: [
      ...stages.map((s) => row(s, pick((r) => r.stages[s]))),
      row('total (runtime)', records.map((r) => r.totalMs)),
      ...extras.map((e) => row(e, pick((r) => r.extra?.[e]))),
    ],
  };
}

export async function writeSessionReport(dir: string, s: SessionReport): Promise<string> {
  const seqs = s.records.map((r) => r.seq);
  const limit = s.frames ?? 16;
  const step = Math.max(1, Math.ceil(s.records.length / limit));
  const shown = s.spread ? s.records.filter((_, i) => i % step === 0) : s.records.slice(-limit);
  const frames: ReportFrame[] = shown.map((r) => ({
    seq: r.seq,
    width: s.cine.width,
    height: s.cine.height,
    gray: gray(s.cine, s.cine.frames[r.frame]),
    // Contours hold pixel centres; in the report pixel i spans [i, i+1].
    ...(r.contour && r.contour.length >= 6 ? { contour: r.contour.map((v) => v + 0.5) } : {}),
    caption: `#${r.seq} ${r.view ?? '-'} ${r.state}${r.idScore !== null ? ` (id ${r.idScore.toFixed(2)})` : ''} q ${r.quality?.toFixed(2) ?? '-'}`
      + `${r.lvAreaMm2 !== null ? `, LV ${Math.round(r.lvAreaMm2)} mm2` : ''}${r.ef !== null ? `, EF ${efText(r.ef, r.efCi)}` : ''}`,
  }));
  const extras = keysOf(s.records, (r) => r.extra);
  const stages = keysOf(s.records, (r) => r.stages);
  const table = latencyTable(s.records);
  return writeReport(dir, {
    title: s.title,
    subtitle: s.subtitle,
    summary: s.summary,
    charts: [
      {
        id: 'lv-area', title: 'LV area over frames',
        svg: lineChart({ title: 'LV area', xLabel: 'frame', yLabel: 'mm2', series: [{ name: 'LV area', x: seqs, y: s.records.map((r) => r.lvAreaMm2) }] }),
      },
      {
        id: 'quality', title: 'Image quality over frames',
        svg: lineChart({ title: 'Quality (smoothed)', xLabel: 'frame', yLabel: 'score', series: [{ name: 'quality', x: seqs, y: s.records.map((r) => r.quality) }] }),
      },
      ...(s.records.some((r) => r.idScore !== null) ? [{
        id: 'id-score', title: 'In-distribution score over frames (smoothed; the state shown is in each frame\'s caption)',
        svg: lineChart({ title: 'In-distribution score', xLabel: 'frame', yLabel: 'score', series: [{ name: 'score', x: seqs, y: s.records.map((r) => r.idScore) }] }),
      }] : []),
      ...(s.records.some((r) => r.ef !== null) ? [{
        id: 'ef', title: 'Ejection fraction over frames, with its 95% interval',
        svg: lineChart({
          title: 'EF', xLabel: 'frame', yLabel: '%',
          series: [
            { name: 'EF', x: seqs, y: s.records.map((r) => r.ef) },
            { name: '95% CI low', x: seqs, y: s.records.map((r) => r.efCi?.[0] ?? null) },
            { name: '95% CI high', x: seqs, y: s.records.map((r) => r.efCi?.[1] ?? null) },
          ],
        }),
      }] : []),
      {
        id: 'latency', title: 'Latency per frame',
        svg: lineChart({
          title: 'Latency per frame', xLabel: 'frame', yLabel: 'ms',
          series: [
            { name: 'total (runtime)', x: seqs, y: s.records.map((r) => r.totalMs) },
            ...extras.map((e) => ({ name: e, x: seqs, y: s.records.map((r) => r.extra?.[e] ?? null) })),
            ...stages.map((st) => ({ name: st, x: seqs, y: s.records.map((r) => r.stages[st] ?? null) })),
          ],
        }),
      },
    ],
    tables: table.rows.length === 0 ? [] : [{ title: `Latency per stage (${PERCENTILE_METHOD} percentiles)`, ...table }],
    frames,
  });
}
