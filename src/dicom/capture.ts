// Auto-capture: the best clip per view of a stream, chosen from the pipeline's
// results, and handed to a target (a folder, or the PACS outbox) as DICOM
// objects (writer.ts) when the stream ends or its study changes.
//
// A frame qualifies when its shown in-distribution state is `ok` (never
// `uncertain` or `unknown`), its smoothed quality is above the gate, its shown
// view is one to capture and did not just change. Consecutive qualifying
// frames of one view form a run; a clip is a window of a run: the last N
// seconds of frames, or N whole beats (ED to the next ED, from the EF's
// confirmed end-diastoles). Of a view's clips the best is kept: one with a
// valid EF before one without, then the higher mean quality.
//
// The pipeline never waits on this: `offer` copies a qualifying frame's pixels
// (the frame buffer is reused once the handler returns) and returns; writing
// happens at the end of the stream, off the frame path, and a slow or failing
// target only delays itself.
import { createHash } from 'node:crypto';
import { invalidValue } from '../errors.js';
import type { VerifiedPackage } from '../model/package.js';
import type { PipelineResult } from '../pipeline/index.js';
import { checkKeys } from '../util/options.js';
import {
  captureUids, newUid, writeCapture,
  type CaptureUids, type ClipFrames, type ClipMeasurements, type ClipPixelFormat, type ClipRecord, type ModelUse, type StudyAttributes, type WriterOptions, type WrittenObject,
} from './writer.js';

export interface CaptureOptions {
  /** What a clip spans: `seconds` of frames, or whole `beats` (default "seconds"). */
  mode?: 'seconds' | 'beats';
  /** Clip length in seconds for mode "seconds" (default 2). */
  seconds?: number;
  /** Clip length in beats for mode "beats" (default 1). */
  beats?: number;
  /** Views captured (default A4C, A2C, PLAX, PSAX). */
  views?: string[];
  /** Smoothed quality a frame needs (default: the pipeline's quality bar, `quality.good`). */
  minQuality?: number;
  /** Longest clip in frames, which bounds the memory a run holds (default 300). */
  maxFrames?: number;
}

const CAPTURE_KEYS = ['mode', 'seconds', 'beats', 'views', 'minQuality', 'maxFrames'] as const;

/** Options with every default filled in, checked. */
export function captureOptions(o: CaptureOptions = {}): Required<Omit<CaptureOptions, 'minQuality'>> & { minQuality?: number } {
  checkKeys(o, 'capture', CAPTURE_KEYS);
  const mode = o.mode ?? 'seconds';
  if (mode !== 'seconds' && mode !== 'beats') throw invalidValue('ERR_SONOEDGE_CAPTURE_OPTION', '"seconds" or "beats"', 'capture.mode', mode);
  const seconds = o.seconds ?? 2;
  if (!(typeof seconds === 'number' && seconds > 0 && seconds <= 60)) throw invalidValue('ERR_SONOEDGE_CAPTURE_OPTION', 'a number of seconds in (0, 60]', 'capture.seconds', seconds);
  const beats = o.beats ?? 1;
  if (!(Number.isInteger(beats) && beats >= 1 && beats <= 10)) throw invalidValue('ERR_SONOEDGE_CAPTURE_OPTION', 'an integer 1..10', 'capture.beats', beats);
  const views = o.views ?? ['A4C', 'A2C', 'PLAX', 'PSAX'];
  if (!Array.isArray(views) || views.length === 0 || views.some((v) => typeof v !== 'string' || v === '')) {
    throw invalidValue('ERR_SONOEDGE_CAPTURE_OPTION', 'a non-empty list of view labels', 'capture.views', views);
  }
  const maxFrames = o.maxFrames ?? 300;
  if (!(Number.isInteger(maxFrames) && maxFrames >= 2 && maxFrames <= 10000)) throw invalidValue('ERR_SONOEDGE_CAPTURE_OPTION', 'an integer 2..10000', 'capture.maxFrames', maxFrames);
  if (o.minQuality !== undefined && !(typeof o.minQuality === 'number' && o.minQuality >= 0 && o.minQuality <= 1)) {
    throw invalidValue('ERR_SONOEDGE_CAPTURE_OPTION', 'a number in [0, 1]', 'capture.minQuality', o.minQuality);
  }
  return { mode, seconds, beats, views, maxFrames, ...(o.minQuality !== undefined ? { minQuality: o.minQuality } : {}) };
}

