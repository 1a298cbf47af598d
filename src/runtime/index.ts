// The runtime: the socket server (and, optionally, the serial link) wired to
// the real pipeline. Streams belong to one StreamManager (src/runtime/
// streams.ts), which the socket server drives; each configured stream gets
// its own models, loaded for its geometry before the CONFIGURE_STREAM reply
// (or, with autoSector, once its sector is found). Results fan out through one
// ResultPublisher (src/runtime/publisher.ts): the socket subscribers, the
// serial line and any other consumer (`runtime.publisher.subscribe(...)`). Model packages are loaded beside the running ones
// (verified, then loaded and warmed for every open stream) and swapped in
// atomically between frames; a package that fails anywhere on the way leaves
// the running models in place.
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { ErrorCode } from '../errors.js';
import { Pipeline, qualityBar, StreamProcessor as StreamProcessorClass, type ModelRunner, type PipelineOptions, type PipelineResult, type StreamGeometry, type StreamProcessor } from '../pipeline/index.js';
import { checkContract, verifyPackageGraphs } from '../model/graph.js';
import type { VerifiedPackage } from '../model/package.js';
import type { StageTimer } from '../pipeline/scheduler.js';
import { ResultFlag, type RuntimeStateName } from '../protocol/constants.js';
import { WireError } from '../protocol/errors.js';
import type { ConfigureStream, LoadModel, ModelReply, OutboxStatus, ResultBody, Swap } from '../protocol/messages.js';
import type { SectorResult } from '../preprocess/sector.js';
import type { CommandRecord } from '../protocol/serial.js';
import { SerialLink, type SerialLinkOptions } from '../transport/serial-link.js';
import { SocketServer, type ModelControl, type SocketServerOptions } from '../transport/socket-server.js';
import type { FrameResult } from '../transport/types.js';
import { ResultPublisher } from './publisher.js';
import { StreamManager, type ServerFrame } from './streams.js';
import { PipelineWatchdog, type ProgressProbe } from './supervision.js';
import { warmupFrame } from './warmup.js';
import { DicomService, type DicomServiceConfig } from '../dicom/service.js';
import { modelUse } from '../dicom/capture.js';
import type { StudyAttributes } from '../dicom/writer.js';

export { ResultPublisher, type BackPressure, type ResultConsumer, type Subscription, type SubscriptionStats } from './publisher.js';
export { StreamManager, type ManagedStream, type StreamOwner } from './streams.js';

export type Task = 'view_quality' | 'lv_segmentation';

/**
 * Sees each frame the pipeline ran, with its result, on the frame's own turn and before its pixels go back (a socket
 * buffer or a shared-memory slot): copy what you keep, and keep it cheap (the live viewer, DICOM capture).
 */
export type FrameObserver = (frame: ServerFrame, result: FrameResult) => void;

export interface RuntimeOptions {
  pipeline: PipelineOptions;
  /** The socket server's options; its `log` (serve: the "socket" component's logger) defaults to the runtime's. */
  socket: Omit<SocketServerOptions, 'handler' | 'models' | 'prepare' | 'streams' | 'outbox'>;
  serial?: Omit<SerialLinkOptions, 'runtime' | 'onCommand'>;
  /** Model sets 1, 2, ... for the serial CMD_SELECT_MODEL_SET; set 0 is the pipeline's own packages. */
  modelSets?: { viewQuality: string; segmentation?: string }[];
  /** Consecutive failed frames after which the runtime reports itself faulted (the heartbeat stops); default 5. */
  faultAfter?: number;
  /** close(): how long a client that does not close its side keeps its connection after SHUTTING_DOWN; default 1000 ms. */
  shutdownGraceMs?: number;
  /** close(): steps still running after this long are abandoned (logged by name); default 10000 ms. */
  shutdownTimeoutMs?: number;
  log?: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
  /** DICOM capture (serve's `dicom` section): the best clip per view of each stream, written or sent when it closes. */
  dicom?: DicomServiceConfig;
}

/** A coded failure of a model operation (LOAD_MODEL, SWAP, a model set): the running models are unchanged. */
export class ModelControlError extends Error {
  readonly code: Extract<ErrorCode, 'ERR_SONOEDGE_MODEL_UNKNOWN' | 'ERR_SONOEDGE_MODEL_LOAD'>;
  constructor(code: ModelControlError['code'], message: string) {
    super(message);
    this.name = 'ModelControlError';
    this.code = code;
  }
}

