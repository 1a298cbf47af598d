// The real-time pipeline: verified model packages, each with its own
// preprocessing plan writing straight into the engine's bound input tensor,
// a model graph (view and quality on every frame; LV segmentation on apical
// views of good enough quality, every Nth frame; EF over the cine), display
// smoothing, and latest-frame-wins scheduling per stream.
import { Engine, type EngineOptions } from '../engine/index.js';
import { invalidValue } from '../errors.js';
import { verifyModelPackage, type TrustStore, type VerifiedPackage } from '../model/package.js';
import { Preprocessor, type FrameData, type PreprocessOptions, type OutputArray } from '../preprocess/index.js';
import type { InputGeometry, Roi, ScanConversion } from '../preprocess/options.js';
import { checkKeys } from '../util/options.js';
import {
  ClassSmoother, EjectionFraction, MaskAnalyzer, ScoreHysteresis, areaLength, simplifyPolygon, softmax,
  type EjectionFractionResult,
} from './postprocess.js';
import { LatestWinsScheduler, type FrameInfo, type Processed, type SchedulerStats } from './scheduler.js';

/** What a stream's frames look like, and where the image sector lies in them. */
export interface StreamGeometry {
  input: InputGeometry;
  /** Millimetres per source pixel (square pixels), from the scanner or DICOM. */
  pixelSpacingMm: number;
  /** The image sector's bounding box on the screen (crop = sector_bounding_box); default the whole frame. */
  sectorRoi?: Roi;
  /** Frames are polar (lines x samples): scan-convert with this sector geometry. */
  scanConversion?: ScanConversion;
}