interface Entry {
  frame: Uint8Array;
  result: PipelineResult;
  /** Wall-clock time the frame was offered. */
  wall: number;
  /** Holders of the frame among the run and the best clips (its buffer is reused at 0); -1 once handed out by take(). */
  refs: number;
}

/** Frame buffers kept for reuse by a stream's selector: enough for the steady state (one frame in, one out). */
const POOL_MAX = 16;

/** A chosen clip: its frames and results, oldest first. */
export interface ClipCandidate {
  view: string;
  entries: readonly Entry[];
  /** The EF the clip reports (the latest valid one in it), if any. */
  ef?: NonNullable<PipelineResult['ef']>;
  qualityMean: number;
}

const better = (a: ClipCandidate, b: ClipCandidate | undefined): boolean =>
  b === undefined || (a.ef !== undefined) > (b.ef !== undefined) || ((a.ef !== undefined) === (b.ef !== undefined) && a.qualityMean > b.qualityMean);

/**
 * One stream's clip choice: fed every result in order, keeps the best clip per view. `offer` returns whether
 * it kept the frame (a copy is made only then).
 */
export class ClipSelector {
  readonly options: ReturnType<typeof captureOptions>;
  readonly frameTimeMs: number;
  #run: Entry[] = [];
  #runView = '';
  /** Seqs of the end-diastoles confirmed within the current run, oldest first. */
  #eds: number[] = [];
  readonly #best = new Map<string, ClipCandidate>();
  /**
   * Buffers of frames no longer held, for the next copies: a copy into one is a memcpy, where a new 1024x768 buffer
   * costs 5-10 times that (fresh pages, and garbage for the collector) on every qualifying frame.
   */
  #pool: Uint8Array[] = [];

  constructor(options: CaptureOptions, frameTimeMs: number) {
    this.options = captureOptions(options);
    if (!(frameTimeMs > 0 && Number.isFinite(frameTimeMs))) throw invalidValue('ERR_SONOEDGE_CAPTURE_OPTION', 'a positive frame time in ms', 'capture frame time', frameTimeMs);
    this.frameTimeMs = frameTimeMs;
  }

  /** Whether a result qualifies for a clip. */
  qualifies(r: PipelineResult): boolean {
    const o = this.options;
    const good = o.minQuality !== undefined ? r.quality.smoothed >= o.minQuality : r.quality.good;
    return r.state === 'ok' && good && o.views.includes(r.view.shown);
  }