interface LoadedModel {
  id: string;
  pkg: VerifiedPackage;
  task: Task;
  /** Runners already loaded and warmed for open streams, waiting for SWAP. */
  prepared: Map<number, Promise<ModelRunner>>;
}

interface StreamEntry {
  config: ConfigureStream;
  processor: Promise<StreamProcessor>;
  /** With DICOM capture: the patient and study of this configuration's captures (resolved once). */
  study?: StudyAttributes;
}

const noop = (): void => undefined;
/** Warm-up frames run through a stream's models before its CONFIGURE_STREAM reply (JavaScript's JIT needs a few). */
const WARMUP_FRAMES = 3;
const NO_LOG = { info: noop, warn: noop, error: noop, debug: noop } as unknown as Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;

export function geometryOf(c: ConfigureStream): StreamGeometry {
  return {
    input: { width: c.width, height: c.height, format: c.format, ...(c.stride !== undefined ? { stride: c.stride } : {}), ...(c.uvOffset !== undefined ? { uvOffset: c.uvOffset } : {}) },
    pixelSpacingMm: [c.spacing[0], c.spacing[1]],
    ...(c.roi ? { sectorRoi: c.roi } : {}),
    ...(c.sector ? { scanConversion: c.sector } : {}),
    ...(c.flip && c.flip !== 'none' ? { flip: c.flip } : {}),
  };
}

const idOf = (pkg: VerifiedPackage): string => `${pkg.manifest.name}@${pkg.manifest.version}`;
/**
 * The serial HEARTBEAT/STATUS PACS bits of an outbox: bit 2 its last try failed; bit 3 objects held back or in failed/
 * now (inFailed, not `failed`, the moves since start: set after a restart while failed/ holds objects, clear once an
 * operator has removed them).
 */
const pacsFlags = (o: OutboxStatus | null) => ({ pacsFailing: o?.lastTryFailed ?? false, pacsAttention: o !== null && (o.held > 0 || o.inFailed > 0) });
const withArticle = (task: Task): string => (task === 'lv_segmentation' ? `an ${task}` : `a ${task}`);

/** A verified package and its task, checked, not yet loaded. */
interface Verified { dir: string; pkg: VerifiedPackage; task: Task }

/**
 * What the socket protocol sends for one pipeline result. The in-distribution state goes as `state`, `idScore`
 * and the UNCERTAIN / UNKNOWN flags; ED / ES are flagged on the result that confirms them, with the confirmed
 * frame's seq in `edSeq` / `esSeq` (not the window's extremes, which move as the window slides).
 */
export function toFrameResult(r: PipelineResult): FrameResult {
  let flags = 0;
  if (!r.quality.good) flags |= ResultFlag.LOW_QUALITY;
  if (r.view.changed) flags |= ResultFlag.VIEW_CHANGED;
  if (r.lv) flags |= ResultFlag.HAS_LV_AREA;
  if (r.state === 'uncertain') flags |= ResultFlag.UNCERTAIN;
  if (r.state === 'unknown') flags |= ResultFlag.UNKNOWN;
  const valid = r.ef?.valid === true;
  if (valid) flags |= ResultFlag.HAS_EF;
  if (valid && r.ef!.quality === 'low') flags |= ResultFlag.EF_LOW_QUALITY;
  const edSeq = r.ef?.edConfirmed ?? null;
  const esSeq = r.ef?.esConfirmed ?? null;
  if (edSeq !== null) flags |= ResultFlag.ED;
  if (esSeq !== null) flags |= ResultFlag.ES;
  return {
    view: r.view.shown ?? null,
    // NaN when the model's output was not a number: no score, not a score of 0.
    confidence: Number.isFinite(r.view.shownConfidence) ? r.view.shownConfidence : null,
    quality: Number.isFinite(r.quality.smoothed) ? r.quality.smoothed : null,
    state: r.state,
    idScore: r.idScore,
    lvAreaMm2: r.lv?.areaMm2 ?? null,
    ef: valid ? r.ef!.ef : null,
    efCi: valid ? r.ef!.ci : null,
    edSeq,
    esSeq,
    flags,
    ...(r.lv?.contourFrame ? { contour: r.lv.contourFrame.map((v) => Math.round(v * 10) / 10) } : {}),
    ...(r.lv?.mask ? { mask: r.lv.mask } : {}),
  };
}

