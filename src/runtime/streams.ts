// The stream manager: owns every stream, whatever transport opened it
// (DESIGN.md, "Growing the runtime"). A transport (the socket server today;
// OpenIGTLink or replay next) configures a stream with a geometry, submits
// frames and closes it; the manager owns the stream's scheduler (latest frame
// wins), its shared-memory ring once handed over, its stop state, the frame
// counters, the sector search of an `autoSector` stream, and the hooks that
// load the stream's models (prepare) and run a frame (handler). Results go to
// one ResultPublisher; what a transport says to its peer about a frame (an
// ERROR, a SLOT_RELEASE) stays in the transport, told through the owner.
import { EventEmitter } from 'node:events';
import { LatestWinsScheduler, type StageTimer } from '../pipeline/scheduler.js';
import { findSector, type SectorFrameFormat, type SectorResult } from '../preprocess/sector.js';
import { ResultFlag } from '../protocol/constants.js';
import type { ConfigureStream, ResultBody, Roi } from '../protocol/messages.js';
import type { ShmRing } from '../transport/shm-ring.js';
import type { FrameResult, SourceFrame } from '../transport/types.js';
import { ResultPublisher } from './publisher.js';

export interface ServerFrame extends SourceFrame {
  /** The connection that sent it, and the header seq of its FRAME message. */
  clientId: number;
  messageSeq: number;
}

/** The ML pipeline seam: given a frame, its result. Tests inject a stand-in. */
export type FrameHandler = (frame: ServerFrame, stage: StageTimer) => Promise<FrameResult>;

/** Whoever configured a stream (a socket connection): told what happens to its frames after submit() returned. */
export interface StreamOwner {
  readonly closed: boolean;
  /** The pipeline failed on a frame of the owner's stream. */
  frameFailed(frame: ServerFrame, err: unknown): void;
  /** autoSector: a search over `frame`'s batch found no image region; the search goes on with the next frames. */
  sectorNotFound?(frame: ServerFrame, result: Extract<SectorResult, { found: false }>): void;
}

export interface StreamManagerOptions {
  handler: FrameHandler;
  /**
   * Called for each configuration before the stream is ready (load the stream's models, say); a rejection closes
   * the stream. For an autoSector stream it is called once the sector is found, with the box as `roi`.
   */
  prepare?: (stream: number, config: ConfigureStream) => Promise<void>;
  /** Where results go; default a publisher of its own. */
  publisher?: ResultPublisher;
}

export interface StreamStats {
  framesIn: number;
  framesProcessed: number;
  framesDropped: number;
  framesFailed: number;
}

/** What became of a submitted frame: queued (or running), replaced a waiting one (counted), or dropped for a stopped stream. */
export type SubmitOutcome = 'queued' | 'replaced' | 'stopped' | 'stopped-first' | 'searching';

/** The sector search of an autoSector stream: frames copied until `frames` are there. */
interface SectorSearch {
  frames: number;
  buffer: Uint8Array[];
  /** The box found, once found. */
  roi?: Roi;
}

export interface ManagedStream {
  readonly id: number;
  readonly owner: StreamOwner;
  /** The configuration as the transport gave it. */
  readonly config: ConfigureStream;
  /** What frames run with: `config`, or, for an autoSector stream once found, `config` with the box as `roi`. */
  readonly effective: ConfigureStream;
  readonly frameBytes: number;
  readonly ring: ShmRing | undefined;
  /** A reconfiguration that replaced the ring waits for the old one's slots. */
  readonly ringSwitching: boolean;
  readonly stopped: boolean;
  /** autoSector: the box found, or undefined while searching (or without autoSector). */
  readonly sectorRoi: Roi | undefined;
  readonly searching: boolean;
}

interface Stream extends ManagedStream {
  config: ConfigureStream;
  effective: ConfigureStream;
  frameBytes: number;
  ring: ShmRing | undefined;
  ringSwitching: boolean;
  stopped: boolean;
  stopReported: boolean;
  search: SectorSearch | undefined;
  scheduler: LatestWinsScheduler<ServerFrame, FrameResult>;
  /** This stream's counters (perStream holds them while it is open; a late result of a closed one counts here, not on a new stream of the same id). */
  counts: StreamStats;
}