  /** Feeds one result; `pixels` is copied only when the frame qualifies. */
  offer(pixels: Uint8Array, r: PipelineResult, wall = Date.now()): boolean {
    const ok = this.qualifies(r);
    if (!ok || r.view.shown !== this.#runView) {
      // A run is one view, unbroken: any frame that does not qualify, or another view, ends it.
      if (this.#run.length > 0) this.#release(this.#run);
      this.#run = [];
      this.#eds = [];
      this.#runView = ok ? r.view.shown : '';
      if (!ok) return false;
    }
    this.#run.push({ frame: this.#copy(pixels), result: r, wall, refs: 1 });
    // A run keeps what a clip can still use: the window in seconds mode, up to maxFrames for whole beats.
    const max = this.options.mode === 'seconds' ? this.#windowFrames() : this.options.maxFrames;
    if (this.#run.length > max) this.#release(this.#run.splice(0, this.#run.length - max));
    const first = this.#run[0].result.seq;
    const ed = r.ef?.edConfirmed;
    if (ed !== null && ed !== undefined && ed >= first) this.#eds.push(ed);
    while (this.#eds.length > 0 && this.#eds[0] < first) this.#eds.shift();
    this.#consider();
    return true;
  }

  #consider(): void {
    const o = this.options;
    let entries: Entry[] | undefined;
    if (o.mode === 'seconds') {
      const n = this.#windowFrames();
      if (this.#run.length >= n) entries = this.#run.slice(this.#run.length - n);
    } else if (this.#eds.length >= o.beats + 1 && this.#run[this.#run.length - 1].result.ef?.edConfirmed === this.#eds[this.#eds.length - 1]) {
      // From the ED o.beats beats back up to (not including) the ED just confirmed: whole beats, a seamless loop.
      const from = this.#eds[this.#eds.length - 1 - o.beats];
      const to = this.#eds[this.#eds.length - 1];
      entries = this.#run.filter((e) => e.result.seq >= from && e.result.seq < to);
      if (entries.length < 2) entries = undefined;
    }
    if (!entries) return;
    // The EF the runtime showed at the clip's end: in beats mode, that of the frame confirming the closing ED (it
    // has seen the clip's last beat whole); else the latest valid one in the clip.
    let ef: ClipCandidate['ef'];
    const last = this.#run[this.#run.length - 1].result;
    if (o.mode === 'beats' && last.ef?.valid) ef = last.ef;
    for (let i = entries.length - 1; i >= 0 && ef === undefined; i--) if (entries[i].result.ef?.valid) ef = entries[i].result.ef;
    const qualityMean = entries.reduce((s, e) => s + e.result.quality.smoothed, 0) / entries.length;
    const c: ClipCandidate = { view: this.#runView, entries, qualityMean, ...(ef ? { ef } : {}) };
    const old = this.#best.get(c.view);
    if (!better(c, old)) return;
    for (const e of entries) e.refs++;
    this.#best.set(c.view, c);
    if (old) this.#release(old.entries);
  }

  /** Frames in a clip of `seconds`. */
  #windowFrames(): number {
    const o = this.options;
    return Math.max(1, Math.min(o.maxFrames, Math.round((o.seconds * 1000) / this.frameTimeMs)));
  }

  /** A copy of a frame's pixels, into a free buffer of the same size when there is one. */
  #copy(pixels: Uint8Array): Uint8Array {
    const b = this.#pool.pop();
    if (b === undefined || b.length !== pixels.length) {
      this.#pool = [];
      return pixels.slice();
    }
    b.set(pixels);
    return b;
  }

  /** Drops one hold on each entry; a frame no one holds gives its buffer back. */
  #release(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.refs > 0 && --e.refs === 0 && this.#pool.length < POOL_MAX) this.#pool.push(e.frame);
    }
  }

  /** The best clip of each view so far. */
  get best(): ReadonlyMap<string, ClipCandidate> {
    return this.#best;
  }