export class Runtime implements ModelControl {
  readonly server: SocketServer;
  /** Every stream, whatever transport opened it. */
  readonly streams: StreamManager;
  /** Every result, to every consumer: subscribe here (src/runtime/publisher.ts). */
  readonly publisher: ResultPublisher;
  readonly serial?: SerialLink;
  readonly pipeline: Pipeline;
  /** DICOM capture and PACS sending (`dicom` option), when configured. */
  readonly dicom: DicomService | undefined;
  readonly #o: RuntimeOptions;
  readonly #log: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
  readonly #streams = new Map<number, StreamEntry>();
  readonly #loaded = new Map<string, LoadedModel>();
  readonly #active: Record<Task, string | null> = { view_quality: null, lv_segmentation: null };
  /** Serialises model operations: one LOAD/SWAP/model-set at a time. */
  #modelOp: Promise<unknown> = Promise.resolve();
  #modelSet = 0;
  #failures = 0;
  #faultCode = 0;
  #state: RuntimeStateName = 'starting';
  /** Model loads in progress (stream models, LOAD_MODEL): progress for the watchdog. */
  #loading = 0;
  #watchdog: PipelineWatchdog | undefined;
  #closing: Promise<{ complete: boolean; pending: string[] }> | undefined;
  readonly #frameObservers = new Set<FrameObserver>();

