// The real-time pipeline: verified model packages, each with its own
// preprocessing plan writing straight into the engine's bound input tensor,
// a model graph (view and quality on every frame; LV segmentation on apical
// views of good enough quality, every Nth frame; EF over the cine), display
// smoothing, and latest-frame-wins scheduling per stream.
import { Engine, type EngineOptions } from '../engine/index.js';
import { invalidValue } from '../errors.js';
import { checkContract, checkGraph } from '../model/graph.js';
import { verifyModelPackage, type TrustStore, type VerifiedPackage } from '../model/package.js';
import { Preprocessor, type FrameData, type PreprocessOptions, type OutputArray } from '../preprocess/index.js';
import type { InputGeometry, Roi, ScanConversion } from '../preprocess/options.js';
import { SPACING_RANGE_MM, spacingInRange } from '../io/types.js';
import { contentGeometry, type GeometryOptions } from '../preprocess/geometry.js';
import { checkFlip, flipGuidance, flipMask, flipPolygon, flipTensor, type Flip } from '../preprocess/flip.js';
import { checkKeys } from '../util/options.js';
import {
  argmaxIndex, ClassSmoother, EjectionFraction, InDistributionState, Latch, MaskAnalyzer, ScoreHysteresis, areaLength, beamAngleDeg, principalAxis, simplifyPolygon, softmax, spacingXY, viewState, worseState,
  type EfCalibration, type EfInterval, type EjectionFractionResult, type IdThresholds, type LvBorder, type ResultState,
} from './postprocess.js';
import { LatestWinsScheduler, type FrameInfo, type Processed, type SchedulerStats, type StageTimer } from './scheduler.js';
import { SessionPool, type SessionLease } from './sessions.js';
import { FullGain, fullGainOf, type FullGainSpec, type Normalisation } from './full-gain.js';

/** What a stream's frames look like, and where the image sector lies in them. */
export interface StreamGeometry {
  input: InputGeometry;
  /** Millimetres per source pixel, from the scanner or DICOM: one number for square pixels, or [x, y]. */
  pixelSpacingMm: number | readonly [number, number];
  /** The image sector's bounding box on the screen (crop = sector_bounding_box); default the whole frame. */
  sectorRoi?: Roi;
  /** Frames are polar (lines x samples): scan-convert with this sector geometry. */
  scanConversion?: ScanConversion;
  /**
   * How the scanner shows the image against the models' orientation (src/preprocess/flip.ts): each model input is
   * flipped back after preprocessing, and the LV mask, outline and guidance flipped into the frame's. Default none.
   */
  flip?: Flip;
}

/**
 * One model package variant bound to one stream geometry: preprocess -> engine -> raw outputs. The preprocessing
 * plan, the tensors and their binding are the runner's own; the engine may be shared with other runners (a
 * SessionPool: one session per model for every stream).
 */
export class ModelRunner {
  readonly package: VerifiedPackage;
  readonly variant: string;
  readonly engine: Engine;
  readonly preprocessor: Preprocessor;
  /** The engine's input tensor; the preprocessor writes into it. */
  readonly input: OutputArray;
  readonly outputs: Readonly<Record<string, Float32Array>>;
  /** Millimetres per model-input pixel along x and y. */
  readonly spacingMm: readonly [number, number];
  /** What the manifest asks of the post-processing (checked when the runner is made, so a bad package never loads). */
  readonly post: RunnerPostprocess;
  readonly #bound: ReturnType<Engine['bind']>;
  /** The runner's hold on its engine: releasing it closes an own engine, or gives back a hold on a shared one. */
  readonly #lease: SessionLease;
  /** Model pixel -> source frame pixel (x = a + b * i per axis); absent for polar frames. */
  readonly #toFrame?: readonly [number, number, number, number];
  /** The stream's flip (StreamGeometry.flip): applied to the input tensor after every preprocessing run. */
  readonly flip: Flip;
  /** A view package's postprocessing.quality.full_gain: the model runs on the input at full gain as well (infer). */
  readonly #fullGain?: FullGain;
  #fullGainQuality = Number.NaN;

  private constructor(pkg: VerifiedPackage, variant: string, lease: SessionLease, pre: Preprocessor, input: OutputArray,
    outputs: Record<string, Float32Array>, spacing: [number, number], flip: Flip, toFrame?: readonly [number, number, number, number]) {
    const engine = lease.engine;
    this.#lease = lease;
    this.#toFrame = toFrame;
    this.flip = flip;
    this.post = runnerPostprocess(pkg, engine.outputs.map((o) => o.name));
    this.package = pkg;
    this.variant = variant;
    this.engine = engine;
    this.preprocessor = pre;
    this.input = input;
    this.outputs = outputs;
    this.spacingMm = spacing;
    this.#bound = engine.bind({ [pkg.manifest.preprocessing.input]: input as Float32Array }, outputs);
    if (this.post.qualityFullGain && outputs.quality) {
      this.#fullGain = new FullGain(this.post.qualityFullGain, pre.options, (pkg.manifest.preprocessing.options as { normalize?: Normalisation }).normalize, pkg.manifest.name);
    }
  }

  /**
   * The quality output of the last infer: with postprocessing.quality.full_gain, the larger of the model's quality on
   * the input and on the input at full gain (src/pipeline/full-gain.ts; a full-gain quality that is not a number is
   * left out, a displayed one that is not a number stays so); else the model's quality.
   */
  quality(): number {
    const q = this.outputs.quality[0];
    return this.#fullGain && this.#fullGainQuality > q ? this.#fullGainQuality : q;
  }

  /** Whether quality() takes the input at full gain into account (postprocessing.quality.full_gain). */
  get fullGain(): boolean {
    return this.#fullGain !== undefined;
  }

