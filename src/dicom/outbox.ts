// The durable outbox between capture and the PACS. An object is written to
// tmp/, flushed to disk and renamed into pending/ (so pending/ holds only
// whole files); a sender takes pending files oldest first, a batch per
// association, and removes each one only when the PACS has answered its
// C-STORE with success (or moves it to failed/ with the reason when the PACS
// refuses the object itself). When the PACS cannot be reached, refuses the
// association or drops it mid-batch, the files it did not acknowledge stay in
// pending/ and the sender tries again after a backoff (1 s doubling to 60 s).
// A restart finds pending/ as it was; in tmp/ the temporaries (NAME.PID.RANDOM)
// whose writer is gone (a crash interrupted them) are removed, and a live
// process's are kept (two processes may share an outbox). A file whose
// success response was lost is sent again: the same SOP Instance UID, which a
// PACS stores once, so a duplicate is harmless.
// A move or removal in the outbox that fails on this machine (failed/ or sent/
// replaced by a file, a full disk), or a pending file that cannot be read to be
// sent (deleted or replaced by a folder since pending/ was listed), is a local
// file error, not the PACS: the file stays in pending/ for the next try while
// it is there ('fileError' names it and its errno code; the 'retry' that
// follows says 'local'), and the batch's other files go (those after a file
// that fails when its turn comes wait for the next try).
// A pending file that cannot be read is not tried for ever: after
// `maxReadFailures` tries in a row (default 3) that could not read it, it is
// moved to failed/ beside a .txt with the reason, as a refused object is
// (never deleted: nothing is lost), 'unreadable' says so once with where it
// now is, and the other files go on. The count is kept while the process runs
// (a restart gives the file its tries again) and ends when the file is read.
// Nor is an object the PACS answered (stored or refused) whose move afterwards
// fails (sent/ or failed/ replaced by a file, the removal from pending/
// failing) sent again for ever: after `maxMoveFailures` tries in a row whose
// move failed (default 3) it is held back, left in pending/ where it is (never
// deleted; the PACS has its answer already), 'unmovable' says so once with
// its path, and the other files go on. A held file is not sent again while the
// process runs: the outbox keeps the PACS's answer (stored with its status, or
// refused with its reason) and tries the move alone again every `heldRetryMs`
// (default 10 minutes; nothing is said while it fails), so that once the cause
// is fixed (the file in sent/'s way removed, space freed) it goes where the
// answer sends it, counted then, with the 'sent' or 'failed' that answer would
// have given. A restart forgets the answers: it sends the held files again
// (harmless, as above). One removed from pending/ by hand stops being held.
// stats.failed counts the objects this process moved into failed/; stats.inFailed
// is what failed/ holds now (listed at open, at every try, and while it holds
// objects every `failedRecountMs`): a restart does not hide refused objects an
// operator has not dealt with, and removing them clears it within that time.
import { EventEmitter } from 'node:events';
import { lstatSync, renameSync, rmSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { invalidValue, rangeError, type ErrorCode } from '../errors.js';
import { removeStale } from '../util/stale.js';
import type { CaptureObject, CaptureTarget } from './capture.js';
import type { StoreResult } from './store.js';
import type { WrittenObject } from './writer.js';

/** What sends a batch of files (PacsClient, or a stand-in where no PACS runs). */
export interface BatchSender {
  readonly where: string;
  /**
   * `onFileError` hears a file that could not be read on this machine (it is not sent); a sender that stops the batch
   * for it rejects with an error whose `local` is true (PacsClient's LocalFileError).
   */
  store(files: string[], onResult: (r: StoreResult) => void, onFileError?: (file: string, err: NodeJS.ErrnoException) => void): Promise<void>;
}

export interface OutboxOptions {
  /** The outbox folder (pending/, failed/, sent/, tmp/ are made inside it). */
  dir: string;
  /** Without a sender the outbox only holds (a folder target). */
  sender?: BatchSender;
  /** Files per association (default 16). */
  batch?: number;
  /** First retry delay and the longest (default 1000 and 60000 ms); the delay doubles per failed try. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Keep stored files in sent/ instead of deleting them (default false). */
  keepSent?: boolean;
  /** Tries in a row that could not read a pending file before it is moved to failed/ (default 3, at least 1). */
  maxReadFailures?: number;
  /**
   * Tries in a row whose move (into sent/ or failed/, or the removal from pending/) failed after the PACS answered a
   * file, before that file is held back (default 3, at least 1): left in pending/, not sent again while the process
   * runs, its move tried again every `heldRetryMs`.
   */
  maxMoveFailures?: number;
  /**
   * How often the move of a held-back file is tried again, alone (the PACS's answer is kept: no C-STORE), in ms
   * (default 600000, an integer between 1 and 2147483647).
   */
  heldRetryMs?: number;
  /**
   * While failed/ holds objects, how often it is listed again with nothing else to do, in ms, so that objects an
   * operator removed stop counting in stats.inFailed without waiting for a try (default 10000, an integer between 1
   * and 2147483647).
   */
  failedRecountMs?: number;
}

/** Why the outbox tries again: the PACS (not reachable, refused the association, answered "try later") or a file of the outbox's own on this machine. */
export type RetryCause = 'pacs' | 'local';

/** The code of a failure of the PACS's (not reachable, association refused, "try later", a batch half answered). */
const PACS_CODE = 'ERR_SONOEDGE_PACS' satisfies ErrorCode;

/** The code of a sender's failure: its error's own (PacsError's ERR_SONOEDGE_PACS), PACS_CODE where it has none. */
function pacsCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' ? code : PACS_CODE;
}