  private constructor(options: RuntimeOptions, pipeline: Pipeline, dicom?: DicomService) {
    this.#o = options;
    this.#log = options.log ?? NO_LOG;
    this.pipeline = pipeline;
    this.dicom = dicom;
    for (const pkg of [pipeline.viewQuality, pipeline.segmentation]) {
      if (!pkg) continue;
      const m: LoadedModel = { id: idOf(pkg), pkg, task: pkg.manifest.task as Task, prepared: new Map() };
      this.#loaded.set(m.id, m);
      this.#active[m.task] = m.id;
    }
    this.publisher = new ResultPublisher({ onError: (consumer, err) => this.#log.warn({ err, consumer }, 'result consumer failed') });
    this.streams = new StreamManager({
      handler: (f, stage) => this.#handle(f, stage),
      prepare: async (stream, config) => { await this.#entry(stream, config).processor; },
      publisher: this.publisher,
    });
    this.server = new SocketServer({
      ...options.socket, streams: this.streams, models: this, outbox: () => this.outboxStatus, log: options.socket.log ?? this.#log,
    });
    this.streams.on('streamClosed', (id: number) => void this.#closeStream(id));
    this.streams.on('sectorFound', (stream: number, r: SectorResult) => {
      if (r.found) this.#log.info({ stream, roi: r.box, shape: r.shape.kind, confidence: r.confidence, frames: r.framesUsed }, 'stream sector found');
      else this.#log.warn({ stream, reason: r.reason, frames: r.framesUsed }, 'stream sector not found');
    });
    if (options.serial) {
      this.serial = new SerialLink({
        ...options.serial,
        runtime: () => ({
          state: this.#state, modelSet: this.#modelSet, streaming: this.server.runningStreams > 0, modelLoaded: true,
          framesProcessed: this.server.stats.framesProcessed, framesDropped: this.server.stats.framesDropped, faultCode: this.#faultCode,
          ...pacsFlags(this.outboxStatus),
        }),
        onCommand: (cmd) => this.#command(cmd),
        // One line per change of the link's state (lost, reopened), never per retry (src/transport/serial-link.ts).
        onLinkChange: (c) => (c.up ? this.#log.info({ path: options.serial?.path, reopens: c.reopens, downMs: c.downMs, attempts: c.attempts }, c.first ? 'serial link open' : 'serial link reopened')
          : this.#log.error({ err: c.err, path: options.serial?.path, retryInMs: c.retryInMs }, c.reason === 'open' ? 'serial link down at start: retrying' : 'serial link lost')),
        onRejected: (err, suppressed) => this.#log.warn({ code: err.wireName, message: err.message, cmdType: err.type ?? 0, cmdSeq: err.seq ?? 0, suppressed }, 'serial input rejected'),
      });
      // The serial line sends the newest result at its own rate: it never holds older ones.
      const serial = this.serial;
      this.publisher.subscribe({ name: 'serial', policy: 'keep-latest', deliver: (r: ResultBody) => serial.write(r) });
    }
  }

  /** Verifies the packages, listens on the socket, opens the serial link. */
  static async start(options: RuntimeOptions): Promise<Runtime> {
    const pipeline = await Pipeline.create(options.pipeline);
    // The packages' manifests against their task and their graphs now: streams load models only at CONFIGURE_STREAM.
    for (const pkg of [pipeline.viewQuality, pipeline.segmentation]) if (pkg) await verifyPackageGraphs(pkg, [options.pipeline.variant ?? 'fp32']);
    const log = options.log ?? NO_LOG;
    const dicom = options.dicom ? await DicomService.start(options.dicom, log) : undefined;
    const rt = new Runtime(options, pipeline, dicom);
    try {
      await rt.server.listen();
    } catch (err) {
      await dicom?.close(0);
      throw err;
    }
    try {
      await rt.serial?.open();
    } catch (err) {
      await rt.server.close();
      await dicom?.close(0);
      throw err;
    }
    rt.#setState('ready');
    rt.#log.info({ socket: rt.server.path, tcpPort: rt.server.tcpPort, serial: options.serial?.path, serialUp: rt.serial?.up, models: rt.#active }, 'runtime ready');
    return rt;
  }

  get state(): RuntimeStateName {
    return this.#state;
  }

  /** The PACS outbox as the firmware sees it (STATUS.outbox, the serial PACS flags); null without a PACS. */
  get outboxStatus(): OutboxStatus | null {
    const o = this.dicom?.outboxStats;
    return o ? { pending: o.pending, held: o.held, failed: o.failed, inFailed: o.inFailed, lastTryFailed: o.lastError !== null, lastErrorCode: o.lastErrorCode } : null;
  }

  /** The running models by task. */
  get active(): Readonly<Record<Task, string | null>> {
    return { ...this.#active };
  }

  /**
   * The quality bar now (the LOW_QUALITY flag's; segmentation's too unless the view package has a segmentation bar,
   * segmentationBar): the pipeline's options and the view package running (a package swapped in brings its own
   * postprocessing.quality.thresholds.diagnostic unless the options set qualityThreshold).
   */
  qualityBar(): { enter: number; exit: number } {
    return qualityBar(this.pipeline.options, this.#running('view_quality')?.pkg ?? this.pipeline.viewQuality);
  }

  /** The model running for `task` (undefined when none is). */
  #running(task: Task): LoadedModel | undefined {
    const id = this.#active[task];
    return id === null ? undefined : this.#loaded.get(id);
  }

  /** The running models: task, id, the variant loaded and the sha256 of its file (metrics, status). */
  runningModels(): { task: Task; id: string; variant: string; sha256: string }[] {
    const variant = this.pipeline.options.variant ?? 'fp32';
    const out: { task: Task; id: string; variant: string; sha256: string }[] = [];
    for (const task of ['view_quality', 'lv_segmentation'] as const) {
      const m = this.#running(task);
      if (m) out.push({ task, id: m.id, variant, sha256: m.pkg.manifest.variants[variant]?.sha256 ?? '' });
    }
    return out;
  }

  /** What the pipeline is doing, for the watchdog and metrics. */
  progress(): ProgressProbe {
    const f = this.streams.stats;
    return { completed: f.framesProcessed + f.framesFailed, busy: this.streams.busy, loading: this.#loading };
  }

  /**
   * Feeds `feed` (systemd's WATCHDOG=1) every `intervalMs` while the pipeline makes progress or is idle
   * (src/runtime/supervision.ts); stops at the end of close(). Logs when feeding stops and resumes.
   */
  startWatchdog(intervalMs: number, feed: () => void): PipelineWatchdog {
    this.#watchdog?.stop();
    this.#watchdog = new PipelineWatchdog({
      intervalMs, probe: () => this.progress(), feed,
      onChange: (healthy, why) => (healthy ? this.#log.info({ why }, 'watchdog fed again') : this.#log.error({ why }, 'pipeline stalled: watchdog not fed')),
    });
    this.#watchdog.start();
    return this.#watchdog;
  }

  get watchdog(): PipelineWatchdog | undefined {
    return this.#watchdog;
  }

  /** Adds a per-frame observer (FrameObserver); returns its removal. One that throws is logged and kept. */
  observeFrames(fn: FrameObserver): () => void {
    this.#frameObservers.add(fn);
    return () => { this.#frameObservers.delete(fn); };
  }

  #setState(s: RuntimeStateName): void {
    if (s === this.#state) return;
    this.#state = s;
    this.server.setState(s);
    this.#log.info({ state: s }, 'runtime state');
  }

  // --- frames ---------------------------------------------------------------

  async #handle(f: ServerFrame, stage: StageTimer): Promise<FrameResult> {
    const entry = this.#entry(f.stream, f.config);
    try {
      const processor = await entry.processor;
      const r = await processor.process({ data: f.pixels, seq: f.seq, acquiredAt: f.acquiredAt }, stage);
      // DICOM capture sees the frame before its pixels go back; it copies only frames that qualify, never throws.
      if (this.dicom && this.#streams.get(f.stream) === entry) this.dicom.offer(f.stream, f.pixels, r);
      const out = toFrameResult(r);
      for (const fn of this.#frameObservers) {
        try { fn(f, out); } catch (err) { this.#log.warn({ err, stream: f.stream }, 'frame observer failed'); }
      }
      if (this.#failures > 0) {
        this.#failures = 0;
        if (this.#state === 'faulted') {
          this.#faultCode = 0;
          this.#setState('running');
        }
      }
      return out;
    } catch (err) {
      if (++this.#failures >= (this.#o.faultAfter ?? 5) && this.#state !== 'faulted') {
        this.#faultCode = WireError.FRAME_FAILED;
        this.#log.error({ err, stream: f.stream }, 'consecutive frame failures: runtime faulted');
        this.#setState('faulted');
      }
      throw err;
    }
    // Shared-memory slots are released by the server once this returns (or the frame was replaced).
  }

  /**
   * The stream's models for this configuration: loaded on CONFIGURE_STREAM (prepare), reloaded when the geometry
   * (geometryOf: size, format, stride, uvOffset, spacing, roi, sector, flip) changes. A reconfigure that keeps the geometry
   * (fps, study or ring only) keeps the loaded models and the stream's state; its DICOM capture starts
   * anew under the new configuration (frame time from fps, its study), as on any reconfigure.
   */
  #entry(stream: number, config: ConfigureStream): StreamEntry {
    let entry = this.#streams.get(stream);
    if (entry && entry.config !== config && isDeepStrictEqual(geometryOf(entry.config), geometryOf(config))) {
      const { processor } = entry;
      entry = { config, processor };
      this.#streams.set(stream, entry);
      void processor.then((p) => this.#openCapture(stream, config, p), noop);
      return entry;
    }
    if (!entry || entry.config !== config) {
      if (entry) void entry.processor.then((p) => p.close(), noop);
      entry = { config, processor: this.#openProcessor(stream, config) };
      this.#streams.set(stream, entry);
      if (this.#state === 'ready') this.#setState('running');
    }
    return entry;
  }

  async #openProcessor(stream: number, config: ConfigureStream): Promise<StreamProcessor> {
    const t0 = performance.now();
    const geometry = geometryOf(config);
    // Models swapped in since start replace the pipeline's own packages for new streams too (loaded once).
    this.#loading++;
    let processor: StreamProcessor;
    try {
      processor = await this.pipeline.openProcessor(geometry, { viewQuality: this.#running('view_quality')?.pkg, segmentation: this.#running('lv_segmentation')?.pkg });
      try {
        await this.#warmUp(processor, config);
      } catch (err) {
        await processor.close();
        throw err;
      }
    } finally {
      this.#loading--;
    }
    this.#log.info({ stream, width: config.width, height: config.height, format: config.format, ms: Math.round(performance.now() - t0) }, 'stream models loaded');
    this.#openCapture(stream, config, processor);
    return processor;
  }

  /**
   * DICOM capture of a stream's frames on these models (a stream already capturing writes what it has first), when
   * this configuration is still the stream's. The study is resolved once per configuration.
   */
  #openCapture(stream: number, config: ConfigureStream, processor: StreamProcessor): void {
    const entry = this.#streams.get(stream);
    if (!this.dicom || entry?.config !== config) return;
    try {
      entry.study ??= this.dicom.studyFor(config);
      this.dicom.open(stream, config, entry.study, processor.runners.map((x) => modelUse(x.package, x.variant)));
    } catch (err) {
      this.#log.error({ code: (err as { code?: string }).code ?? ('ERR_SONOEDGE_CAPTURE' satisfies ErrorCode), err, stream }, 'capture not started');
    }
  }

  /**
   * A few synthetic frames of the stream's geometry (warmup.ts) through the stream's own models, before the
   * CONFIGURE_STREAM reply: the engines run on their run threads and every step of the frame path in JavaScript
   * (preprocessing, post-processing with segmentation forced on, mask, contour, EF) runs, so that the first real
   * frame is as fast as the ones after it (it took 3-5 times the median, enough to drop frames). A scratch
   * processor over the same models does it, so the stream's own state (smoothing, EF) never sees these frames.
   */
  async #warmUp(processor: StreamProcessor, config: ConfigureStream): Promise<void> {
    const [vq, seg] = processor.runners;
    const views = (vq.package.manifest.postprocessing.view?.labels as string[] | undefined) ?? [];
    // The beam rule off, so the LV's drawing code (contour, frame coordinates) is warmed whatever the synthetic LV's angle.
    const scratch = new StreamProcessorClass({
      ...this.pipeline.options, segmentationViews: views, qualityThreshold: -Infinity, segmentationStride: 1, maxBeamAngleDeg: 90,
    }, vq, seg);
    const frame = warmupFrame(config);
    for (let i = 0; i < WARMUP_FRAMES; i++) await scratch.process({ data: frame, seq: i, acquiredAt: performance.now() }, (_name, fn) => Promise.resolve(fn()));
  }

  async #closeStream(id: number): Promise<void> {
    const entry = this.#streams.get(id);
    if (!entry) return;
    this.#streams.delete(id);
    // The stream's best clips are written (or queued for the PACS) off the frame path; failures are logged there.
    if (this.dicom?.capturing(id)) void this.dicom.finish(id);
    for (const m of this.#loaded.values()) {
      const p = m.prepared.get(id);
      m.prepared.delete(id);
      if (p) void p.then((r) => r.close(), noop);
    }
    try {
      await (await entry.processor).close();
    } catch { /* a processor that never opened has nothing to close */ }
    if (this.#streams.size === 0 && this.#state === 'running') this.#setState('ready');
  }

  // --- models (ModelControl: LOAD_MODEL, SWAP) ------------------------------

  current(): string | null {
    return [this.#active.view_quality, this.#active.lv_segmentation].filter((x) => x !== null).join('+') || null;
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#modelOp.then(op, op);
    this.#modelOp = run.catch(noop);
    return run;
  }

  /**
   * LOAD_MODEL: verifies a package and loads and warms it for every open stream, beside the running models.
   * The id may name no running model (of either task: one name, one model) and may not start with `set<N>/`
   * (the serial model sets' ids); with `task`, the package must be of that task. All of it is checked before
   * anything loads.
   */
  load(req: LoadModel): Promise<ModelReply> {
    if (req.id !== undefined && /^set\d+\//.test(req.id)) {
      return Promise.reject(new ModelControlError('ERR_SONOEDGE_MODEL_LOAD',
        `Expected an id that does not start with set<N>/ (reserved for the serial model sets) but received ${JSON.stringify(req.id)}`));
    }
    return this.#serial(async () => {
      this.#loading++;
      try {
        const verified = await this.#verify(req.path, req.task === undefined ? undefined : { task: req.task, what: ' (LOAD_MODEL.task)' });
        return await this.#load(verified, req.id);
      } finally {
        this.#loading--;
      }
    });
  }

  /** Verifies a package and checks its task (`expect.task`, when given; `what` says where it was asked for); changes nothing. */
  async #verify(dir: string, expect?: { task: Task; what: string }): Promise<Verified> {
    let pkg: VerifiedPackage;
    try {
      pkg = await this.pipeline.verify(dir);
      checkContract(pkg.manifest); // its graph is checked where it loads (ModelRunner.create)
    } catch (err) {
      throw new ModelControlError('ERR_SONOEDGE_MODEL_LOAD', `Expected a valid model package at ${dir} but it failed verification: ${(err as Error).message}`);
    }
    const task = pkg.manifest.task as Task;
    if (task !== 'view_quality' && task !== 'lv_segmentation') {
      throw new ModelControlError('ERR_SONOEDGE_MODEL_LOAD', `Expected a view_quality or lv_segmentation package but received task ${JSON.stringify(task)}`);
    }
    if (expect && task !== expect.task) {
      throw new ModelControlError('ERR_SONOEDGE_MODEL_LOAD', `Expected ${withArticle(expect.task)} package${expect.what} but received ${withArticle(task)} package at ${dir}`);
    }
    if (task === 'lv_segmentation' && this.#active.lv_segmentation === null) {
      throw new ModelControlError('ERR_SONOEDGE_MODEL_LOAD', 'Expected a runtime with a segmentation model to replace but received an lv_segmentation package on a runtime without one');
    }
    return { dir, pkg, task };
  }

  /** Loads and warms a verified package for every open stream, beside the running models, under an id no running model has. */
  async #load({ dir, pkg, task }: Verified, reqId: string | undefined): Promise<ModelReply> {
    const id = reqId ?? idOf(pkg);
    const running = [this.#active.view_quality, this.#active.lv_segmentation].filter((x): x is string => x !== null);
    if (running.includes(id)) {
      throw new ModelControlError('ERR_SONOEDGE_MODEL_LOAD', `Expected an id that names no running model (${running.join(', ')}) but received ${JSON.stringify(id)}; give LOAD_MODEL another id`);
    }
    const m: LoadedModel = { id, pkg, task, prepared: new Map() };
    for (const [stream, entry] of this.#streams) m.prepared.set(stream, this.pipeline.loadRunner(pkg, geometryOf(entry.config)));
    const results = await Promise.allSettled(m.prepared.values());
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) {
      for (const r of results) if (r.status === 'fulfilled') await r.value.close();
      throw new ModelControlError('ERR_SONOEDGE_MODEL_LOAD', `Expected ${id} to load and warm up but it failed: ${(failed.reason as Error).message}`);
    }
    if (m.prepared.size === 0) {
      // No stream open: load and warm once on the model's own geometry, so a package that cannot run is refused now.
      const shape = pkg.manifest.preprocessing.options as { output?: { width?: number; height?: number } };
      const w = shape.output?.width ?? 256;
      const h = shape.output?.height ?? 256;
      try {
        await (await this.pipeline.loadRunner(pkg, { input: { width: w, height: h, format: 'GRAY8' }, pixelSpacingMm: 1 })).close();
      } catch (err) {
        throw new ModelControlError('ERR_SONOEDGE_MODEL_LOAD', `Expected ${id} to load and warm up but it failed: ${(err as Error).message}`);
      }
    }
    this.#unload(id);
    this.#loaded.set(id, m);
    this.#log.info({ id, task, path: dir }, 'model loaded');
    return { id, previous: this.#active[task] };
  }

  /** Forgets a loaded model that is not running, closing the runners prepared for it. */
  #unload(id: string): void {
    const old = this.#loaded.get(id);
    if (!old || old.id === this.#active[old.task]) return;
    for (const p of old.prepared.values()) void p.then((r) => r.close(), noop);
    this.#loaded.delete(id);
  }

  /** Makes a loaded model the running one for its task, on every stream, between frames. */
  swap(req: Swap): Promise<ModelReply> {
    return this.#serial(() => this.#swap(req.id));
  }

  async #swap(id: string): Promise<ModelReply> {
    const m = this.#loaded.get(id);
    if (!m) {
      throw new ModelControlError('ERR_SONOEDGE_MODEL_UNKNOWN', `Expected the id of a loaded model (${[...this.#loaded.keys()].join(', ')}) but received ${JSON.stringify(id)}`);
    }
    const previous = this.#active[m.task];
    if (previous === m.id) return { id: m.id, previous };
    // Streams opened after LOAD_MODEL have no prepared runner yet: load those first, so that the switch itself cannot fail.
    for (const [stream, entry] of this.#streams) {
      if (!m.prepared.has(stream)) m.prepared.set(stream, this.pipeline.loadRunner(m.pkg, geometryOf(entry.config)));
    }
    const runners = new Map<number, ModelRunner>();
    try {
      for (const [stream, p] of m.prepared) if (this.#streams.has(stream)) runners.set(stream, await p);
    } catch (err) {
      throw new ModelControlError('ERR_SONOEDGE_MODEL_LOAD', `Expected ${m.id} to load for every open stream but it failed: ${(err as Error).message}`);
    }
    // The switch: synchronous per stream; each processor finishes its frame in flight on the old model.
    this.#active[m.task] = m.id;
    const closing: Promise<unknown>[] = [];
    for (const [stream, runner] of runners) {
      const entry = this.#streams.get(stream)!;
      closing.push(entry.processor.then((p) => p.replace(runner)));
    }
    m.prepared.clear();
    await Promise.allSettled(closing);
    // Captures name the models their frames ran on: what was captured before the swap is written now.
    for (const stream of runners.keys()) {
      const entry = this.#streams.get(stream);
      if (entry && this.dicom?.capturing(stream)) void entry.processor.then((p) => this.#openCapture(stream, entry.config, p), noop);
    }
    this.#log.info({ id: m.id, previous, task: m.task, streams: runners.size }, 'model swapped');
    return { id: m.id, previous };
  }

  /**
   * Loads and swaps in a model set (serial CMD_SELECT_MODEL_SET): 0 is the pipeline's own packages, 1.. the `modelSets`.
   * Both packages are verified and their tasks checked before either loads; a load that fails leaves nothing loaded.
   */
  selectModelSet(index: number): Promise<void> {
    return this.#serial(async () => {
      const sets = [{ viewQuality: this.pipeline.options.viewQuality, segmentation: this.pipeline.options.segmentation }, ...(this.#o.modelSets ?? [])];
      const set = sets[index];
      if (!set) throw new ModelControlError('ERR_SONOEDGE_MODEL_UNKNOWN', `Expected a model set 0..${sets.length - 1} but received ${index}`);
      if (index === this.#modelSet) return;
      const vqPkg = await this.#verify(set.viewQuality, { task: 'view_quality', what: ` for model set ${index} viewQuality` });
      const segPkg = set.segmentation && this.#active.lv_segmentation !== null
        ? await this.#verify(set.segmentation, { task: 'lv_segmentation', what: ` for model set ${index} segmentation` }) : undefined;
      // Ids name the set (LOAD_MODEL refuses set<N>/ ids), so that a set never clashes with the running models' ids.
      const vq = await this.#load(vqPkg, `set${index}/view_quality`);
      let seg: ModelReply | undefined;
      try {
        if (segPkg) seg = await this.#load(segPkg, `set${index}/lv_segmentation`);
      } catch (err) {
        this.#unload(vq.id);
        throw err;
      }
      await this.#swap(vq.id);
      if (seg) await this.#swap(seg.id);
      this.#modelSet = index;
    });
  }

  async #command(cmd: CommandRecord): Promise<number> {
    this.#log.info({ cmd: cmd.kind, stream: cmd.stream, modelSet: cmd.modelSet }, 'serial command');
    switch (cmd.kind) {
      case 'CMD_START_STREAM':
      case 'CMD_STOP_STREAM':
        // The socket server drops a stopped stream's frames (one ERROR STREAM_STOPPED per stop); nothing fails.
        return this.server.setStreamStopped(cmd.stream ?? -1, cmd.kind === 'CMD_STOP_STREAM') ? 0 : WireError.UNKNOWN_STREAM;
      case 'CMD_SELECT_MODEL_SET':
        try {
          await this.selectModelSet(cmd.modelSet ?? 0);
          return 0;
        } catch (err) {
          this.#log.warn({ err }, 'model set not selected');
          return err instanceof ModelControlError && err.code === 'ERR_SONOEDGE_MODEL_UNKNOWN' ? WireError.BAD_FIELD : WireError.MODEL_FAILED;
        }
      default:
        return WireError.UNSUPPORTED;
    }
  }

  /**
   * Graceful stop, bounded in time whatever the clients do: no new clients and no more reading, frames in flight
   * finish and their results go out, every client gets SHUTTING_DOWN and its connection is ended (destroyed after
   * `shutdownGraceMs` when the peer does not close), engines are released, the serial link is closed. A step still
   * running after `shutdownTimeoutMs` (an engine run that never returns, say) is abandoned and named in the log;
   * `complete` is then false. The final stats are logged last ('runtime stopped'). Idempotent.
   */
  close(): Promise<{ complete: boolean; pending: string[] }> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<{ complete: boolean; pending: string[] }> {
    this.#setState('stopping');
    const pending = new Set<string>();
    const step = async (name: string, fn: () => Promise<unknown> | undefined): Promise<void> => {
      pending.add(name);
      try {
        await fn();
      } catch (err) {
        this.#log.warn({ err, step: name }, 'shutdown step failed');
      } finally {
        pending.delete(name);
      }
    };
    const work = (async () => {
      await step('socket server', () => this.server.close(this.#o.shutdownGraceMs ?? 1000));
      await step('streams', () => Promise.allSettled([...this.#streams.keys()].map((id) => this.#closeStream(id))));
      await step('prepared models', () => Promise.allSettled([...this.#loaded.values()].flatMap((m) => [...m.prepared.values()].map((p) => p.then((r) => r.close())))));
      // Every stream's captures written (the stop waits for them), then a last bounded try to send the outbox.
      await step('dicom', () => this.dicom?.close(Math.min(5000, (this.#o.shutdownTimeoutMs ?? 10000) / 2)));
      await step('serial link', () => this.serial?.close());
    })();
    const timeoutMs = this.#o.shutdownTimeoutMs ?? 10000;
    let timer: NodeJS.Timeout | undefined;
    // A referenced timer: the event loop is never empty while a step is pending, so the process cannot end
    // half-way through the stop (Node's exit code 13, an unsettled top-level await).
    const deadline = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
    const outcome = await Promise.race([work.then(() => 'done' as const), deadline]);
    clearTimeout(timer);
    this.#watchdog?.stop();
    const complete = outcome === 'done';
    if (!complete) this.#log.error({ pending: [...pending], timeoutMs }, 'shutdown deadline passed: not waiting for these');
    this.#log.info({ stats: this.server.stats, ...(this.serial ? { serial: this.serial.stats } : {}), complete }, 'runtime stopped');
    return { complete, pending: [...pending] };
  }

}
