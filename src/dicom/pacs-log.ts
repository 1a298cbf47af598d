// What serve's log says about the PACS while the outbox's tries fail: not a
// line per failed try (with short retry settings, one every few hundred ms for
// as long as the PACS is away), but the first failure of a run, then a line
// when the backoff reaches its longest delay, then at most one every
// `everyMs` (10 minutes), each with the tries since the line before; a failure
// with another code than the run's logs at once. When a try succeeds again, one
// info line says after how many failed tries. docs/DICOM.md, "Sending to a PACS".

type Log = { info: (o: object, m: string) => void; warn: (o: object, m: string) => void };

export interface PacsFailureLogOptions {
  /** The PACS (PacsClient.where), named by the line that says it is reachable again. */
  where: string;
  /** The outbox's longest retry delay (retryMaxMs): the first failure whose delay reaches it is logged. */
  retryMaxMs: number;
  /** After a line, how long the failures of the same code are counted without one (default 600000: 10 minutes). */
  everyMs?: number;
  /**
   * The clock, in ms (default performance.now: monotonic, so that a wall clock stepped back by NTP or a wrong RTC at
   * boot does not silence the lines until it has caught up, as Date.now did).
   */
  now?: () => number;
}

export const PACS_NOT_REACHABLE = 'PACS not reachable: objects wait in the outbox';
export const PACS_STILL_NOT_REACHABLE = 'PACS still not reachable: objects wait in the outbox';

const tries = (n: number) => `${n} failed ${n === 1 ? 'try' : 'tries'}`;

/**
 * Hears the outbox's failed PACS tries (`failed`, from its 'retry' event with cause 'pacs') and the end of a failure
 * (`recovered`, from its 'recovered' event) and logs as the file's head says. Every warning has `error` (the last
 * failed try's), `code`, `delayMs` (the wait before the next try), `failedTries` (failed tries in a row since the PACS
 * last took a try) and `tries` (of those, since the line before, this one included).
 */
export class PacsFailureLog {
  readonly #log: Log;
  readonly #o: Required<PacsFailureLogOptions>;
  /** Failed tries in a row (0: the PACS is not known to be failing). */
  #failed = 0;
  /** The code of the last line's error, the tries not logged since it, when it was written, whether the longest delay was reached. */
  #code = '';
  #since = 0;
  #lineAt = 0;
  #capped = false;

  constructor(log: Log, o: PacsFailureLogOptions) {
    this.#log = log;
    this.#o = { everyMs: 600_000, now: () => performance.now(), ...o };
  }

  /** A try that failed for the PACS. */
  failed(error: string, code: string, delayMs: number): void {
    this.#failed++;
    this.#since++;
    const first = this.#failed === 1 || code !== this.#code;
    const capped = delayMs >= this.#o.retryMaxMs;
    const now = this.#o.now();
    if (!first && !(capped && !this.#capped) && now - this.#lineAt < this.#o.everyMs) return;
    this.#log.warn({ error, code, delayMs, failedTries: this.#failed, tries: this.#since }, first ? PACS_NOT_REACHABLE : PACS_STILL_NOT_REACHABLE);
    this.#code = code;
    this.#since = 0;
    this.#lineAt = now;
    this.#capped ||= capped;
  }

  /**
   * A try that ended the outbox's failure: it sent what was pending (`nothingLeft` false), or found nothing left to
   * send (true: its files were sent by another process sharing the outbox, or removed). Logged only after PACS failures.
   */
  recovered(nothingLeft: boolean, heldBack = 0): void {
    const n = this.#failed;
    this.#failed = 0;
    this.#since = 0;
    this.#code = '';
    this.#capped = false;
    if (n === 0) return;
    // Held-back files are still in pending/ (their move failed after the PACS answered): said, not called gone (before).
    if (nothingLeft && heldBack > 0) this.#log.info({ failedTries: n, heldBack, pacs: this.#o.where }, `PACS outbox failure over after ${tries(n)}: nothing left to send but ${heldBack} held back in pending/ (their move tried again every heldRetryMs)`);
    else if (nothingLeft) this.#log.info({ failedTries: n, pacs: this.#o.where }, `PACS outbox failure over after ${tries(n)}: nothing left to send (sent by another process sharing the outbox, or removed)`);
    else this.#log.info({ failedTries: n, pacs: this.#o.where }, `PACS reachable again after ${tries(n)}`);
  }
}
