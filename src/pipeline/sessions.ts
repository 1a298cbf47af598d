// One engine session per model, shared by every stream (issue 16, "several
// streams, one engine"). A stream's ModelRunner keeps what is its own (the
// preprocessing plan for its geometry, its input and output tensors, its
// binding) and borrows the session: one per model file, variant and engine
// options (hence provider), loaded and warmed by the first stream that needs
// it and closed when the last runner on it closes.
//
// Runs of a session execute one at a time in the order they were queued (a
// FIFO on the session's run thread, native/engine/engine.h). A stream runs
// one frame at a time (its latest-frame-wins scheduler), so it has at most one
// run queued or running on a session: a stream waiting on a shared session
// waits for at most one run of each other stream, and streams take turns
// (round robin) without a queue of our own. Batching across streams needs a
// model input with a free batch dimension; the bundled models' is fixed at 1.
import { Engine, type EngineOptions, type ProviderName } from '../engine/index.js';
import type { VerifiedPackage } from '../model/package.js';

/** One open (or loading) session: what it runs and how many runners use it. */
export interface SessionInfo {
  /** `name@version` of the package whose file it runs. */
  model: string;
  variant: string;
  /** The provider in use; undefined while the session is still loading. */
  provider: ProviderName | undefined;
  /** Runners (stream models, prepared hot-swap models) using it now. */
  users: number;
}

/** A runner's hold on a shared session: release it once, when the runner closes. */
export interface SessionLease {
  readonly engine: Engine;
  /** Gives the hold back; the last one closes the session (after the runs already queued). Idempotent. */
  release(): Promise<void>;
}

interface Entry {
  key: string;
  model: string;
  variant: string;
  engine: Promise<Engine>;
  loaded: Engine | undefined;
  users: number;
}

export class SessionPool {
  readonly #entries = new Map<string, Entry>();

  /** Sessions open or loading now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Every session open or loading, in the order they were first asked for. */
  list(): SessionInfo[] {
    return [...this.#entries.values()].map((e) => ({ model: e.model, variant: e.variant, provider: e.loaded?.provider, users: e.users }));
  }

  /**
   * The session for `pkg`'s `variant` under `options`: the open one, or a new one (loaded off the event loop and
   * warmed). A load that fails rejects every caller waiting for it and leaves nothing behind (the next call tries
   * again).
   */
  async acquire(pkg: VerifiedPackage, variant: string, options: EngineOptions = {}): Promise<SessionLease> {
    const m = pkg.manifest;
    // The file's sha256 (checked by verifyModelPackage) names the graph; the options name the provider and threads.
    const key = JSON.stringify([m.variants[variant]?.sha256 ?? pkg.dir, variant, optionsKey(options)]);
    let e = this.#entries.get(key);
    if (!e) {
      const entry: Entry = { key, model: `${m.name}@${m.version}`, variant, engine: Engine.load({ package: pkg, variant }, options), loaded: undefined, users: 0 };
      this.#entries.set(key, entry);
      entry.engine.then((engine) => { entry.loaded = engine; }, () => { if (this.#entries.get(key) === entry) this.#entries.delete(key); });
      e = entry;
    }
    e.users++;
    let engine: Engine;
    try {
      engine = await e.engine;
    } catch (err) {
      e.users--;
      throw err;
    }
    const entry = e;
    let released = false;
    return {
      engine,
      release: async () => {
        if (released) return;
        released = true;
        if (--entry.users > 0) return;
        if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
        await engine.close();
      },
    };
  }
}

/** The engine options as a key: keys sorted, the log callback left out (it changes nothing in the session). */
function optionsKey(options: EngineOptions): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  return JSON.stringify(sorted(Object.fromEntries(Object.entries(options).filter(([k]) => k !== 'log'))));
}