  /** Returns the best clips and forgets them and the current run. */
  take(): ClipCandidate[] {
    const out = [...this.#best.values()];
    // Handed out: their buffers are never reused (they are written after this returns).
    for (const c of out) for (const e of c.entries) e.refs = -1;
    this.#best.clear();
    this.#release(this.#run);
    this.#pool = [];
    this.#run = [];
    this.#eds = [];
    this.#runView = '';
    return out;
  }
}

/** A loaded model package as the SR names it: id, variant, the variant file's sha256 and the manifest's. */
export function modelUse(pkg: VerifiedPackage, variant: string): ModelUse {
  return {
    id: `${pkg.manifest.name}@${pkg.manifest.version}`,
    variant,
    sha256: pkg.manifest.variants[variant]?.sha256 ?? '',
    manifestSha256: createHash('sha256').update(pkg.manifestBytes).digest('hex'),
  };
}

/** What a capture stream records beside its frames (its geometry, timing, study, models). */
export interface CaptureStreamInfo {
  width: number;
  height: number;
  format: ClipPixelFormat;
  stride?: number;
  uvOffset?: number;
  frameTimeMs: number;
  spacingMm: readonly [number, number];
  sectorRoi?: { x: number; y: number; width: number; height: number };
  /** Patient and study attributes (from the input DICOM or CONFIGURE_STREAM); a new study when it has no StudyInstanceUID. */
  study: StudyAttributes;
  lossySource?: boolean;
}

/** The measurements of a chosen clip, with frames as clip indices. */
export function clipMeasurements(c: ClipCandidate): ClipMeasurements {
  const index = new Map(c.entries.map((e, i) => [e.result.seq, i]));
  const m: ClipMeasurements = {
    view: c.view,
    qualityMean: c.qualityMean,
    qualityMin: Math.min(...c.entries.map((e) => e.result.quality.smoothed)),
  };
  if (c.ef) {
    const e = c.ef;
    const ed = index.get(e.edFrame);
    const es = index.get(e.esFrame);
    m.ef = {
      ef: e.ef, efRaw: e.efRaw, ci: e.ci, quality: e.quality, method: e.method, beats: e.beats.length, edvMl: e.edvMl, esvMl: e.esvMl,
      ...(ed !== undefined ? { edFrame: ed } : {}), ...(es !== undefined ? { esFrame: es } : {}),
    };
    const edArea = ed !== undefined ? c.entries[ed].result.lv?.areaMm2 : undefined;
    const esArea = es !== undefined ? c.entries[es].result.lv?.areaMm2 : undefined;
    if (edArea !== undefined) m.edAreaMm2 = edArea;
    if (esArea !== undefined) m.esAreaMm2 = esArea;
  }
  return m;
}

/** The writer's record of a chosen clip. */
export function clipRecord(c: ClipCandidate, info: CaptureStreamInfo, models: ModelUse[]): ClipRecord {
  const frames: ClipFrames = {
    width: info.width, height: info.height, format: info.format, frames: c.entries.map((e) => e.frame),
    ...(info.stride !== undefined ? { stride: info.stride } : {}), ...(info.uvOffset !== undefined ? { uvOffset: info.uvOffset } : {}),
  };
  return {
    study: info.study,
    frames,
    frameTimeMs: info.frameTimeMs,
    spacingMm: info.spacingMm,
    ...(info.sectorRoi ? { sectorRoi: info.sectorRoi } : {}),
    seqs: c.entries.map((e) => e.result.seq),
    acquiredAt: new Date(c.entries[0].wall),
    measurements: clipMeasurements(c),
    models,
    contours: c.entries.map((e) => e.result.lv?.contourFrame),
    ...(info.lossySource ? { lossySource: true } : {}),
  };
}

/** Where captured objects go: a folder (replay, or serve without a PACS) or the PACS outbox. */
export interface CaptureTarget {
  /** Places one capture's objects all or nothing: none of them is kept (or sent) unless every one is written. */
  putAll(objects: readonly CaptureObject[]): Promise<void>;
}

/** One object of a capture and the file name it goes under. */
export interface CaptureObject {
  obj: WrittenObject;
  name: string;
}

/** One written capture: which view, what the SR says, and the objects' names. */
export interface CaptureSummary {
  stream: number;
  view: string;
  frames: number;
  seqs: [number, number];
  qualityMean: number;
  ef: number | null;
  edvMl: number | null;
  esvMl: number | null;
  studyInstanceUid: string;
  objects: { kind: WrittenObject['kind']; name: string; sopInstanceUid: string; sopClassUid: string }[];
}

interface StreamState {
  info: CaptureStreamInfo;
  selector: ClipSelector;
  models: () => ModelUse[];
  /** Series UIDs shared by this stream's captures, and the next instance number. */
  series?: Pick<CaptureUids, 'clipSeries' | 'srSeries' | 'scSeries'>;
  instance: number;
}

export interface AutoCaptureOptions {
  capture?: CaptureOptions;
  writer?: WriterOptions;
  target: CaptureTarget;
  /** Told of each capture written, and of each failure (the capture is then lost, and says so). */
  onCaptured?: (s: CaptureSummary) => void;
  onError?: (err: unknown, where: { stream: number; view?: string }) => void;
}

/**
 * Auto-capture over many streams: `open` a stream, `offer` every result (synchronous, cheap), `finish` it at its
 * end (or when its study changes): the best clip of each view is written and handed to the target.
 */
export class AutoCapture {
  readonly #o: AutoCaptureOptions;
  readonly #streams = new Map<number, StreamState>();
  #writing: Promise<unknown> = Promise.resolve();
  #written = 0;