/** The file system's code of a failed move (the error it wraps): EISDIR, ENOTDIR, ENOSPC...; ERR_SONOEDGE_OUTBOX where it has none. */
function fsCode(err: Error): string {
  const cause = err.cause as NodeJS.ErrnoException | undefined;
  return (cause?.code ?? (err as NodeJS.ErrnoException).code) ?? ('ERR_SONOEDGE_OUTBOX' satisfies ErrorCode);
}

export interface OutboxStats {
  /** Files in pending/ at the last listing, held back ones included. */
  pending: number;
  /**
   * Of those, the files held back (their move failed maxMoveFailures times in a row): not sent again while the process
   * runs, their move tried again every heldRetryMs. One whose move then succeeds stops counting at once; one that leaves
   * pending/ (removed by hand) at the next listing.
   */
  held: number;
  sent: number;
  /** Objects this process moved into failed/ (refused by the PACS, or unreadable) since the outbox opened: a counter. */
  failed: number;
  /**
   * The objects in failed/ now (their .txt reasons not counted), whoever put them there and whenever: listed when the
   * outbox opens and at every try (and at every held file's move), and counted at once when the outbox moves one there.
   * One an operator removes stops counting at the next listing. Needs an operator while above 0, after a restart too.
   */
  inFailed: number;
  retries: number;
  /** The last try's error while it is the last (null once a try succeeds or finds nothing left to send). */
  lastError: string | null;
  /**
   * lastError's code, set and cleared with it: ERR_SONOEDGE_PACS for the PACS (not reachable, the association refused
   * or dropped, a "try later" status, a batch half answered; a stand-in sender's own code where its error has one), the
   * file system's (EISDIR, ENOTDIR, ENOSPC...) for a local file error, ERR_SONOEDGE_OUTBOX where that has none.
   */
  lastErrorCode: string | null;
  /** When the next try is due (epoch ms), while waiting after a failure. */
  nextTryAt: number | null;
}

/** The retry delays' defaults (OutboxOptions.retryMinMs, retryMaxMs), in ms. */
export const RETRY_MIN_MS = 1000;
export const RETRY_MAX_MS = 60000;
/** OutboxOptions.heldRetryMs's default and its largest value (setTimeout's), in ms. */
export const HELD_RETRY_MS = 600000;
/** OutboxOptions.failedRecountMs's default, in ms. */
export const FAILED_RECOUNT_MS = 10000;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The objects' names in one of the outbox's folders: its .dcm files (not the .txt reasons beside them in failed/). */
async function dcmNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.dcm'));
}