  /** With `sessions`, the engine is the pool's session for this package variant (shared); without, a session of its own. */
  static async create(pkg: VerifiedPackage, variant: string, geometry: StreamGeometry, engineOptions: EngineOptions = {},
    sessions?: SessionPool): Promise<ModelRunner> {
    const m = pkg.manifest;
    checkContract(m); // a manifest that contradicts its task is refused here, not misread on every frame
    const flip = checkFlip(geometry.flip ?? 'none', 'geometry.flip');
    if (flip !== 'none' && geometry.scanConversion) {
      // Scan conversion draws the sector apex up, the lines by their angles: there is no screen orientation to undo.
      throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'none with scanConversion (polar frames are drawn apex up by their angles)', 'geometry.flip', flip);
    }
    const p = m.preprocessing;
    const roi = p.crop === 'sector_bounding_box' && geometry.sectorRoi !== undefined ? geometry.sectorRoi : undefined;
    const opts: PreprocessOptions = {
      ...(p.options as Omit<PreprocessOptions, 'input'>),
      input: geometry.input,
      ...(roi ? { roi } : {}),
      ...(geometry.scanConversion ? { scanConversion: geometry.scanConversion } : {}),
    };
    const pre = new Preprocessor(opts);
    // A spacing out of range is refused before a session is taken.
    const { spacing, toFrame } = modelPixelGeometry(geometry.pixelSpacingMm, pre.options);
    const lease: SessionLease = sessions ? await sessions.acquire(pkg, variant, engineOptions) : ownSession(await Engine.load({ package: pkg, variant }, engineOptions));
    const engine = lease.engine;
    // Whatever fails from here (a manifest that contradicts its graph, tensors that cannot be bound, a manifest
    // that asks the impossible) gives the session back: a shared one must not keep a user that never came.
    try {
      checkGraph(m, variant, engine); // nor one that contradicts its graph (src/model/graph.ts)
      const input = pre.createOutput();
      // Float outputs are Float32Arrays; another element type fails at bind below with a typed error.
      const outputs = engine.allocate().outputs as Record<string, Float32Array>;
      return new ModelRunner(pkg, variant, lease, pre, input, outputs, spacing, flip, toFrame);
    } catch (err) {
      await lease.release();
      throw err;
    }
  }

  /** Maps x,y pairs in model-input pixels to source-frame pixels; undefined for polar (scan-converted) frames. */
  toFrame(points: readonly number[]): number[] | undefined {
    const m = this.#toFrame;
    if (!m) return undefined;
    const outPts = new Array<number>(points.length);
    for (let i = 0; i < points.length; i += 2) {
      outPts[i] = m[0] + m[1] * points[i];
      outPts[i + 1] = m[2] + m[3] * points[i + 1];
    }
    return outPts;
  }

  /** Preprocesses `frame` into the input tensor (synchronously: one pass, no allocation), then runs the model. */
  async infer(frame: FrameData, stage: (name: string, fn: () => unknown) => Promise<unknown>): Promise<void> {
    await stage(`${this.package.manifest.task}.preprocess`, () => {
      this.preprocessor.run(frame, this.input);
      flipTensor(this.input, this.preprocessor.options, this.flip);
    });
    await this.#runFullGain(stage, 'full_gain');
    await stage(`${this.package.manifest.task}.engine`, () => this.#bound.run());
  }

  /** With postprocessing.quality.full_gain, the run at full gain (stage `<task>.<name>`); nothing without. */
  async #runFullGain(stage: (name: string, fn: () => unknown) => Promise<unknown>, name: string): Promise<void> {
    const fg = this.#fullGain;
    if (!fg) return;
    // The run at full gain first, so that every output but its quality is the run on the input as it is.
    this.#fullGainQuality = Number.NaN;
    await stage(`${this.package.manifest.task}.${name}`, async () => {
      fg.apply(this.input);
      try {
        await this.#bound.run();
        this.#fullGainQuality = this.outputs.quality[0];
      } finally {
        fg.restore(this.input);
      }
    });
  }

  /**
   * Runs the model again on this frame's input mirrored left-right (with its full-gain run, when the package has one)
   * and gives the mirror's view probabilities (softmax(logits / temperature) into `probs`) and quality (quality()); the
   * input is mirrored back after. Overwrites the outputs: only after the frame's own have been read.
   */
  async mirror(stage: (name: string, fn: () => unknown) => Promise<unknown>, probs: Float64Array, temperature: number): Promise<number> {
    const horizontal: Flip = 'horizontal';
    flipTensor(this.input, this.preprocessor.options, horizontal);
    try {
      await this.#runFullGain(stage, 'mirror_full_gain');
      await stage(`${this.package.manifest.task}.mirror`, () => this.#bound.run());
    } finally {
      flipTensor(this.input, this.preprocessor.options, horizontal);
    }
    softmax(this.outputs.view, probs, 0, probs.length, temperature);
    return this.quality();
  }

  /** Closes the engine, or gives back this runner's hold on a shared one (the last hold closes it). Idempotent. */
  async close(): Promise<void> {
    await this.#lease.release();
  }
}

/** A session nobody shares, as a lease: releasing it closes it. */
function ownSession(engine: Engine): SessionLease {
  return { engine, release: () => engine.close() };
}

export interface PipelineResult {
  seq: number;
  acquiredAt: number;
  /**
   * `label` is this frame's top class; `shown` the smoothed view a display should show (with its probability now);
   * `changed`: `shown` differs from the previous frame's (false on a stream's first frame); `uncertain` (only with a
   * package whose manifest has postprocessing.view.thresholds.uncertain): the shown view's averaged probability is
   * under that threshold (with the state's hold, see viewState), which makes `state` at least `uncertain`.
   */
  view: { label: string; confidence: number; shown: string; shownConfidence: number; changed: boolean; probabilities: number[]; uncertain?: boolean };
  /**
   * `score` is the view package's quality of this frame: with postprocessing.quality.full_gain, the larger of the
   * model's quality on the frame and on the frame at full gain, `displayed` then the former (src/pipeline/full-gain.ts).
   */
  quality: { score: number; smoothed: number; good: boolean; displayed?: number };
  /**
   * The in-distribution state a display shows (smoothed, see InDistributionState): `ok`, `uncertain` (the results
   * may be wrong) or `unknown` (the frame is unlike the training data: no LV, no EF): the worse of the id_score's
   * state and the view's (view.uncertain). A view package with neither an `id_score` output nor a view threshold
   * cannot tell: its results are always `ok`, with `idScore` null.
   */
  state: ResultState;
  /** The smoothed in-distribution score in [0, 1] (higher = more like the training data); null without an id_score output. */
  idScore: number | null;
  /** This frame's own score and state (unsmoothed); null and `ok` without an id_score output. */
  idScoreRaw: number | null;
  frameState: ResultState;
  /**
   * The probe guidance's label, as the frame shows the image (StreamGeometry.flip: mirrored sides and rotations
   * swapped). The API's only: the socket RESULT, replay's lines and the other outputs do not carry guidance. Outside
   * our simulator it tells whether the pose is off but not which way (training/RESULTS.md, forty-second wave).
   */
  guidance?: { label: string; confidence: number };
  /** Present on frames where segmentation ran, except one whose LV lay across the beam (then `lvRejected`). */
  lv?: {
    areaMm2: number; lengthMm: number; pixels: number;
    /**
     * The angle in degrees [0, 90] between the LV's long axis and the beam from the probe (the input's top centre)
     * through its centroid (postprocess.ts beamAngleDeg); null under 3 pixels or for a mask too round to have an axis.
     */
    beamAngleDeg: number | null;
    /**
     * The simplified LV outline, x0,y0,x1,y1,... in model-input pixel centres, in the frame's orientation (a stream's
     * flip undone; so is `mask`). The beam angle, length and area are the models' and do not depend on the flip.
     */
    contour: number[];
    /** The same outline in source-frame pixel coordinates (absent for polar frames, which are scan-converted). */
    contourFrame?: number[];
    /** The LV (largest component) on the model's input grid, one byte per pixel, 0 or 1; a copy. */
    mask: { width: number; height: number; data: Uint8Array };
    /**
     * Only when the segmentation package has calibration.lv_border: this frame's LV border band width in pixels
     * (MaskAnalyzer.borderBand), null when the mask has no border pixel.
     */
    borderBand?: number | null;
  };
  /**
   * Why a frame due for segmentation shows no LV: LV_ACROSS_BEAM, a segmented frame shown as an apical view whose
   * LV's long axis lies more than maxBeamAngleDeg across the beam (the angle in degrees); LV_MIRRORED (a view package
   * with postprocessing.view.mirror_check; not segmented), a frame whose mirror image the view model reads as A4C, more
   * so than the frame, at a quality over the frame's by more than the margin (the mirror's A4C probability and
   * quality). Such a frame has no `lv`. Only the API and replay's JSON lines carry it; the socket, serial, OpenIGTLink
   * and DICOM outputs show a frame without an LV.
   */
  lvRejected?: { code: 'LV_ACROSS_BEAM'; beamAngleDeg: number } | { code: 'LV_MIRRORED'; mirrorA4C: number; mirrorQuality: number };
  /**
   * On a frame of a stream that segments where segmentation did not run, why (LvSkip). Only the API carries it
   * (replay's summary counts it); every output shows such a frame without an LV.
   */
  lvSkipped?: LvSkip;
  /**
   * The EF window's estimate, on every frame of a stream that segments, except while the state is `unknown`
   * (then absent, and the window is emptied). `ef.edConfirmed` / `ef.esConfirmed` name the frame whose ED / ES this
   * frame confirmed (each exactly once).
   */
  ef?: EjectionFractionResult;
}

