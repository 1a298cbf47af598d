// DICOM out for `sonoedge serve` (the `dicom` section of the config): auto-
// capture per socket stream, written into a folder, or into the durable outbox
// that a PACS client empties by C-STORE. The runtime calls open() at
// CONFIGURE_STREAM, offer() with every frame's pixels and result (synchronous:
// a copy when the frame qualifies, nothing else), finish() when the stream
// closes or its study changes, and close() at shutdown (captures are written,
// the outbox stops; what the PACS has not acknowledged stays on disk for the
// next start).
import path from 'node:path';
import type { ErrorCode } from '../errors.js';
import type { PipelineResult } from '../pipeline/index.js';
import { frameBytes, type ConfigureStream } from '../protocol/messages.js';
import { AutoCapture, type CaptureOptions, type CaptureSummary, type CaptureTarget } from './capture.js';
import { Outbox, RETRY_MAX_MS, folderTarget, statusHex, type BatchSender, type OutboxStats, type RetryCause } from './outbox.js';
import { PacsFailureLog } from './pacs-log.js';
import { PacsClient, type PacsOptions } from './store.js';
import { newUid, type ClipPixelFormat, type ModelUse, type StudyAttributes, type WriterOptions } from './writer.js';

/** The serve config's `dicom` section, paths absolute. */
export interface DicomServiceConfig {
  /** Captures (no PACS) or the outbox (with a PACS) live here. */
  dir: string;
  capture?: CaptureOptions;
  secondaryCapture?: boolean;
  stationName?: string;
  institutionName?: string;
  /** Patient and study attributes for streams whose CONFIGURE_STREAM names none (default: a new study per stream). */
  study?: StudyAttributes;
  pacs?: PacsOptions & { batch?: number; retryMinMs?: number; retryMaxMs?: number; keepSent?: boolean; maxReadFailures?: number; maxMoveFailures?: number; heldRetryMs?: number };
}

type Log = { info: (o: object, m: string) => void; warn: (o: object, m: string) => void; error: (o: object, m: string) => void };

const FORMATS = new Set<string>(['GRAY8', 'GRAY16', 'RGB8', 'BGR8', 'RGBA8', 'BGRA8', 'YUYV', 'NV12']);

export class DicomService {
  readonly capture: AutoCapture;
  readonly outbox?: Outbox;
  readonly #config: DicomServiceConfig;
  readonly #log: Log;
  /** Frame bytes of each stream being captured. */
  readonly #bytes = new Map<number, number>();

  private constructor(config: DicomServiceConfig, capture: AutoCapture, log: Log, outbox?: Outbox) {
    this.#config = config;
    this.capture = capture;
    this.outbox = outbox;
    this.#log = log;
  }

  /**
   * Checks the section, opens the outbox (sending what a previous run left) or the capture folder. `inject` is for
   * tests: a sender in place of the PacsClient of `config.pacs` (whose retry and outbox settings still apply), and the
   * clock of the log's PACS failure lines.
   */
  static async start(config: DicomServiceConfig, log: Log, inject: { sender?: BatchSender; now?: () => number } = {}): Promise<DicomService> {
    const writer: WriterOptions = {
      secondaryCapture: config.secondaryCapture ?? false,
      ...(config.stationName ? { stationName: config.stationName } : {}),
      ...(config.institutionName ? { institutionName: config.institutionName } : {}),
    };
    let outbox: Outbox | undefined;
    let target: CaptureTarget;
    if (config.pacs) {
      const { batch, retryMinMs, retryMaxMs, keepSent, maxReadFailures, maxMoveFailures, heldRetryMs, ...pacs } = config.pacs;
      const sender = inject.sender ?? new PacsClient(pacs);
      outbox = await Outbox.open({
        dir: path.join(config.dir, 'outbox'), sender,
        ...(batch !== undefined ? { batch } : {}), ...(retryMinMs !== undefined ? { retryMinMs } : {}),
        ...(retryMaxMs !== undefined ? { retryMaxMs } : {}), ...(keepSent !== undefined ? { keepSent } : {}),
        ...(maxReadFailures !== undefined ? { maxReadFailures } : {}), ...(maxMoveFailures !== undefined ? { maxMoveFailures } : {}),
        ...(heldRetryMs !== undefined ? { heldRetryMs } : {}),
      });
      // A warning status (B000 coercion of data elements, B006 elements discarded, B007 data set does not match the SOP
      // class...) means stored, but changed or doubted by the PACS: said, with the PACS's comment (before: not logged).
      outbox.on('sent', (name: string, status: number, comment?: string) => {
        if (status === 0) log.info({ name, pacs: sender.where }, 'dicom object stored');
        else log.warn({ name, pacs: sender.where, status: statusHex(status), ...(comment ? { comment } : {}) }, 'dicom object stored with a warning from the PACS');
      });
      outbox.on('failed', (name: string, reason: string) => log.error({ name, reason }, 'dicom object refused by the PACS (kept in failed/)'));
      // A file the outbox could not move or remove on this machine is a local error (the PACS answered): it says so,
      // with the file and the file system's code, and is not reported as the PACS being down.
      outbox.on('fileError', (name: string, code: string, error: string) => log.error({ name, code, error }, 'local file error in the outbox (not the PACS): the file stays in pending/ and is tried again'));
      outbox.on('unreadable', (name: string, code: string, error: string, file: string) => log.error({ name, code, error, file }, 'dicom object unreadable on this machine: moved to failed/, not sent and not tried again'));
      // Once per held file: its move tried again later says nothing while it fails, and 'sent' or 'failed' above when it succeeds.
      outbox.on('unmovable', (name: string, code: string, error: string, file: string) => log.error({ name, code, error, file }, 'dicom object answered by the PACS but not movable on this machine: left in pending/, not sent again; its move is tried again every heldRetryMs'));
      // Not a line per failed try: the first of a run, when the backoff reaches retryMaxMs, then one per 10 minutes or
      // on another code, and one when the PACS takes a try again (src/dicom/pacs-log.ts). A local failure is told by
      // 'fileError' above, per file.
      const pacsLog = new PacsFailureLog(log, { where: sender.where, retryMaxMs: retryMaxMs ?? RETRY_MAX_MS, ...(inject.now ? { now: inject.now } : {}) });
      outbox.on('retry', (error: string, delayMs: number, cause: RetryCause, code: string) => {
        if (cause === 'pacs') pacsLog.failed(error, code, delayMs);
      });
      outbox.on('recovered', (_tries: number, nothingLeft: boolean, heldBack: number) => pacsLog.recovered(nothingLeft, heldBack));
      target = outbox;
    } else {
      target = await folderTarget(path.join(config.dir, 'captures'));
    }
    const capture = new AutoCapture({
      ...(config.capture ? { capture: config.capture } : {}),
      writer,
      target,
      onCaptured: (s: CaptureSummary) => log.info({
        stream: s.stream, view: s.view, frames: s.frames, seqs: s.seqs, ef: s.ef, study: s.studyInstanceUid, objects: s.objects.map((o) => o.name),
      }, 'clip captured'),
      onError: (err, where) => log.error({ code: (err as { code?: string }).code ?? ('ERR_SONOEDGE_CAPTURE' satisfies ErrorCode), err, ...where }, 'capture failed'),
    });
    return new DicomService(config, capture, log, outbox);
  }