/** One model package variant bound to one stream geometry: preprocess -> engine -> raw outputs. */
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
  readonly #bound: ReturnType<Engine['bind']>;

  private constructor(pkg: VerifiedPackage, variant: string, engine: Engine, pre: Preprocessor, input: OutputArray,
    outputs: Record<string, Float32Array>, spacing: [number, number]) {
    this.package = pkg;
    this.variant = variant;
    this.engine = engine;
    this.preprocessor = pre;
    this.input = input;
    this.outputs = outputs;
    this.spacingMm = spacing;
    this.#bound = engine.bind({ [pkg.manifest.preprocessing.input]: input as Float32Array }, outputs);
  }

  static async create(pkg: VerifiedPackage, variant: string, geometry: StreamGeometry, engineOptions: EngineOptions = {}): Promise<ModelRunner> {
    const m = pkg.manifest;
    const p = m.preprocessing;
    const roi = p.crop === 'sector_bounding_box' && geometry.sectorRoi !== undefined ? geometry.sectorRoi : undefined;
    const opts: PreprocessOptions = {
      ...(p.options as Omit<PreprocessOptions, 'input'>),
      input: geometry.input,
      ...(roi ? { roi } : {}),
      ...(geometry.scanConversion ? { scanConversion: geometry.scanConversion } : {}),
    };
    const pre = new Preprocessor(opts);
    const engine = await Engine.load({ package: pkg, variant }, engineOptions);
    const input = pre.createOutput();
    const outputs: Record<string, Float32Array> = {};
    for (const o of engine.outputs) {
      const n = o.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1);
      outputs[o.name] = new Float32Array(n);
    }
    const rw = roi?.width ?? geometry.input.width;
    const rh = roi?.height ?? geometry.input.height;
    const out = pre.options;
    const spacing: [number, number] = geometry.scanConversion
      ? [0, 0] // set below from the sector's bounding box
      : [(geometry.pixelSpacingMm * rw) / out.outWidth, (geometry.pixelSpacingMm * rh) / out.outHeight];
    if (geometry.scanConversion) {
      const s = geometry.scanConversion;
      const xs = [s.depthStart * Math.sin(s.angleStart), s.depthEnd * Math.sin(s.angleStart), s.depthStart * Math.sin(s.angleEnd), s.depthEnd * Math.sin(s.angleEnd)];
      const zs = [s.depthStart * Math.cos(s.angleStart), s.depthEnd * Math.cos(s.angleStart), s.depthStart * Math.cos(s.angleEnd), s.depthEnd * Math.cos(s.angleEnd)];
      if (s.angleStart <= 0 && s.angleEnd >= 0) zs.push(s.depthEnd);
      spacing[0] = (Math.max(...xs) - Math.min(...xs)) / out.outWidth;
      spacing[1] = (Math.max(...zs) - Math.min(...zs)) / out.outHeight;
    }
    return new ModelRunner(pkg, variant, engine, pre, input, outputs, spacing);
  }

  /** Preprocesses `frame` into the input tensor (synchronously: one pass, no allocation), then runs the model. */
  async infer(frame: FrameData, stage: (name: string, fn: () => unknown) => Promise<unknown>): Promise<void> {
    await stage(`${this.package.manifest.task}.preprocess`, () => this.preprocessor.run(frame, this.input));
    await stage(`${this.package.manifest.task}.engine`, () => this.#bound.run());
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}

export interface PipelineResult {
  seq: number;
  acquiredAt: number;
  view: { label: string; confidence: number; shown: string; probabilities: number[] };
  quality: { score: number; smoothed: number; good: boolean };
  guidance?: { label: string; confidence: number };
  /** Present on frames where segmentation ran. */
  lv?: { areaMm2: number; lengthMm: number; contour: number[]; pixels: number };
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
  /** Smoothed quality needed for segmentation (default 0.5). */
  qualityThreshold?: number;
  /** Contour simplification tolerance in model pixels (default 0.75). */
  contourEpsilon?: number;
}

const PIPELINE_KEYS = ['viewQuality', 'segmentation', 'variant', 'trustStore', 'allowUnsigned', 'engine',
  'segmentationStride', 'segmentationViews', 'qualityThreshold', 'contourEpsilon'] as const;

/** Verified packages, ready to open streams. */
export class Pipeline {
  readonly options: Readonly<PipelineOptions>;
  readonly viewQuality: VerifiedPackage;
  readonly segmentation?: VerifiedPackage;

  private constructor(options: PipelineOptions, vq: VerifiedPackage, seg?: VerifiedPackage) {
    this.options = Object.freeze({ ...options });
    this.viewQuality = vq;
    this.segmentation = seg;
  }

  /** Verifies the packages (schema, checksums, signature): a bad package is refused before anything loads. */
  static async create(options: PipelineOptions): Promise<Pipeline> {
    checkKeys(options, 'pipeline', PIPELINE_KEYS);
    const stride = options.segmentationStride ?? 1;
    if (!Number.isInteger(stride) || stride < 1) {
      throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'positive integer', 'pipeline.segmentationStride', stride);
    }
    const verify = (dir: string) => verifyModelPackage(dir, { trustStore: options.trustStore, allowUnsigned: options.allowUnsigned });
    const vq = await verify(options.viewQuality);
    const seg = options.segmentation === undefined ? undefined : await verify(options.segmentation);
    return new Pipeline(options, vq, seg);
  }

  /** Loads the models for one stream's geometry and returns the stream. */
  async openStream(geometry: StreamGeometry, onResult: (r: Processed<FrameInfo & { data: FrameData }, PipelineResult>) => void,
    onError?: (frame: FrameInfo, err: unknown) => void): Promise<Stream> {
    const variant = this.options.variant ?? 'fp32';
    const vq = await ModelRunner.create(this.viewQuality, variant, geometry, this.options.engine);
    const seg = this.segmentation ? await ModelRunner.create(this.segmentation, variant, geometry, this.options.engine) : undefined;
    return new Stream(this, vq, seg, onResult, onError);
  }
}

type StreamFrame = FrameInfo & { data: FrameData };

/** One stream: latest frame wins; results in sequence order; per-stage timings. */
export class Stream {
  readonly #vq: ModelRunner;
  readonly #seg?: ModelRunner;
  readonly #scheduler: LatestWinsScheduler<StreamFrame, PipelineResult>;
  readonly #views: string[];
  readonly #viewSmoother: ClassSmoother;
  readonly #quality = new ScoreHysteresis();
  readonly #probs: Float64Array;
  readonly #guidance: Float64Array;
  readonly #ef = new EjectionFraction();
  readonly #mask?: MaskAnalyzer;
  readonly #opts: Readonly<PipelineOptions>;
  readonly #segViews: readonly string[];
  readonly #segQuality: number;
  readonly #segStride: number;
  /** The segmentation output tensor, its class count and the LV label's index (resolved once). */
  readonly #segOutput: string = '';
  readonly #segClasses: number = 0;
  readonly #lvLabel: number = 1;
  #eligible = 0;
  #lastShown = '';