export interface PipelineOptions {
  /** Folder of the view and quality package. */
  viewQuality: string;
  /** Folder of the LV segmentation package; without it no LV or EF is computed. */
  segmentation?: string;
  variant?: string;
  trustStore: TrustStore;
  allowUnsigned?: boolean;
  engine?: EngineOptions;
  /** Run segmentation every Nth eligible frame (default 1). */
  segmentationStride?: number;
  /** Views on which segmentation runs (default A4C, A2C). */
  segmentationViews?: string[];
  /**
   * Smoothed quality needed for segmentation and for a good quality state (both bars). Default: the view package's
   * postprocessing.quality.thresholds.diagnostic, 0.5 without one; segmentation then starts at the package's
   * thresholds.segmentation when it has one (segmentationBar).
   */
  qualityThreshold?: number;
  /**
   * Hysteresis of the segmentation gate (default 0.1): once open, segmentation goes on while the smoothed quality
   * stays at or above qualityThreshold minus this, on an apical view with a state other than unknown; 0 gates each
   * frame on qualityThreshold alone. Without it a quality that dips just under the gate at every end-systole (the
   * independent generator's cines, docs/PROTOCOL.md "ED, ES and EF") cuts each beat's ES out of the EF window.
   */
  qualityHysteresis?: number;
  /**
   * Frames of a dip the segmentation gate holds open (default QUALITY_HOLD, 16; 0: none): once the gate has been open
   * for this many frames in a row (frames of an earlier dip it held count), up to this many frames whose smoothed
   * quality is under its exit bar are still segmented while the shown view stays one of segmentationViews and the
   * state is not unknown; the next one closes the gate. Frames measured in a dip make the EF's quality low while they
   * are in its window. Without it a quality that dips for a fraction of a second around every end-systole (the
   * independent generator's vigorous hearts) emptied the EF window once a beat, and the EF of the part-beats between
   * read 20-40 points low (the thirty-first wave, training/RESULTS.md).
   */
  qualityHold?: number;
  /** Contour simplification tolerance in model pixels (default 0.75). */
  contourEpsilon?: number;
  /**
   * The most degrees an LV's long axis may lie across the beam through it (postprocess.ts beamAngleDeg) and still be
   * shown and measured, on a frame shown as an apical view (APICAL_VIEWS; default MAX_BEAM_ANGLE, 30; 90 turns the
   * rule off). In an apical view the beam enters at the LV apex and the long axis runs down it; a mask across it is
   * an atrium, a fragment or two chambers taken for the LV. Such a frame carries `lvRejected` instead of `lv`, and the
   * EF window bridges it like any frame without a usable LV. A mask too round to have an axis (MIN_ELONGATION) is
   * not judged.
   */
  maxBeamAngleDeg?: number;
}

/**
 * Why segmentation did not run on a frame (PipelineResult.lvSkipped): `unknown` (the shown state), `view_not_a_number`
 * (the view output), `view` (shown as a view not in segmentationViews), `quality_not_a_number`, `quality` (the
 * segmentation gate closed: the smoothed quality under its bar, or under its exit past the hold), `stride` (a frame
 * between two segmented ones, segmentationStride).
 */
export type LvSkip = 'unknown' | 'view_not_a_number' | 'view' | 'quality_not_a_number' | 'quality' | 'stride';

/** The default of PipelineOptions.qualityHysteresis. */
const QUALITY_HYSTERESIS = 0.1;

/** The default of PipelineOptions.qualityHold: 16 frames (the thirty-first wave, training/RESULTS.md). */
export const QUALITY_HOLD = 16;

/** The default of PipelineOptions.maxBeamAngleDeg: 30 degrees (the thirty-seventh wave, training/RESULTS.md). */
export const MAX_BEAM_ANGLE = 30;

/** The views maxBeamAngleDeg judges: the apical ones, where the probe sits at the LV apex (in a PLAX the LV lies across the beam). */
export const APICAL_VIEWS: ReadonlySet<string> = new Set(['A4C', 'A2C', 'A3C', 'A5C']);

/** The default of PipelineOptions.segmentationViews. */
export const SEGMENTATION_VIEWS: readonly string[] = ['A4C', 'A2C'];

/** The fewest LV pixels a frame's mask needs for the EF window to measure it (fewer: a frame without an LV). */
export const MIN_LV_PIXELS = 3;

/** The quality bar without options or a package that set one. */
const QUALITY_THRESHOLD = 0.5;

/**
 * The quality bar of these options and view package: the smoothed quality at which the quality state turns good
 * (qualityThreshold, else the package's postprocessing.quality.thresholds.diagnostic, else 0.5) and below which it
 * turns poor again (that minus qualityHysteresis): the LOW_QUALITY flag. The segmentation gate opens and closes at
 * the same bar unless the package has a segmentation bar (segmentationBar).
 */