  constructor(o: AutoCaptureOptions) {
    captureOptions(o.capture); // bad options fail here, not on the first stream
    this.#o = o;
  }

  get written(): number {
    return this.#written;
  }

  has(stream: number): boolean {
    return this.#streams.has(stream);
  }

  /** Starts capturing a stream; `models` names the packages in use (read when a capture is written). */
  open(stream: number, info: CaptureStreamInfo, models: () => ModelUse[]): void {
    const study = info.study.StudyInstanceUID ? info.study : { ...info.study, StudyInstanceUID: newUid() };
    this.#streams.set(stream, { info: { ...info, study }, selector: new ClipSelector(this.#o.capture ?? {}, info.frameTimeMs), models, instance: 1 });
  }

  /** Feeds one result of a stream (ignored for a stream not opened). Never throws. */
  offer(stream: number, pixels: Uint8Array, r: PipelineResult): void {
    const s = this.#streams.get(stream);
    if (!s) return;
    try {
      s.selector.offer(pixels, r);
    } catch (err) {
      this.#o.onError?.(err, { stream });
    }
  }

  /** Writes the stream's best clips and stops capturing it. Resolves when they are with the target. */
  finish(stream: number): Promise<CaptureSummary[]> {
    const s = this.#streams.get(stream);
    if (!s) return Promise.resolve([]);
    this.#streams.delete(stream);
    const clips = s.selector.take();
    const run = this.#writing.then(() => this.#write(stream, s, clips));
    this.#writing = run.catch(() => undefined);
    return run;
  }

  async #write(stream: number, s: StreamState, clips: ClipCandidate[]): Promise<CaptureSummary[]> {
    const out: CaptureSummary[] = [];
    for (const c of clips) {
      try {
        // Writing a clip is synchronous work; yield first so that frames waiting on the loop go before it.
        await new Promise((resolve) => setImmediate(resolve));
        const record = clipRecord(c, s.info, s.models());
        const uids = captureUids(s.info.study, s.series, s.instance++);
        s.series = { clipSeries: uids.clipSeries, srSeries: uids.srSeries, scSeries: uids.scSeries };
        const objects = writeCapture(record, uids, this.#o.writer);
        const items = objects.map((obj) => ({ obj, name: `${obj.kind}-${c.view}-${obj.sopInstanceUid}.dcm` }));
        // All or nothing: a clip whose SR could not be written is not left (or sent) alone.
        await this.#o.target.putAll(items);
        const names: CaptureSummary['objects'] = items.map(({ obj, name }) => ({ kind: obj.kind, name, sopInstanceUid: obj.sopInstanceUid, sopClassUid: obj.sopClassUid }));
        const m = record.measurements;
        const summary: CaptureSummary = {
          stream, view: c.view, frames: record.seqs.length, seqs: [record.seqs[0], record.seqs[record.seqs.length - 1]], qualityMean: m.qualityMean,
          ef: m.ef?.ef ?? null, edvMl: m.ef?.edvMl ?? null, esvMl: m.ef?.esvMl ?? null, studyInstanceUid: uids.study, objects: names,
        };
        this.#written++;
        out.push(summary);
        this.#o.onCaptured?.(summary);
      } catch (err) {
        this.#o.onError?.(err, { stream, view: c.view });
      }
    }
    return out;
  }

  /** Finishes every stream; resolves when all captures are with the target (those of streams finished earlier too). */
  async close(): Promise<CaptureSummary[]> {
    const all = await Promise.all([...this.#streams.keys()].map((id) => this.finish(id)));
    await this.#writing;
    return all.flat();
  }
}