  get outboxStats(): OutboxStats | undefined {
    return this.outbox?.stats;
  }

  /**
   * The patient and study a stream's captures are filed under: its CONFIGURE_STREAM's `study` block when it sent one
   * (whole: a block is never mixed with the config's defaults, so that one patient's id cannot land in another's
   * study), else the config's `dicom.study`; with a new StudyInstanceUID when neither names one. Resolve it once per
   * configuration, so that captures reopened after a model swap stay in the same study.
   */
  studyFor(c: Pick<ConfigureStream, 'study'>): StudyAttributes {
    const study = c.study ?? this.#config.study ?? {};
    return study.StudyInstanceUID ? { ...study } : { ...study, StudyInstanceUID: newUid() };
  }

  /**
   * Starts capturing a configured stream (a stream already capturing is finished first: a new CONFIGURE_STREAM
   * may be a new study, a swapped model another algorithm). Polar streams (scan conversion) are not captured: their
   * frames are not images. `models` names the packages the stream's frames run on now.
   */
  open(stream: number, c: ConfigureStream, study: StudyAttributes | undefined, models: ModelUse[] | (() => ModelUse[])): void {
    if (this.capture.has(stream)) void this.finish(stream);
    if (c.sector || !FORMATS.has(c.format)) {
      this.#log.warn({ stream, format: c.format, polar: c.sector !== undefined }, 'stream not captured: its frames are not Cartesian images');
      return;
    }
    this.capture.open(stream, {
      width: c.width, height: c.height, format: c.format as ClipPixelFormat,
      ...(c.stride !== undefined ? { stride: c.stride } : {}), ...(c.uvOffset !== undefined ? { uvOffset: c.uvOffset } : {}),
      frameTimeMs: 1000 / c.fps, spacingMm: [c.spacing[0], c.spacing[1]], ...(c.roi ? { sectorRoi: c.roi } : {}),
      study: study ?? this.studyFor(c),
    }, typeof models === 'function' ? models : () => models);
    this.#bytes.set(stream, frameBytes(c));
  }

  /** Whether a stream is being captured (its frames are offered). */
  capturing(stream: number): boolean {
    return this.#bytes.has(stream);
  }

  /**
   * A frame's pixels and result (synchronous, never throws). Nothing happens for a stream not captured; a frame that
   * qualifies is copied (its frame bytes only: a shared-memory slot may be larger).
   */
  offer(stream: number, pixels: Uint8Array, r: PipelineResult): void {
    const n = this.#bytes.get(stream);
    if (n === undefined) return;
    this.capture.offer(stream, pixels.length > n ? pixels.subarray(0, n) : pixels, r);
  }

  /** Stops capturing a stream and writes its best clips; resolves once they are with the target (never rejects). */
  finish(stream: number): Promise<CaptureSummary[]> {
    this.#bytes.delete(stream);
    return this.capture.finish(stream);
  }

  /**
   * Writes every stream's captures (local writes, waited for), then gives the PACS up to `timeoutMs` for what is
   * pending and stops the outbox (unacknowledged objects stay for the next start).
   */
  async close(timeoutMs = 5000): Promise<void> {
    this.#bytes.clear();
    await this.capture.close();
    const outbox = this.outbox;
    if (!outbox) return;
    const end = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([outbox.flush(), new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
    clearTimeout(timer);
    await outbox.close(Math.max(0, end - Date.now()));
  }
}