export function qualityBar(options: Pick<PipelineOptions, 'qualityThreshold' | 'qualityHysteresis'>, viewQuality?: VerifiedPackage):
  { enter: number; exit: number } {
  const enter = options.qualityThreshold ?? (viewQuality ? qualityThresholdOf(viewQuality, 'diagnostic') : undefined) ?? QUALITY_THRESHOLD;
  return { enter, exit: enter - (options.qualityHysteresis ?? QUALITY_HYSTERESIS) };
}

/**
 * The segmentation gate's bar of these options and view package: the quality bar (qualityBar) when the options set
 * qualityThreshold or the package has no postprocessing.quality.thresholds.segmentation; else that threshold (the
 * schema holds it to [0, 1]; a package whose bar is above its diagnostic one is refused when its model loads, even
 * under options that override both) and below it the same hysteresis. Frames it lets through while the quality
 * state is poor (LOW_QUALITY) make the EF's quality low (EfSampleInfo.belowGate).
 */
export function segmentationBar(options: Pick<PipelineOptions, 'qualityThreshold' | 'qualityHysteresis'>, viewQuality?: VerifiedPackage):
  { enter: number; exit: number } {
  const seg = options.qualityThreshold === undefined && viewQuality ? qualityThresholdOf(viewQuality, 'segmentation') : undefined;
  if (seg === undefined) return qualityBar(options, viewQuality);
  return { enter: seg, exit: seg - (options.qualityHysteresis ?? QUALITY_HYSTERESIS) };
}

/** A view package's postprocessing.quality.thresholds[key] when it is a number (the schema holds it to [0, 1]); undefined without one. */
function qualityThresholdOf(pkg: VerifiedPackage, key: 'diagnostic' | 'segmentation'): number | undefined {
  const t = (pkg.manifest.postprocessing.quality as { thresholds?: Record<string, unknown> } | undefined)?.thresholds?.[key];
  return typeof t === 'number' ? t : undefined;
}

const PIPELINE_KEYS = ['viewQuality', 'segmentation', 'variant', 'trustStore', 'allowUnsigned', 'engine',
  'segmentationStride', 'segmentationViews', 'qualityThreshold', 'qualityHysteresis', 'qualityHold', 'contourEpsilon',
  'maxBeamAngleDeg'] as const;

/** Verified packages, ready to open streams. */
export class Pipeline {
  readonly options: Readonly<PipelineOptions>;
  /** The engine sessions of every stream's models: one per package variant, shared by the streams (src/pipeline/sessions.ts). */
  readonly sessions = new SessionPool();
  readonly viewQuality: VerifiedPackage;
  readonly segmentation?: VerifiedPackage;

  private constructor(options: PipelineOptions, vq: VerifiedPackage, seg?: VerifiedPackage) {
    this.options = Object.freeze({ ...options });
    this.viewQuality = vq;
    this.segmentation = seg;
  }

  /** The quality bar of this pipeline's options and view package (qualityBar). */
  qualityBar(): { enter: number; exit: number } {
    return qualityBar(this.options, this.viewQuality);
  }

  /** The segmentation bar of this pipeline's options and view package (segmentationBar). */
  segmentationBar(): { enter: number; exit: number } {
    return segmentationBar(this.options, this.viewQuality);
  }

  /** Verifies the packages (schema, checksums, signature): a bad package is refused before anything loads. */
  static async create(options: PipelineOptions): Promise<Pipeline> {
    checkKeys(options, 'pipeline', PIPELINE_KEYS);
    const stride = options.segmentationStride ?? 1;
    if (!Number.isInteger(stride) || stride < 1) {
      throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'positive integer', 'pipeline.segmentationStride', stride);
    }
    const threshold = options.qualityThreshold ?? QUALITY_THRESHOLD;
    if (typeof threshold !== 'number' || !(threshold <= 1)) {
      throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'number at most 1 (-Infinity: always open)', 'pipeline.qualityThreshold', threshold);
    }
    const hysteresis = options.qualityHysteresis ?? QUALITY_HYSTERESIS;
    if (typeof hysteresis !== 'number' || !(hysteresis >= 0 && hysteresis <= 1)) {
      throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'number in [0, 1]', 'pipeline.qualityHysteresis', hysteresis);
    }
    const hold = options.qualityHold ?? QUALITY_HOLD;
    if (!Number.isInteger(hold) || hold < 0 || hold > 1000) {
      throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'integer in [0, 1000]', 'pipeline.qualityHold', hold);
    }
    const beam = options.maxBeamAngleDeg ?? MAX_BEAM_ANGLE;
    if (typeof beam !== 'number' || !(beam > 0 && beam <= 90)) {
      throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'number in (0, 90]', 'pipeline.maxBeamAngleDeg', beam);
    }
    const vq = await verifyWith(options, options.viewQuality);
    const seg = options.segmentation === undefined ? undefined : await verifyWith(options, options.segmentation);
    return new Pipeline(options, vq, seg);
  }

  /** Loads the models for one stream's geometry and returns the stream. */
  async openStream(geometry: StreamGeometry, onResult: (r: Processed<FrameInfo & { data: FrameData }, PipelineResult>) => void,
    onError?: (frame: FrameInfo, err: unknown) => void): Promise<Stream> {
    return new Stream(await this.openProcessor(geometry), onResult, onError);
  }

  /**
   * Loads the models for one stream's geometry, without a scheduler (the caller processes one frame at a time).
   * `packages` replaces the pipeline's own package of a task (models swapped in since start); a segmentation
   * package is used only when the pipeline segments.
   */
  async openProcessor(geometry: StreamGeometry, packages: { viewQuality?: VerifiedPackage; segmentation?: VerifiedPackage } = {}): Promise<StreamProcessor> {
    const vq = await this.loadRunner(packages.viewQuality ?? this.viewQuality, geometry);
    let seg: ModelRunner | undefined;
    try {
      seg = this.segmentation ? await this.loadRunner(packages.segmentation ?? this.segmentation, geometry) : undefined;
    } catch (err) {
      await vq.close();
      throw err;
    }
    try {
      return new StreamProcessor(this.options, vq, seg);
    } catch (err) {
      // A package of the wrong task: its engines are closed, never left open.
      await vq.close();
      await seg?.close();
      throw err;
    }
  }

  /**
   * A runner of one verified package for a stream geometry with this pipeline's variant and engine options, on the
   * package variant's shared session (loaded and warmed by the first runner that needs it).
   */
  loadRunner(pkg: VerifiedPackage, geometry: StreamGeometry): Promise<ModelRunner> {
    return ModelRunner.create(pkg, this.options.variant ?? 'fp32', geometry, this.options.engine, this.sessions);
  }

  /** Verifies a package with this pipeline's trust settings. */
  verify(dir: string): Promise<VerifiedPackage> {
    return verifyWith(this.options, dir);
  }
}