/**
 * Events: 'result' (stream id, frame seq, ResultBody), 'streamClosed' (id, once its frame in flight finished and
 * its ring is unmapped), 'ringClosed' (id, ring name), 'sectorFound' (id, SectorResult).
 */
export class StreamManager extends EventEmitter {
  readonly publisher: ResultPublisher;
  readonly stats: StreamStats = { framesIn: 0, framesProcessed: 0, framesDropped: 0, framesFailed: 0 };
  /** The same counters per open stream, from its configuration (dropped once it has closed, so their number stays bounded by the streams open). */
  readonly perStream = new Map<number, StreamStats>();
  readonly #o: StreamManagerOptions;
  readonly #streams = new Map<number, Stream>();

  constructor(options: StreamManagerOptions) {
    super();
    if (typeof options?.handler !== 'function') throw new TypeError(`Expected function for handler but received ${typeof options?.handler}`);
    this.#o = options;
    this.publisher = options.publisher ?? new ResultPublisher();
  }

  get size(): number {
    return this.#streams.size;
  }

  get ids(): number[] {
    return [...this.#streams.keys()];
  }

  get(id: number): ManagedStream | undefined {
    return this.#streams.get(id);
  }

  get streams(): readonly ManagedStream[] {
    return [...this.#streams.values()];
  }

  /** Streams with a frame running or waiting (the watchdog's progress probe). */
  get busy(): number {
    let n = 0;
    for (const s of this.#streams.values()) if (s.scheduler.busy) n++;
    return n;
  }

  /** Streams configured and not stopped (the serial heartbeat's "streaming" bit). */
  get running(): number {
    let n = 0;
    for (const s of this.#streams.values()) if (!s.stopped) n++;
    return n;
  }

  /**
   * Configures a new stream or changes one (the transport has checked ownership, limits and sizes, and opened the
   * ring). `done` is called when the stream is ready to take frames: synchronously when nothing waits, else after
   * the old ring's slots came back and `prepare` finished; with the error when `prepare` failed (the stream is then
   * closed). An autoSector stream is ready at once: its models load once its sector is found.
   */
  configure(owner: StreamOwner, config: ConfigureStream, bytes: number, ring: ShmRing | undefined, done: (err?: unknown) => void): void {
    const existing = this.#streams.get(config.stream);
    if (!existing) {
      const s = this.#make(owner, config, bytes, ring);
      this.#streams.set(config.stream, s);
      this.#ready(s, config, done);
      return;
    }
    // The frame waiting behind the running one is of the configuration being replaced: dropped (its slot back, counted,
    // DROPPED_BEFORE on the next result) as latest wins drops a stale frame. Run, it would need that configuration's
    // models again, after the new ones began to load (a load for it and one more for the next frame); the running one
    // finishes on its own models.
    if (existing.scheduler.dropWaiting()) {
      this.stats.framesDropped++;
      existing.counts.framesDropped++;
    }
    const old = existing.ring;
    existing.config = config;
    existing.effective = config;
    existing.search = searchOf(config);
    existing.frameBytes = bytes;
    existing.ring = ring;
    if (old === undefined || old === ring) {
      this.#ready(existing, config, done);
      return;
    }
    // The old ring's frames finish and their slots come back (SLOT_RELEASE) before the stream is ready.
    existing.ringSwitching = true;
    void this.#retireRing(existing.id, old).then(() => {
      existing.ringSwitching = false;
      if (!owner.closed) this.#ready(existing, config, done);
    });
  }

  #ready(s: Stream, config: ConfigureStream, done: (err?: unknown) => void): void {
    const prepare = this.#o.prepare;
    if (!prepare || s.search) {
      done();
      return;
    }
    prepare(config.stream, config).then(() => done(), (err: unknown) => {
      if (this.#streams.get(config.stream) === s && s.config === config) void this.close(config.stream);
      done(err);
    });
  }

  /**
   * Hands a frame of a configured stream to its scheduler. Counts it (framesIn, and framesDropped when it replaced a
   * waiting frame or the stream is stopped). 'stopped-first': the first frame since the stream was stopped (the
   * transport reports the stop once). 'searching': taken by the sector search (its result is a SECTOR_SEARCH result).
   */
  submit(id: number, frame: ServerFrame): SubmitOutcome {
    const s = this.#streams.get(id);
    if (!s) throw new RangeError(`Expected a configured stream but received stream ${id}`);
    const own = s.counts;
    this.stats.framesIn++;
    own.framesIn++;
    if (s.stopped) {
      this.stats.framesDropped++;
      own.framesDropped++;
      if (s.stopReported) return 'stopped';
      s.stopReported = true;
      return 'stopped-first';
    }
    if (s.search && s.search.roi === undefined) {
      this.#searchFrame(s, frame);
      return 'searching';
    }
    frame.config = s.effective;
    if (s.scheduler.submit(frame)) return 'queued';
    this.stats.framesDropped++;
    own.framesDropped++;
    return 'replaced';
  }

  /**
   * Stops or restarts a stream (the serial CMD_STOP_STREAM / CMD_START_STREAM): a stopped stream keeps its
   * configuration; its frames are dropped and counted. False for a stream that is not configured.
   */
  setStopped(id: number, stopped: boolean): boolean {
    const s = this.#streams.get(id);
    if (!s) return false;
    s.stopped = stopped;
    s.stopReported = false;
    return true;
  }

  /**
   * Removes a stream; resolves (and 'streamClosed' is emitted) once its frame in flight has finished and its ring,
   * if any, is unmapped ('ringClosed' first). The waiting frame is dropped; the running one's result still goes out.
   */
  close(id: number): Promise<void> {
    const s = this.#streams.get(id);
    if (!s) return Promise.resolve();
    this.#streams.delete(id);
    return s.scheduler.close()
      .then(() => (s.ring ? this.#retireRing(s.id, s.ring) : undefined))
      .then(() => {
        // Its frame in flight has been counted; the id may already belong to a new stream, with counters of its own.
        if (this.perStream.get(s.id) === s.counts) this.perStream.delete(s.id);
        this.emit('streamClosed', s.id);
      });
  }

  /** Closes every stream `owner` configured (its connection went away). */
  closeOwnedBy(owner: StreamOwner): Promise<void> {
    return Promise.all([...this.#streams.values()].filter((s) => s.owner === owner).map((s) => this.close(s.id))).then(() => undefined);
  }

  /** Closes every stream. */
  closeAll(): Promise<void> {
    return Promise.all(this.ids.map((id) => this.close(id))).then(() => undefined);
  }

  /** Waits until no slot of `ring` is held, unmaps it; emits 'ringClosed' (stream id, ring name). */
  async #retireRing(id: number, ring: ShmRing): Promise<void> {
    await ring.whenFree();
    ring.close();
    this.emit('ringClosed', id, ring.name);
  }

  /** Publishes a result from any source (ResultSink.write): to every consumer of the publisher. */
  publish(result: ResultBody): void {
    this.publisher.publish(result);
  }

  // --- the sector search (autoSector) -------------------------------------

  /** Copies the frame (its pixels may be a socket buffer or a ring slot) and, with a full batch, runs the finder. */
  #searchFrame(s: Stream, frame: ServerFrame): void {
    const search = s.search!;
    const started = performance.now();
    search.buffer.push(Uint8Array.from(frame.pixels.subarray(0, s.frameBytes)));
    frame.release?.();
    let found: SectorResult | undefined;
    if (search.buffer.length >= search.frames) {
      const c = s.config;
      found = findSector(search.buffer, c.width, c.height, c.format as SectorFrameFormat);
      search.buffer = [];
    }
    this.stats.framesProcessed++;
    s.counts.framesProcessed++;
    const ms = performance.now() - started;
    this.#emitResult(s.id, frame, {
      view: null, confidence: null, quality: null, state: 'unknown', idScore: null, lvAreaMm2: null, ef: null,
      efCi: null, edSeq: null, esSeq: null, flags: ResultFlag.SECTOR_SEARCH | ResultFlag.UNKNOWN,
    }, { queueMs: 0, totalMs: ms, stages: { sector: ms } });
    if (found === undefined) return;
    this.emit('sectorFound', s.id, found);
    if (!found.found) {
      if (!s.owner.closed) s.owner.sectorNotFound?.(frame, found);
      return;
    }
    search.roi = found.box;
    const effective: ConfigureStream = { ...s.config, roi: { ...found.box } };
    s.effective = effective;
    // The models load for the box found; frames that arrive meanwhile wait in the scheduler (latest wins).
    const prepare = this.#o.prepare;
    if (!prepare) return;
    prepare(s.id, effective).catch((err: unknown) => {
      if (this.#streams.get(s.id) !== s || s.effective !== effective) return;
      void this.close(s.id);
      if (!s.owner.closed) s.owner.frameFailed(frame, err);
    });
  }

  // --- results --------------------------------------------------------------

  #make(owner: StreamOwner, config: ConfigureStream, bytes: number, ring: ShmRing | undefined): Stream {
    const id = config.stream;
    const counts: StreamStats = { framesIn: 0, framesProcessed: 0, framesDropped: 0, framesFailed: 0 };
    this.perStream.set(id, counts);
    /** Seqs of frames replaced since the last result (a few at most: the newer ones wait for the next result). */
    const dropped: number[] = [];
    const scheduler = new LatestWinsScheduler<ServerFrame, FrameResult>({
      // A slot goes back as soon as its frame has run (before the RESULT goes out), or failed.
      process: async (f, stage) => {
        try {
          return await this.#o.handler(f, stage);
        } finally {
          f.release?.();
        }
      },
      // Replaced under latest wins (or dropped by close): never processed, released at once.
      onDrop: (f) => { if (dropped.length >= 64) dropped.shift(); dropped.push(f.seq); f.release?.(); },
      onResult: ({ frame, result, timing }) => {
        this.stats.framesProcessed++;
        counts.framesProcessed++;
        // DROPPED_BEFORE: a frame between the previous result's and this one was replaced (latest wins).
        // Dropped frames are always older than the one that replaced them; those older than this result are its own.
        const newer = dropped.filter((q) => q >= frame.seq);
        if (newer.length < dropped.length) {
          result = { ...result, flags: (result.flags ?? 0) | ResultFlag.DROPPED_BEFORE };
          dropped.splice(0, dropped.length, ...newer);
        }
        const roi = s.search?.roi;
        this.#emitResult(id, frame, result, { queueMs: timing.queueMs, totalMs: timing.totalMs, stages: timing.stages }, roi);
      },
      onError: (frame, err) => {
        this.stats.framesFailed++;
        counts.framesFailed++;
        if (!owner.closed) owner.frameFailed(frame, err);
      },
    });
    const s: Stream = {
      id, owner, config, effective: config, frameBytes: bytes, scheduler, ring, ringSwitching: false, stopped: false, stopReported: false,
      search: searchOf(config), counts,
      get sectorRoi() { return this.search?.roi; },
      get searching() { return this.search !== undefined && this.search.roi === undefined; },
    };
    return s;
  }

  #emitResult(id: number, frame: ServerFrame, result: FrameResult, latency: ResultBody['latency'], roi?: Roi): void {
    const body: ResultBody = {
      stream: id, seq: frame.seq, t: frame.t, view: result.view ?? null, confidence: result.confidence ?? null,
      quality: result.quality ?? null, state: result.state ?? 'ok', idScore: result.idScore ?? null,
      lvAreaMm2: result.lvAreaMm2 ?? null, ef: result.ef ?? null, efCi: result.efCi ?? null,
      edSeq: result.edSeq ?? null, esSeq: result.esSeq ?? null, flags: result.flags ?? 0,
      latency, mask: result.mask, contour: result.contour,
      ...(roi ? { roi } : {}),
    };
    this.publisher.publish(body);
    this.emit('result', id, frame.seq, body);
  }
}

function searchOf(c: ConfigureStream): SectorSearch | undefined {
  return c.autoSector ? { frames: c.autoSector.frames, buffer: [] } : undefined;
}
