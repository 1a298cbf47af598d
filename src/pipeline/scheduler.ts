// Real-time scheduling per stream: the latest frame wins. While a frame is
// being processed, at most one frame waits; a newer arrival replaces it and
// the replaced one is counted as dropped. The runtime never spends time on a
// stale frame, and every result says how long each stage took.

/** Monotonic clock in milliseconds (performance.now). */
export const now = (): number => performance.now();

export interface FrameInfo {
  /** The firmware's sequence number of the frame. */
  seq: number;
  /** Acquisition time, monotonic milliseconds on this host (or the firmware's, mapped). */
  acquiredAt: number;
}

export interface Timing {
  /** When the scheduler received the frame (monotonic ms). */
  receivedAt: number;
  /** Time spent waiting for the pipeline to be free. */
  queueMs: number;
  /** Per-stage durations, in the order the stages ran. */
  stages: Record<string, number>;
  /** From receipt to result. */
  totalMs: number;
}

export interface Processed<F extends FrameInfo, R> {
  frame: F;
  result: R;
  timing: Timing;
}

export interface SchedulerStats {
  received: number;
  processed: number;
  /** Frames replaced by a newer one while waiting. */
  dropped: number;
  failed: number;
}

/** Stage timer handed to the processing function: `await stage('engine', () => run())`. */
export type StageTimer = <T>(name: string, fn: () => T | Promise<T>) => Promise<T>;

export interface LatestWinsOptions<F extends FrameInfo, R> {
  process: (frame: F, stage: StageTimer) => Promise<R>;
  onResult: (out: Processed<F, R>) => void;
  /** A frame whose processing failed: the stream keeps going. */
  onError?: (frame: F, err: unknown) => void;
  /** A frame that was replaced before it ran (for releasing a shared-memory slot, say). */
  onDrop?: (frame: F) => void;
}

/**
 * One stream's scheduler. `submit` never blocks and never queues more than
 * one frame; processing is strictly sequential per stream.
 */
export class LatestWinsScheduler<F extends FrameInfo, R> {
  readonly #opts: LatestWinsOptions<F, R>;
  #pending: { frame: F; receivedAt: number } | undefined;
  #busy = false;
  #closed = false;
  #idle: Array<() => void> = [];
  readonly stats: SchedulerStats = { received: 0, processed: 0, dropped: 0, failed: 0 };

  constructor(options: LatestWinsOptions<F, R>) {
    this.#opts = options;
  }

  get busy(): boolean {
    return this.#busy;
  }

  /** Offers a frame. Returns false if it replaced a waiting frame (which is dropped). */
  submit(frame: F): boolean {
    if (this.#closed) throw new Error('Expected an open scheduler but received a frame after close()');
    this.stats.received++;
    const receivedAt = now();
    let replaced = false;
    if (this.#pending !== undefined) {
      this.stats.dropped++;
      replaced = true;
      this.#opts.onDrop?.(this.#pending.frame);
    }
    this.#pending = { frame, receivedAt };
    if (!this.#busy) void this.#drain();
    return !replaced;
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    while (this.#pending !== undefined) {
      const { frame, receivedAt } = this.#pending;
      this.#pending = undefined;
      const started = now();
      const stages: Record<string, number> = {};
      const stage: StageTimer = async (name, fn) => {
        const t0 = now();
        try {
          return await fn();
        } finally {
          stages[name] = (stages[name] ?? 0) + (now() - t0);
        }
      };
      try {
        const result = await this.#opts.process(frame, stage);
        this.stats.processed++;
        const end = now();
        this.#opts.onResult({ frame, result, timing: { receivedAt, queueMs: started - receivedAt, stages, totalMs: end - receivedAt } });
      } catch (err) {
        this.stats.failed++;
        this.#opts.onError?.(frame, err);
      }
    }
    this.#busy = false;
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Resolves when nothing is running or waiting. */
  idle(): Promise<void> {
    if (!this.#busy && this.#pending === undefined) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Drops the waiting frame, if any (onDrop, counted in stats.dropped); the running one goes on. True if one was dropped. */
  dropWaiting(): boolean {
    if (this.#pending === undefined) return false;
    this.stats.dropped++;
    const { frame } = this.#pending;
    this.#pending = undefined;
    this.#opts.onDrop?.(frame);
    return true;
  }

  /** Drops the waiting frame (if any), lets the running one finish, and refuses new frames. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#pending !== undefined) {
      this.stats.dropped++;
      this.#opts.onDrop?.(this.#pending.frame);
      this.#pending = undefined;
    }
    await this.idle();
  }
}