/**
 * The model input's pixel spacing in mm ([x, y]) and, for Cartesian frames, the map from model pixels to frame
 * pixels ([x0, sx, y0, sy]: frame x = x0 + sx * model x), from the preprocessing plan's content rectangle
 * (docs/PREPROCESSING.md sections 3-5): a scan-converted sector's aspect is already in mm.
 */
export function modelPixelGeometry(pixelSpacingMm: StreamGeometry['pixelSpacingMm'], plan: GeometryOptions): { spacing: [number, number]; toFrame?: [number, number, number, number] } {
  const { rw, rh, aw, ah, cw, ch, ox, oy } = contentGeometry(plan);
  if (plan.scanConvert) return { spacing: [aw / cw, ah / ch] };
  const xy = spacingXY(pixelSpacingMm);
  const [spacingX, spacingY] = xy;
  // As the socket and replay bound it: past SPACING_RANGE_MM LV areas underflow to 0 or overflow to Infinity, and a
  // NaN spacing would give NaN volumes that poison the EF window.
  const bad = xy.findIndex((v) => !spacingInRange(v));
  if (bad >= 0) {
    throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', `millimetres per pixel in [${SPACING_RANGE_MM.min}, ${SPACING_RANGE_MM.max}]`,
      `geometry.pixelSpacingMm${typeof pixelSpacingMm === 'number' ? '' : `[${bad}]`}`, xy[bad]);
  }
  // Model pixel centre i samples source (i - ox + 0.5) * rw / cw - 0.5, plus the ROI's origin.
  return {
    spacing: [(spacingX * rw) / cw, (spacingY * rh) / ch],
    toFrame: [plan.roi.x + (0.5 - ox) * (rw / cw) - 0.5, rw / cw, plan.roi.y + (0.5 - oy) * (rh / ch) - 0.5, rh / ch],
  };
}

/** Verifies a package with a pipeline's trust settings. */
function verifyWith(options: Readonly<PipelineOptions>, dir: string): Promise<VerifiedPackage> {
  return verifyModelPackage(dir, { trustStore: options.trustStore, allowUnsigned: options.allowUnsigned });
}

type StreamFrame = FrameInfo & { data: FrameData };

/** The models one stream runs, and what is derived from their manifests (resolved once per model set). */
class ModelSet {
  readonly vq: ModelRunner;
  readonly seg?: ModelRunner;
  readonly views: string[];
  readonly guidanceLabels: string[];
  readonly probs: Float64Array;
  /** softmax(view logits / temperature): postprocessing.view.temperature, default 1. */
  readonly temperature: number;
  /** The id_score output's thresholds; absent when the package has no id_score output. */
  readonly idThresholds?: IdThresholds;
  /** postprocessing.view.thresholds.uncertain: the shown view's averaged probability under it is uncertain. */
  readonly viewUncertainBelow?: number;
  /** The segmentation package's EF calibration (manifest calibration.ef), if any. */
  readonly efCalibration?: EfCalibration;
  /** The segmentation package's calibration.lv_border, if any: the band is measured only then. */
  readonly lvBorder?: LvBorder;
  readonly guidance: Float64Array;
  /** postprocessing.view.mirror_check's margin (absent without one), the A4C label's index and the mirror's probabilities. */
  readonly mirrorMargin?: number;
  readonly a4c: number;
  readonly mirrorProbs: Float64Array;
  readonly mask?: MaskAnalyzer;
  /** The segmentation output tensor, its class count and the LV label's index. */
  readonly segOutput: string = '';
  readonly segClasses: number = 0;
  readonly lvLabel: number = 1;

  constructor(vq: ModelRunner, seg?: ModelRunner) {
    if (vq.package.manifest.task !== 'view_quality') {
      throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'a view_quality package', 'pipeline view and quality model', vq.package.manifest.task);
    }
    if (seg && seg.package.manifest.task !== 'lv_segmentation') {
      throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'an lv_segmentation package', 'pipeline segmentation model', seg.package.manifest.task);
    }
    this.vq = vq;
    this.seg = seg;
    const post = vq.package.manifest.postprocessing;
    this.views = (post.view?.labels as string[] | undefined) ?? [];
    this.guidanceLabels = (post.guidance?.labels as string[] | undefined) ?? [];
    this.probs = new Float64Array(this.views.length);
    this.guidance = new Float64Array(this.guidanceLabels.length);
    this.temperature = vq.post.temperature;
    this.idThresholds = vq.post.idThresholds;
    this.viewUncertainBelow = vq.post.viewUncertainBelow;
    this.mirrorMargin = vq.post.viewMirrorMargin;
    this.a4c = this.views.indexOf('A4C');
    this.mirrorProbs = new Float64Array(this.views.length);
    this.efCalibration = seg?.post.efCalibration;
    this.lvBorder = seg?.post.lvBorder;
    if (seg) {
      const out = seg.engine.outputs[0];
      const [, classes, h, w] = out.shape as number[];
      this.mask = new MaskAnalyzer(w, h);
      this.segOutput = out.name;
      this.segClasses = classes;
      const labels = (seg.package.manifest.postprocessing[out.name]?.labels as string[] | undefined) ?? [];
      this.lvLabel = labels.indexOf('lv') > 0 ? labels.indexOf('lv') : 1;
    }
  }

  runners(): ModelRunner[] {
    return this.seg ? [this.vq, this.seg] : [this.vq];
  }

  /** A fresh EF window with this set's calibration and LV border threshold. */
  ejectionFraction(): EjectionFraction {
    return new EjectionFraction({
      calibration: this.efCalibration,
      ...(this.lvBorder ? { borderThreshold: this.lvBorder.threshold } : {}),
    });
  }
}

/** A package's post-processing parameters beyond labels: view temperature, id_score thresholds, EF calibration, LV border band. */
export interface RunnerPostprocess {
  /** softmax(view logits / temperature); 1 unless postprocessing.view.temperature says otherwise. */
  temperature: number;
  /** A view package's id_score thresholds; absent without an id_score output. */
  idThresholds?: IdThresholds;
  /** A view package's postprocessing.view.thresholds.uncertain; absent without one. */
  viewUncertainBelow?: number;
  /** A segmentation package's calibration.ef. */
  efCalibration?: EfCalibration;
  /** A segmentation package's calibration.lv_border (low < high checked). */
  lvBorder?: LvBorder;
  /** A view package's postprocessing.quality.full_gain (src/pipeline/full-gain.ts); absent without one. */
  qualityFullGain?: FullGainSpec;
  /** A view package's postprocessing.view.mirror_check margin (its labels hold A4C); absent without one. */
  viewMirrorMargin?: number;
}