/** A C-STORE status as the outbox's reasons, errors and log lines write it: `0xa700`. */
export const statusHex = (s: number) => `0x${s.toString(16).padStart(4, '0')}`;

const NAME = /^[A-Za-z0-9._-]{1,200}$/;

/**
 * Writes files all or nothing: each to a temporary file in `tmpDir`, flushed; then all renamed into place with
 * synchronous renames (no other callback runs between them, so a sender or a reader in this process never sees some of
 * them without the others; `onPlaced` runs right after them), and the folders flushed. A failure (a full disk, a folder where a file must go) removes the
 * temporary files and any file already renamed into place: none of them is left.
 */
export async function atomicWriteAll(tmpDir: string, files: readonly { file: string; bytes: Uint8Array }[], onPlaced?: () => void): Promise<void> {
  const tmps = files.map(({ file }) => path.join(tmpDir, `${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}`));
  const placed: string[] = [];
  try {
    for (const [i, { bytes }] of files.entries()) {
      const fh = await open(tmps[i], 'w');
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    files.forEach(({ file }, i) => {
      renameSync(tmps[i], file);
      placed.push(file);
    });
    onPlaced?.();
  } catch (err) {
    // The temporary files go too: a capture folder's .tmp is shared, so it is not emptied at start.
    for (const f of placed) rmSync(f, { force: true });
    for (const tmp of tmps) await rm(tmp, { force: true });
    throw err;
  }
  for (const dir of new Set(files.map(({ file }) => path.dirname(file)))) {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}

/** atomicWriteAll's temporary file: NAME.PID.RANDOM (the PID in group 1). */
const TMP_NAME = /^.+\.(\d+)\.[0-9a-z]*$/;

/** Writes bytes to `file` atomically: a temporary file in `tmpDir`, flushed, renamed, and the folder flushed. */
export async function atomicWrite(tmpDir: string, file: string, bytes: Uint8Array): Promise<void> {
  return atomicWriteAll(tmpDir, [{ file, bytes }]);
}

/** A folder as a capture target: a capture's objects written all or nothing under their names (replay --capture, serve without a PACS). */
export async function folderTarget(dir: string): Promise<CaptureTarget & { put(obj: WrittenObject, name: string): Promise<void> }> {
  const tmp = path.join(dir, '.tmp');
  try {
    await mkdir(tmp, { recursive: true });
  } catch (err) {
    throw rangeError('ERR_SONOEDGE_OUTBOX', `Expected a folder sonoedge can write captures to at ${dir} but could not make it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  // .tmp is shared: serve and a replay --capture may write one folder at once, so it is not emptied, and not removed
  // when empty (a writer that made it would lose it). A temporary whose process is gone (killed outright, power lost)
  // is removed; a live process's is kept. A .tmp that is a link is not followed.
  if (lstatSync(tmp, { throwIfNoEntry: false })?.isDirectory() === true) removeStale(tmp, TMP_NAME);
  const putAll = (objects: readonly CaptureObject[]) => atomicWriteAll(tmp, objects.map(({ obj, name }) => ({ file: path.join(dir, name), bytes: obj.bytes })));
  return { putAll, put: (obj: WrittenObject, name: string) => putAll([{ obj, name }]) };
}

/** Failures in a row per pending file: `fail` counts one and returns the run, `clear` ends it, `keepOnly` forgets names no longer listed. */
class FailuresInARow {
  readonly #runs = new Map<string, number>();
  fail(name: string): number {
    const n = (this.#runs.get(name) ?? 0) + 1;
    this.#runs.set(name, n);
    return n;
  }

  clear(name: string): void {
    this.#runs.delete(name);
  }

  keepOnly(listed: ReadonlySet<string>): void {
    for (const name of this.#runs.keys()) if (!listed.has(name)) this.#runs.delete(name);
  }
}

/** A move after the PACS's answer that failed: `head` says which and why, the message adds that the file is sent again. */
type MoveError = Error & { head: string };
function moveError(head: string, cause: unknown): MoveError {
  return Object.assign(new Error(`${head}; it stays in pending/ and is sent again`, { cause }), { head });
}

/**
 * Events: 'queued' (name), 'sent' (name, the C-STORE status: 0 or a warning, and the PACS's Error Comment when it gave one), 'failed' (name, reason), 'fileError' (name, code, error: a local move,
 * removal, listing or read that failed; the file stays in pending/), 'unreadable' (name, code, error, file: a pending
 * file that could not be read in `maxReadFailures` tries in a row, moved to `file` in failed/ and not tried again;
 * once, in place of that try's 'fileError'), 'unmovable' (name, code, error, file: a file the PACS answered whose move
 * failed in `maxMoveFailures` tries in a row, left at `file` in pending/ and not sent again while the process runs, its
 * move tried again every `heldRetryMs` without a word until it succeeds: then the 'sent' or 'failed' of its answer;
 * once, in place of that try's 'fileError'), 'retry' (error, delayMs, cause: RetryCause, code: the error's code, as
 * stats.lastErrorCode), 'recovered' (tries, nothingLeft: a try that ended a run of `tries` failed tries in a row;
 * nothingLeft false when it sent what was pending, true when it found nothing left to send; heldBack: how many files
 * of pending/ that was because they are held back, 0 otherwise).
 */
export class Outbox extends EventEmitter implements CaptureTarget {
  readonly dir: string;
  readonly #o: OutboxOptions;
  readonly #pendingDir: string;
  readonly #tmpDir: string;
  #counter = 0;
  #pumping: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #attempts = 0;
  #closed = false;
  /** Pending files that could not be read, and in how many tries in a row. */
  readonly #readFailures = new FailuresInARow();
  /**
   * Answered files whose move failed, and in how many tries in a row; those held back after maxMoveFailures, each with
   * the PACS's answer (its move is tried again every heldRetryMs: #heldTimer sets #heldDue, the next run does it).
   */
  readonly #moveFailures = new FailuresInARow();
  readonly #heldBack = new Map<string, StoreResult>();
  #heldTimer: NodeJS.Timeout | undefined;
  #heldDue = false;
  /** While failed/ holds objects: lists it again every failedRecountMs (#armRecount). */
  #recountTimer: NodeJS.Timeout | undefined;
  readonly #stats: Omit<OutboxStats, 'held'> = { pending: 0, sent: 0, failed: 0, inFailed: 0, retries: 0, lastError: null, lastErrorCode: null, nextTryAt: null };

  private constructor(o: OutboxOptions) {
    super();
    this.#o = o;
    this.dir = o.dir;
    this.#pendingDir = path.join(o.dir, 'pending');
    this.#tmpDir = path.join(o.dir, 'tmp');
  }

  /**
   * Opens (making it where needed) an outbox folder, removes from its tmp/ the temporaries whose process is gone (a
   * live process's, another writer of this outbox, are kept), and starts sending what is pending.
   */
  static async open(o: OutboxOptions): Promise<Outbox> {
    for (const k of ['maxReadFailures', 'maxMoveFailures'] as const) {
      const max = o[k];
      if (max !== undefined && !(Number.isInteger(max) && max >= 1)) throw invalidValue('ERR_SONOEDGE_OUTBOX', 'an integer of at least 1', k, max);
    }
    for (const k of ['heldRetryMs', 'failedRecountMs'] as const) {
      const ms = o[k];
      if (ms !== undefined && !(Number.isInteger(ms) && ms >= 1 && ms <= MAX_TIMEOUT_MS)) {
        throw invalidValue('ERR_SONOEDGE_OUTBOX', `an integer between 1 and ${MAX_TIMEOUT_MS}`, k, ms);
      }
    }
    const box = new Outbox(o);
    try {
      for (const d of ['pending', 'failed', 'tmp', ...(o.keepSent ? ['sent'] : [])]) await mkdir(path.join(o.dir, d), { recursive: true });
      removeStale(box.#tmpDir, TMP_NAME);
      box.#stats.pending = (await box.pending()).length;
      box.#stats.inFailed = await box.#countFailed();
    } catch (err) {
      throw rangeError('ERR_SONOEDGE_OUTBOX', `Expected an outbox folder sonoedge can write at ${o.dir} but ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    box.#kick();
    box.#armRecount();
    return box;
  }

  get stats(): Readonly<OutboxStats> {
    return { ...this.#stats, held: this.#heldBack.size };
  }

  /** The objects in failed/ (the .dcm files, not their .txt reasons). */
  async #countFailed(): Promise<number> {
    return (await dcmNames(path.join(this.dir, 'failed'))).length;
  }

  /** stats.inFailed listed again; a listing that fails keeps the last count (the next try lists it again). */
  async #relistFailed(): Promise<void> {
    try {
      this.#stats.inFailed = await this.#countFailed();
    } catch {
      // failed/ gone or replaced by a file: the move into it fails and says so; the count stays as it was.
    }
    this.#armRecount();
  }

  /** While failed/ holds objects, #relistFailed again in failedRecountMs (once armed, until it fires or close). */
  #armRecount(): void {
    if (this.#closed || this.#recountTimer || this.#stats.inFailed === 0) return;
    this.#recountTimer = setTimeout(() => {
      this.#recountTimer = undefined;
      void this.#relistFailed();
    }, this.#o.failedRecountMs ?? FAILED_RECOUNT_MS).unref();
  }

  /**
   * What a listing of pending/ (`names`) keeps current, for a try and for the held files' moves alike: the pending
   * count, failed/ listed again, and held files gone from pending/ (removed by hand) no longer held. The names as a set.
   */
  async #listed(names: string[]): Promise<Set<string>> {
    this.#stats.pending = names.length;
    await this.#relistFailed();
    const listed = new Set(names);
    for (const name of this.#heldBack.keys()) if (!listed.has(name)) this.#heldBack.delete(name);
    return listed;
  }

  /** The pending files' names, oldest first. */
  async pending(): Promise<string[]> {
    return (await dcmNames(this.#pendingDir)).sort();
  }

  /** Writes an object durably into pending/ and wakes the sender. */
  put(obj: WrittenObject, name: string): Promise<void> {
    return this.putAll([{ obj, name }]);
  }

  /**
   * CaptureTarget: writes a capture's objects durably into pending/, all or nothing (a clip is never sent without its
   * SR because the SR could not be written), and wakes the sender.
   */
  async putAll(objects: readonly CaptureObject[]): Promise<void> {
    for (const { name } of objects) {
      if (!NAME.test(name)) throw rangeError('ERR_SONOEDGE_OUTBOX', `Expected an outbox file name of letters, digits, '.', '_' or '-' but received ${JSON.stringify(name)}`);
      if (this.#closed) throw rangeError('ERR_SONOEDGE_OUTBOX', `Expected an open outbox at ${this.dir} but it is closed; ${name} was not queued`);
    }
    // Names sort in the order objects were queued (a clock, then a counter), so that the oldest go first.
    const files = objects.map(({ name }) => `${Date.now().toString().padStart(14, '0')}-${String(this.#counter++ % 1e6).padStart(6, '0')}-${name}`);
    // Counted as they go into place (before the folder is flushed), so that a pump listing pending/ meanwhile counts them once.
    await atomicWriteAll(this.#tmpDir, objects.map(({ obj }, i) => ({ file: path.join(this.#pendingDir, files[i]), bytes: obj.bytes })), () => {
      this.#stats.pending += files.length;
    });
    for (const file of files) this.emit('queued', file);
    this.#kick();
  }

  /** Sends now if idle (also cancels a retry wait: use after the PACS is known to be back). */
  flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#stats.nextTryAt = null;
    }
    this.#kick();
    return this.#pumping ?? Promise.resolve();
  }

  /**
   * Starts a run unless one is going: the held files' moves when they are due, then a try to send (not while a retry
   * waits: a held file's move is this machine's, and does not hurry the PACS's backoff). One run at a time, so that a
   * held file moved away is never listed and offered by a try in between; moves due during a run get one after it.
   */
  #kick(): void {
    if (this.#closed || !this.#o.sender || this.#pumping || (this.#timer && !this.#heldDue)) return;
    this.#pumping = (async () => {
      if (this.#heldDue) await this.#retryHeld();
      if (!this.#timer) await this.#pump();
    })().finally(() => {
      this.#pumping = undefined;
      if (this.#heldDue) this.#kick();
    });
  }

  /** Every heldRetryMs while files are held back: their moves are due at the next run. */
  #armHeld(): void {
    if (this.#closed || this.#heldTimer || this.#heldBack.size === 0) return;
    this.#heldTimer = setTimeout(() => {
      this.#heldTimer = undefined;
      this.#heldDue = true;
      this.#kick();
    }, this.#o.heldRetryMs ?? HELD_RETRY_MS).unref();
  }

  /**
   * The held files' moves tried again, with the PACS's answers kept (no C-STORE). One that succeeds is counted and told
   * by #stored or #refused as at its answer (and is no longer held); one that fails stays held, said once already. One
   * gone from pending/ is no longer held; a listing that fails waits for the next period.
   */
  async #retryHeld(): Promise<void> {
    this.#heldDue = false;
    let names: string[];
    try {
      names = await this.pending();
    } catch {
      this.#armHeld();
      return;
    }
    await this.#listed(names);
    for (const [name, r] of [...this.#heldBack]) {
      if (this.#closed) return;
      await (r.outcome === 'stored' ? this.#stored(name, r) : this.#refused(name, r)).catch(() => {});
    }
    this.#armHeld();
  }

  async #pump(): Promise<void> {
    const sender = this.#o.sender!;
    for (;;) {
      if (this.#closed) return;
      let names: string[];
      try {
        names = await this.pending();
      } catch (err) {
        const message = `Expected to list the outbox's pending/ at ${this.#pendingDir} but received ${(err as Error).message}`;
        this.emit('fileError', 'pending/', fsCode(err as Error), message);
        this.#retryLater(message, fsCode(err as Error), 'local');
        return;
      }
      const listed = await this.#listed(names);
      this.#readFailures.keepOnly(listed);
      this.#moveFailures.keepOnly(listed);
      // Held back (their move failed maxMoveFailures times in a row): they stay in pending/ and are not offered again.
      const batch = names.filter((n) => !this.#heldBack.has(n)).slice(0, this.#o.batch ?? 16);
      if (batch.length === 0) {
        // Nothing to send (all sent, or held back): no try failed and none waits. A failed try's files that are gone
        // since (sent by another process sharing the outbox, removed by hand) end that failure; before, lastError
        // stayed, and /metrics and status said the last try failed, retrying, for as long as the process ran.
        this.#succeeded(true, this.#heldBack.size);
        return;
      }
      const answered = new Set<string>();
      const moves: { name: string; r: StoreResult; done: Promise<void> }[] = [];
      const unreadable: { name: string; tries: number; err: Error }[] = [];
      let localStop = false;
      let error: string | undefined;
      let errorCode: string = PACS_CODE;
      try {
        await sender.store(batch.map((n) => path.join(this.#pendingDir, n)), (r) => {
          const name = path.basename(r.file);
          this.#readFailures.clear(name);
          if (r.outcome === 'retry') {
            error ??= `the PACS ${sender.where} answered ${name} with status ${statusHex(r.status)} (try again later)${r.comment ? `: ${r.comment}` : ''}`;
            return;
          }
          answered.add(name);
          const done = r.outcome === 'stored' ? this.#stored(name, r) : this.#refused(name, r);
          // Handled now: a move may fail while the association still runs (a real PACS answers file by file), long
          // before allSettled below looks at it; unhandled until then, its rejection would end the process.
          done.catch(() => {});
          moves.push({ name, r, done });
        }, (file, err) => {
          // Read on this machine before it is sent (deleted or replaced since pending/ was listed): the file's own
          // error, not the PACS's. Whatever is still there stays in pending/ for the next try.
          const name = path.basename(file);
          const tries = this.#readFailures.fail(name);
          const read = `Expected to read ${name} in the outbox's pending/ to send it to the PACS ${sender.where} but received ${err.message}`;
          unreadable.push({ name, tries, err: new Error(`${read}; it was not sent and stays in pending/ while it is there`, { cause: err }) });
        });
      } catch (err) {
        // The sender stopped the batch because a file could not be read here (told above, with the others it could
        // not read): the files after it were not offered to the PACS, which is not at fault.
        if ((err as { local?: unknown }).local === true) localStop = true;
        else {
          error = (err as Error).message;
          errorCode = pacsCode(err);
        }
      }
      // A file that could not be moved or removed after its answer stays in pending/ and is sent again (the PACS stores
      // a SOP Instance UID once); the pump never rejects, so that a failed move cannot end the process. Such a failure
      // is this machine's (a local file error), not the PACS's: it is told apart.
      const settled = await Promise.allSettled(moves.map((m) => m.done));
      // A file that could not be read in maxReadFailures tries in a row goes to failed/ and is not part of this try's
      // local error: the files after it go on at once. One whose move fails stays, a local file error like the others.
      const max = this.#o.maxReadFailures ?? 3;
      const setAside = new Set<string>();
      for (const { name, tries, err } of unreadable) {
        if (tries < max) continue;
        const moved = await this.#unreadable(name, tries, err);
        if (moved) setAside.add(name);
      }
      // A file whose move failed maxMoveFailures times in a row is held back where it is, told once, and is not part
      // of this try's local error either (before, it was sent again after every backoff, for ever).
      const maxMove = this.#o.maxMoveFailures ?? 3;
      const failedMoves: { name: string; err: Error }[] = [];
      for (const [i, m] of settled.entries()) {
        const name = moves[i].name;
        if (m.status === 'fulfilled') {
          this.#moveFailures.clear(name);
          continue;
        }
        const err = m.reason as MoveError;
        const tries = this.#moveFailures.fail(name);
        if (tries < maxMove) {
          failedMoves.push({ name, err });
          continue;
        }
        this.#moveFailures.clear(name);
        this.#heldBack.set(name, moves[i].r);
        const file = path.join(this.#pendingDir, name);
        this.emit('unmovable', name, fsCode(err), `${err.head} in ${tries} tries in a row; it stays at ${file}, is not sent again while this process runs `
          + `and its move is tried again every ${this.#o.heldRetryMs ?? HELD_RETRY_MS} ms (a restart sends it again)`, file);
      }
      this.#armHeld();
      const stuck = [...unreadable.filter((u) => !setAside.has(u.name)), ...failedMoves];
      for (const { name, err } of stuck) this.emit('fileError', name, fsCode(err), err.message);
      if (error === undefined && !localStop && answered.size + unreadable.length < batch.length) error = `the PACS ${sender.where} answered ${answered.size} of ${batch.length} files`;
      if (error !== undefined) {
        this.#retryLater(error, errorCode, 'pacs');
        return;
      }
      if (stuck.length > 0) {
        this.#retryLater(stuck[0].err.message, fsCode(stuck[0].err), 'local');
        return;
      }
      this.#succeeded(false);
    }
  }

  /** A try that did not fail: the failure (if any) ends, and 'recovered' says after how many failed tries. */
  #succeeded(nothingLeft: boolean, heldBack = 0): void {
    const tries = this.#attempts;
    this.#attempts = 0;
    this.#stats.lastError = null;
    this.#stats.lastErrorCode = null;
    if (tries > 0) this.emit('recovered', tries, nothingLeft, heldBack);
  }

  async #stored(name: string, r: StoreResult): Promise<void> {
    const from = path.join(this.#pendingDir, name);
    try {
      if (this.#o.keepSent) await rename(from, path.join(this.dir, 'sent', name));
      else await rm(from, { force: true });
    } catch (err) {
      throw moveError(`Expected to ${this.#o.keepSent ? 'move' : 'remove'} ${name}, stored by the PACS ${this.#o.sender!.where}, ${this.#o.keepSent ? 'into sent/' : 'from pending/'} but received ${(err as Error).message}`, err);
    }
    // Moved: held back no more (a held file whose move was tried again), before anyone hears of it.
    this.#heldBack.delete(name);
    this.#stats.sent++;
    this.#stats.pending = Math.max(0, this.#stats.pending - 1);
    this.emit('sent', name, r.status, ...(r.comment !== undefined ? [r.comment] : []));
  }

  async #refused(name: string, r: StoreResult): Promise<void> {
    const reason = `refused by the PACS ${this.#o.sender!.where} with status ${statusHex(r.status)}${r.comment ? `: ${r.comment}` : ''}`;
    try {
      await this.#intoFailed(name, reason);
    } catch (err) {
      throw moveError(`Expected to move ${name}, ${reason}, into failed/ with its reason but received ${(err as Error).message}`, err);
    }
    this.#heldBack.delete(name);
    this.emit('failed', name, reason);
  }

  /**
   * A pending file that could not be read in `tries` tries in a row (the last one's error `err`): into failed/ with
   * the reason, and 'unreadable' once. False when the move failed ('fileError' is told by the caller; it stays).
   */
  async #unreadable(name: string, tries: number, err: Error): Promise<boolean> {
    const cause = err.cause as Error;
    const reason = `could not be read on this machine in ${tries} tries in a row (the last: ${cause.message}); not sent to the PACS ${this.#o.sender!.where}`;
    try {
      await this.#intoFailed(name, reason);
    } catch (moveErr) {
      err.message += `; after ${tries} tries it was to go to failed/, but moving it there failed: ${(moveErr as Error).message}`;
      return false;
    }
    this.#readFailures.clear(name);
    const file = path.join(this.dir, 'failed', name);
    const message = `Expected to read ${name} in the outbox's pending/ to send it to the PACS ${this.#o.sender!.where} but received ${cause.message} `
      + `in ${tries} tries in a row; it was not sent and is moved to ${file}, beside its reason (${name}.txt), and not tried again`;
    this.emit('unreadable', name, fsCode(err), message, file);
    return true;
  }

  /**
   * Moves a pending file into failed/ beside `NAME.txt` holding `reason`. The reason first, whole (written in tmp/ and
   * renamed), then the object: failed/ never holds an object without its reason, nor a reason cut short. Either fails:
   * the object stays in pending/ (and this rejects with the file system's error).
   */
  async #intoFailed(name: string, reason: string): Promise<void> {
    const failed = path.join(this.dir, 'failed');
    await atomicWrite(this.#tmpDir, path.join(failed, `${name}.txt`), Buffer.from(`${reason}\n`));
    try {
      await rename(path.join(this.#pendingDir, name), path.join(failed, name));
    } catch (err) {
      await rm(path.join(failed, `${name}.txt`), { force: true });
      throw err;
    }
    this.#stats.failed++;
    this.#stats.inFailed++;
    this.#armRecount();
    this.#stats.pending = Math.max(0, this.#stats.pending - 1);
  }

  #retryLater(error: string, code: string, cause: RetryCause): void {
    const min = this.#o.retryMinMs ?? RETRY_MIN_MS;
    const max = this.#o.retryMaxMs ?? RETRY_MAX_MS;
    const delay = Math.min(max, min * 2 ** Math.min(this.#attempts, 30));
    this.#attempts++;
    this.#stats.retries++;
    this.#stats.lastError = error;
    this.#stats.lastErrorCode = code;
    this.#stats.nextTryAt = Date.now() + delay;
    this.emit('retry', error, delay, cause, code);
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#stats.nextTryAt = null;
      this.#kick();
    }, delay);
    this.#timer.unref();
  }

  /**
   * Stops sending: no new tries; waits up to `timeoutMs` for a batch in flight. Files not acknowledged stay in
   * pending/ for the next start.
   */
  async close(timeoutMs = 5000): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#heldTimer);
    this.#heldTimer = undefined;
    clearTimeout(this.#recountTimer);
    this.#recountTimer = undefined;
    const pumping = this.#pumping;
    if (pumping) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([pumping, new Promise<void>((resolve) => { t = setTimeout(resolve, timeoutMs); })]);
      clearTimeout(t);
    }
  }
}