  /** @internal */
  constructor(pipeline: Pipeline, vq: ModelRunner, seg: ModelRunner | undefined,
    onResult: (r: Processed<StreamFrame, PipelineResult>) => void, onError?: (frame: FrameInfo, err: unknown) => void) {
    this.#vq = vq;
    this.#seg = seg;
    this.#opts = pipeline.options;
    const post = vq.package.manifest.postprocessing;
    this.#views = (post.view?.labels as string[] | undefined) ?? [];
    this.#viewSmoother = new ClassSmoother(this.#views.length);
    this.#probs = new Float64Array(this.#views.length);
    this.#guidance = new Float64Array(((post.guidance?.labels as string[] | undefined) ?? []).length);
    this.#segViews = this.#opts.segmentationViews ?? ['A4C', 'A2C'];
    this.#segQuality = this.#opts.qualityThreshold ?? 0.5;
    this.#segStride = this.#opts.segmentationStride ?? 1;
    if (seg) {
      const out = seg.engine.outputs[0];
      const [, classes, h, w] = out.shape as number[];
      this.#mask = new MaskAnalyzer(w, h);
      this.#segOutput = out.name;
      this.#segClasses = classes;
      const labels = (seg.package.manifest.postprocessing[out.name]?.labels as string[] | undefined) ?? [];
      this.#lvLabel = labels.indexOf('lv') > 0 ? labels.indexOf('lv') : 1;
    }
    this.#scheduler = new LatestWinsScheduler<StreamFrame, PipelineResult>({
      process: (f, stage) => this.#process(f, stage),
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

  async #process(f: StreamFrame, stage: (name: string, fn: () => unknown) => Promise<unknown>): Promise<PipelineResult> {
    await this.#vq.infer(f.data, stage);
    const out = this.#vq.outputs;
    const post = this.#vq.package.manifest.postprocessing;
    const result = await stage('view_quality.postprocess', () => {
      softmax(out.view, this.#probs);
      let best = 0;
      for (let i = 1; i < this.#probs.length; i++) if (this.#probs[i] > this.#probs[best]) best = i;
      const shownIndex = this.#viewSmoother.update(this.#probs);
      const score = out.quality[0];
      const q = this.#quality.update(score);
      const r: PipelineResult = {
        seq: f.seq,
        acquiredAt: f.acquiredAt,
        view: { label: this.#views[best], confidence: this.#probs[best], shown: this.#views[shownIndex], probabilities: Array.from(this.#probs) },
        quality: { score, smoothed: q.value, good: q.good },
      };
      if (out.guidance && this.#guidance.length > 0) {
        softmax(out.guidance, this.#guidance);
        let g = 0;
        for (let i = 1; i < this.#guidance.length; i++) if (this.#guidance[i] > this.#guidance[g]) g = i;
        r.guidance = { label: (post.guidance.labels as string[])[g], confidence: this.#guidance[g] };
      }
      return r;
    }) as PipelineResult;

    if (this.#seg && this.#mask) {
      const eligible = this.#segViews.includes(result.view.shown) && result.quality.smoothed >= this.#segQuality;
      if (result.view.shown !== this.#lastShown) this.#ef.reset();
      this.#lastShown = result.view.shown;
      if (!eligible) {
        this.#eligible = 0;
      } else if (this.#eligible++ % this.#segStride === 0) {
        await this.#seg.infer(f.data, stage);
        const seg = this.#seg;
        const mask = this.#mask;
        await stage('lv_segmentation.postprocess', () => {
          const labels = mask.argmax(seg.outputs[this.#segOutput], this.#segClasses);
          const comp = mask.largestComponent(labels, this.#lvLabel);
          const [sx, sy] = seg.spacingMm;
          const geo = areaLength(comp.mask, mask.width, Math.sqrt(sx * sy));
          const areaMm2 = comp.area * sx * sy;
          const contour = simplifyPolygon(mask.contour(comp.mask), this.#opts.contourEpsilon ?? 0.75);
          result.lv = { areaMm2, lengthMm: geo.lengthMm, contour, pixels: comp.area };
          this.#ef.push(f.seq, comp.area >= 3 ? { areaMm2, lengthMm: geo.lengthMm } : undefined);
          result.ef = this.#ef.result();
        });
      }
    }
    return result;
  }

  /** Stops the stream: drops a waiting frame, finishes the running one, closes its engines. */
  async close(): Promise<void> {
    await this.#scheduler.close();
    await this.#vq.close();
    await this.#seg?.close();
  }
}

export { LatestWinsScheduler } from './scheduler.js';
export type { FrameInfo, Processed, SchedulerStats, Timing } from './scheduler.js';