/** The view package options (postprocessing.<output>.<option>) and the one output each belongs to. */
const OUTPUT_OPTIONS: readonly (readonly [string, string])[] = [['full_gain', 'quality'], ['mirror_check', 'view']];

/** Reads (and checks what the schema cannot: the threshold order, output and thresholds together, lv_border's low < high) a manifest's post-processing. */
function runnerPostprocess(pkg: VerifiedPackage, outputs: readonly string[]): RunnerPostprocess {
  const m = pkg.manifest;
  const temperature = m.postprocessing.view?.temperature ?? 1;
  if (typeof temperature !== 'number' || !(temperature > 0) || !Number.isFinite(temperature)) {
    throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'a positive number', `postprocessing.view.temperature of package ${m.name}`, temperature);
  }
  const idThresholds = m.task === 'view_quality' ? idThresholdsOf(pkg, outputs) : undefined;
  // The schema checks its range, [0, 1].
  const viewUncertainBelow = m.task === 'view_quality'
    ? (m.postprocessing.view?.thresholds as { uncertain?: number } | undefined)?.uncertain : undefined;
  const cal = m.calibration as { ef?: { slope: number; intercept: number; residual_sd: number; trim?: number; interval?: EfInterval }; lv_border?: LvBorder } | undefined;
  const c = cal?.ef;
  const b = m.task === 'lv_segmentation' ? cal?.lv_border : undefined;
  // The schema holds each quality threshold to [0, 1]; the segmentation gate's bar may not be above the diagnostic one.
  if (m.task === 'view_quality') {
    const seg = qualityThresholdOf(pkg, 'segmentation');
    const diag = qualityThresholdOf(pkg, 'diagnostic') ?? QUALITY_THRESHOLD;
    if (seg !== undefined && !(seg <= diag)) {
      throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', `a number at most thresholds.diagnostic (${diag})`,
        `postprocessing.quality.thresholds.segmentation of package ${m.name}`, seg);
    }
  }
  const qualityFullGain = m.task === 'view_quality' ? fullGainOf(m.postprocessing.quality, m.name) : undefined;
  // The schema's shared postprocess definition admits each of these options on any output; only a view package's
  // output named here has it (the schema holds their values: full_gain's percentile, mirror_check's margin).
  for (const [name, post] of Object.entries(m.postprocessing)) {
    for (const [option, output] of OUTPUT_OPTIONS) {
      if (post?.[option] !== undefined && !(m.task === 'view_quality' && name === output)) {
        throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', `no ${option} (a view_quality package's ${output} output only)`, `postprocessing.${name}.${option} of package ${m.name}`, post[option]);
      }
    }
  }
  const viewPost = m.postprocessing.view;
  if (viewPost?.mirror_check !== undefined && !((viewPost.labels as string[] | undefined) ?? []).includes('A4C')) {
    throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'view labels that include A4C beside mirror_check', `postprocessing.view.labels of package ${m.name}`, viewPost.labels);
  }
  const viewMirrorMargin = m.task === 'view_quality' ? (m.postprocessing.view?.mirror_check as { margin?: number } | undefined)?.margin : undefined;
  // The schema checks each of low, high (in (0, 1)) and threshold (> 0); not their order.
  if (b && !(b.low < b.high)) {
    throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', '{low, high, threshold} with low < high', `calibration.lv_border of package ${m.name}`, b);
  }
  return {
    temperature,
    ...(idThresholds ? { idThresholds } : {}),
    ...(viewUncertainBelow !== undefined ? { viewUncertainBelow } : {}),
    ...(qualityFullGain ? { qualityFullGain } : {}),
    ...(viewMirrorMargin !== undefined ? { viewMirrorMargin } : {}),
    ...(c && m.task === 'lv_segmentation' ? { efCalibration: { slope: c.slope, intercept: c.intercept, residualSd: c.residual_sd, ...(c.trim !== undefined ? { trim: c.trim } : {}), ...(c.interval !== undefined ? { interval: c.interval } : {}) } } : {}),
    ...(b ? { lvBorder: { low: b.low, high: b.high, threshold: b.threshold } } : {}),
  };
}

/** The id_score thresholds of a view package with an id_score output; undefined without one. Both or neither. */
function idThresholdsOf(pkg: VerifiedPackage, outputs: readonly string[]): IdThresholds | undefined {
  const name = pkg.manifest.name;
  const hasOutput = outputs.includes('id_score');
  const post = pkg.manifest.postprocessing.id_score as { thresholds?: Record<string, unknown> } | undefined;
  if (!hasOutput && post === undefined) return undefined;
  if (!hasOutput) {
    throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'an id_score output beside postprocessing.id_score', `the outputs of package ${name}`, [...outputs]);
  }
  const t = post?.thresholds;
  const ok = t?.ok;
  const unknown = t?.unknown;
  if (typeof ok !== 'number' || typeof unknown !== 'number' || !(unknown >= 0 && unknown <= ok && ok <= 1)) {
    throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', '{ok, unknown} with 0 <= unknown <= ok <= 1',
      `postprocessing.id_score.thresholds of package ${name}`, t);
  }
  return { ok, unknown };
}

/**
 * One stream's per-frame work without scheduling: view and quality, then LV
 * segmentation when eligible, then EF. Frames must be processed one at a time
 * (a Stream's scheduler, or the socket server's, guarantees it). The models
 * can be replaced between frames (hot swap): a frame uses the set that was
 * current when it started.
 */
export class StreamProcessor {
  #set: ModelSet;
  #viewSmoother: ClassSmoother;
  /** The quality state (quality.good, the LOW_QUALITY flag) at the quality bar (qualityBar). */
  #quality: ScoreHysteresis;
  #id: InDistributionState | undefined;
  /** The view's state (viewState): uncertain while the shown view's averaged probability is under the package's threshold. */
  #viewState: InDistributionState | undefined;
  #ef: EjectionFraction;
  readonly #opts: Readonly<PipelineOptions>;
  readonly #segViews: readonly string[];
  /** The segmentation gate on the smoothed quality: opens at the segmentation bar (segmentationBar), closes below its exit. */
  #segGate: Latch;
  readonly #segStride: number;
  readonly #maxBeam: number;
  #inFlight: Promise<unknown> = Promise.resolve();
  #eligible = 0;
  #lastShown = '';
  #closed = false;

  constructor(options: Readonly<PipelineOptions>, vq: ModelRunner, seg?: ModelRunner) {
    this.#opts = options;
    this.#set = new ModelSet(vq, seg);
    this.#viewSmoother = new ClassSmoother(this.#set.views.length);
    this.#id = this.#set.idThresholds ? new InDistributionState(this.#set.idThresholds) : undefined;
    this.#viewState = viewState(this.#set.viewUncertainBelow);
    this.#ef = this.#set.ejectionFraction();
    this.#segViews = options.segmentationViews ?? SEGMENTATION_VIEWS;
    this.#quality = this.#qualityState(vq);
    this.#segGate = this.#gate(vq);
    this.#segStride = options.segmentationStride ?? 1;
    this.#maxBeam = options.maxBeamAngleDeg ?? MAX_BEAM_ANGLE;
  }

  /** A fresh quality state at the quality bar of these options and this view package (qualityBar). */
  #qualityState(vq: ModelRunner): ScoreHysteresis {
    return new ScoreHysteresis(qualityBar(this.#opts, vq.package));
  }

  /** A fresh segmentation gate at the segmentation bar of these options and this view package (segmentationBar). */
  #gate(vq: ModelRunner): Latch {
    const { enter, exit } = segmentationBar(this.#opts, vq.package);
    return new Latch(enter, exit, 'the segmentation gate', this.#opts.qualityHold ?? QUALITY_HOLD);
  }

  /** The runners in use now (view and quality first). */
  get runners(): ModelRunner[] {
    return this.#set.runners();
  }

  /** Processes one frame; `stage` times each step. */
  process(f: StreamFrame, stage: StageTimer): Promise<PipelineResult> {
    if (this.#closed) return Promise.reject(new Error('Expected an open stream but received a frame after close()'));
    const run = this.#process(this.#set, f, stage);
    this.#inFlight = run.catch(() => undefined);
    return run;
  }

  /**
   * Makes `runner` the model for its task from the next frame on (atomically:
   * the frame in flight finishes on the old set), then closes the runner it
   * replaced. A view model with a different label set restarts the smoothing;
   * a new view model restarts the in-distribution state (its score is its own),
   * the quality state (its smoothing too: the score is its model's own) when its
   * quality bar differs, and the segmentation gate when its segmentation bar differs;
   * a new segmentation model restarts the EF window (with its calibration and LV border threshold).
   */
  async replace(runner: ModelRunner): Promise<ModelRunner | undefined> {
    const old = this.#set;
    const isVq = runner.package.manifest.task === 'view_quality';
    const next = isVq ? new ModelSet(runner, old.seg) : new ModelSet(old.vq, runner);
    this.#set = next;
    if (next.views.length !== old.views.length || next.views.some((v, i) => v !== old.views[i])) {
      this.#viewSmoother = new ClassSmoother(next.views.length);
    }
    if (isVq) {
      this.#id = next.idThresholds ? new InDistributionState(next.idThresholds) : undefined;
      this.#viewState = viewState(next.viewUncertainBelow);
      if (qualityBar(this.#opts, runner.package).enter !== this.#quality.enter) this.#quality = this.#qualityState(runner);
      if (segmentationBar(this.#opts, runner.package).enter !== this.#segGate.enter) this.#segGate = this.#gate(runner);
    } else {
      this.#ef = next.ejectionFraction();
    }
    await this.#inFlight;
    const replaced = isVq ? old.vq : old.seg;
    if (replaced && replaced !== runner) await replaced.close();
    return replaced;
  }

  async #process(m: ModelSet, f: StreamFrame, stage: StageTimer): Promise<PipelineResult> {
    await m.vq.infer(f.data, stage);
    const out = m.vq.outputs;
    // The id_score's shown state: the EF counts its uncertain frames, not the view state's.
    let idShown: ResultState = 'ok';
    const result = await stage('view_quality.postprocess', () => {
      softmax(out.view, m.probs, 0, m.probs.length, m.temperature);
      const best = argmaxIndex(m.probs);
      const shownIndex = this.#viewSmoother.update(m.probs);
      const shown = m.views[shownIndex];
      const changed = this.#lastShown !== '' && shown !== this.#lastShown;
      this.#lastShown = shown;
      const score = m.vq.quality();
      const q = this.#quality.update(score);
      // A frame still running on a view model swapped out since may lack the output the current tracker reads.
      const id = out.id_score && this.#id ? this.#id.update(out.id_score[0]) : undefined;
      const vs = this.#viewState?.update(this.#viewSmoother.probabilities[shownIndex]);
      idShown = id?.shown ?? 'ok';
      const r: PipelineResult = {
        seq: f.seq,
        acquiredAt: f.acquiredAt,
        view: {
          label: m.views[best], confidence: m.probs[best], shown, shownConfidence: m.probs[shownIndex], changed, probabilities: Array.from(m.probs),
          ...(vs ? { uncertain: vs.shown !== 'ok' } : {}),
        },
        quality: { score, smoothed: q.value, good: q.good, ...(m.vq.fullGain ? { displayed: out.quality[0] } : {}) },
        state: worseState(id?.shown ?? 'ok', vs?.shown ?? 'ok'),
        idScore: id?.smoothed ?? null,
        idScoreRaw: id?.score ?? null,
        frameState: id?.frame ?? 'ok',
      };
      if (out.guidance && m.guidance.length > 0) {
        softmax(out.guidance, m.guidance);
        const g = argmaxIndex(m.guidance);
        r.guidance = { label: flipGuidance(m.guidanceLabels[g], m.vq.flip), confidence: m.guidance[g] };
      }
      return r;
    });

    const seg = m.seg;
    const mask = m.mask;
    if (seg && mask) {
      // Gating (docs/PROTOCOL.md, "Result state"): nothing is segmented while the shown state is unknown, and the EF
      // window empties, so no EF ever spans an unknown stretch. Other ineligible frames are bridged by the EF window
      // (EjectionFraction: up to 3 in a row), so a frame without an LV does not lose the EF; a flip to the other apical
      // view is measured into the window (viewHold), and a quality dip on an apical view is held open by the gate
      // itself (qualityHold) and measured, marked belowGate.
      const ef = this.#ef;
      if (result.state === 'unknown') {
        this.#eligible = 0;
        this.#segGate.close();
        ef.reset('the in-distribution state is unknown');
        result.lvSkipped = 'unknown';
        return result;
      }
      // A view output that is not a number says nothing about this frame: the shown view is the one held from before.
      const viewOk = m.probs.every(Number.isFinite);
      const apical = viewOk && this.#segViews.includes(result.view.shown);
      const q = result.quality.smoothed;
      const gate = this.#segGate.threshold;
      let measured = false;
      if (!(apical ? this.#segGate.update(q) : this.#segGate.close())) {
        this.#eligible = 0;
        const skipped = !viewOk ? 'view_not_a_number' : !apical ? 'view' : Number.isNaN(q) ? 'quality_not_a_number' : 'quality';
        result.lvSkipped = skipped;
        ef.skip(f.seq, skipped === 'view_not_a_number' ? 'view output not a number' : skipped === 'view' ? `view ${result.view.shown}`
          : skipped === 'quality_not_a_number' ? 'quality not a number' : `quality ${q.toFixed(2)} below ${+gate.toFixed(3)}`);
        measured = true;
      } else if (this.#eligible++ % this.#segStride !== 0) {
        result.lvSkipped = 'stride';
      } else if (m.mirrorMargin !== undefined && await this.#mirrored(m, m.mirrorMargin, result, stage)) {
        // A four-chamber heart shown mirrored (postprocessing.view.mirror_check): nothing drawn, nothing measured.
        ef.skip(f.seq, 'the heart reads as a four-chamber view mirrored left-right');
        measured = true;
      } else {
        await seg.infer(f.data, stage);
        await stage('lv_segmentation.postprocess', () => {
          const labels = mask.argmax(seg.outputs[m.segOutput], m.segClasses);
          const comp = mask.largestComponent(labels, m.lvLabel);
          const [sx, sy] = seg.spacingMm;
          // One scan of the mask for its axis, shared by the beam angle and the area-length.
          const axis = principalAxis(comp.mask, mask.width, seg.spacingMm);
          const beam = beamAngleDeg(comp.mask, mask.width, seg.spacingMm, axis);
          if (beam !== null && beam > this.#maxBeam && APICAL_VIEWS.has(result.view.shown)) {
            // Not the LV an apical view shows (maxBeamAngleDeg): nothing drawn, nothing measured.
            result.lvRejected = { code: 'LV_ACROSS_BEAM', beamAngleDeg: beam };
            ef.skip(f.seq, `LV ${beam.toFixed(0)} degrees across the beam (at most ${this.#maxBeam})`);
            return;
          }
          const geo = areaLength(comp.mask, mask.width, seg.spacingMm, axis);
          // The outline and mask in the frame's orientation (a stream's flip undone); axis, beam angle and area-length
          // are measured on the models' orientation, which a flip does not change.
          const contour = flipPolygon(simplifyPolygon(mask.contour(comp.mask), this.#opts.contourEpsilon ?? 0.75), mask.width, mask.height, seg.flip);
          result.lv = {
            areaMm2: comp.area * sx * sy, lengthMm: geo.lengthMm, contour, pixels: comp.area, beamAngleDeg: beam,
            mask: { width: mask.width, height: mask.height, data: flipMask(comp.mask, mask.width, mask.height, seg.flip) },
          };
          const inFrame = seg.toFrame(contour);
          if (inFrame) result.lv.contourFrame = inFrame;
          // The LV border band (calibration.lv_border): only for a package that has one.
          const border = m.lvBorder;
          const borderBand = border ? mask.borderBand(seg.outputs[m.segOutput], m.segClasses, m.lvLabel, comp.mask, border) ?? null : undefined;
          if (borderBand !== undefined) result.lv.borderBand = borderBand;
          if (result.frameState === 'unknown') ef.skip(f.seq, 'this frame is out of distribution');
          else {
            // The id_score's uncertain frames lower the EF's quality; the view's do not: which apical view a frame is
            // drawn from does not change its LV volume (training/RESULTS.md, thirty-sixth wave).
            const uncertain = result.frameState === 'uncertain' || idShown === 'uncertain';
            // Under the quality bar: a frame of a dip the gate holds open, or one a segmentation bar under the
            // quality bar lets through while the quality state is poor (segmentationBar). At one bar for both only
            // held frames count, as before this option (a frame back over the exit after a held dip is poor until
            // the bar again, and not counted).
            const belowGate = this.#segGate.held || (this.#segGate.enter < this.#quality.enter && !result.quality.good);
            ef.push(f.seq, comp.area >= MIN_LV_PIXELS ? geo : undefined, { view: result.view.shown, uncertain, borderBand, belowGate });
          }
        });
        measured = true;
      }
      const r = ef.result();
      // A frame between two segmented ones (segmentationStride) confirms nothing.
      result.ef = measured ? r : { ...r, edConfirmed: null, esConfirmed: null };
    }
    return result;
  }

  /**
   * postprocessing.view.mirror_check: whether the view model reads this frame's mirror image as a four-chamber view
   * that is more A4C than the frame and of higher quality by more than the margin (then result.lvRejected says so).
   */
  async #mirrored(m: ModelSet, margin: number, result: PipelineResult, stage: StageTimer): Promise<boolean> {
    const quality = await m.vq.mirror(stage, m.mirrorProbs, m.temperature);
    const mp = m.mirrorProbs;
    const own = result.view.probabilities[m.a4c];
    if (!(argmaxIndex(mp) === m.a4c && mp[m.a4c] > own && quality > result.quality.score + margin)) return false;
    result.lvRejected = { code: 'LV_MIRRORED', mirrorA4C: mp[m.a4c], mirrorQuality: quality };
    return true;
  }

  /** Waits for the frame in flight, then closes the engines. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#inFlight;
    for (const r of this.#set.runners()) await r.close();
  }
}

/** One stream: latest frame wins; results in sequence order; per-stage timings. */
export class Stream {
  readonly processor: StreamProcessor;
  readonly #scheduler: LatestWinsScheduler<StreamFrame, PipelineResult>;

  /** @internal */
  constructor(processor: StreamProcessor, onResult: (r: Processed<StreamFrame, PipelineResult>) => void,
    onError?: (frame: FrameInfo, err: unknown) => void) {
    this.processor = processor;
    this.#scheduler = new LatestWinsScheduler<StreamFrame, PipelineResult>({
      process: (f, stage) => processor.process(f, stage),
      onResult,
      onError,
    });
  }

  get stats(): SchedulerStats {
    return this.#scheduler.stats;
  }

  /** Offers a frame; returns false when it replaced a frame that was still waiting. */
  submit(data: FrameData, seq: number, acquiredAt = performance.now()): boolean {
    return this.#scheduler.submit({ data, seq, acquiredAt });
  }

  idle(): Promise<void> {
    return this.#scheduler.idle();
  }

  /** Stops the stream: drops a waiting frame, finishes the running one, closes its engines. */
  async close(): Promise<void> {
    await this.#scheduler.close();
    await this.processor.close();
  }
}

export { LatestWinsScheduler } from './scheduler.js';
export { SessionPool, type SessionInfo, type SessionLease } from './sessions.js';
export type { FrameInfo, Processed, SchedulerStats, Timing } from './scheduler.js';
