// The result publisher: one fan-out point for every result the pipeline makes
// (DESIGN.md, "Growing the runtime"). Each consumer (a socket subscriber, the
// serial link, metrics, a live viewer, DICOM capture, OpenIGTLink) subscribes
// with its own back-pressure policy and queue; publish() never waits for a
// consumer, and a slow or failing consumer delays nobody else.
//
//   const sub = publisher.subscribe({
//     name: 'dicom-capture',
//     policy: 'durable',                        // or 'drop-oldest', 'keep-latest'
//     filter: (r) => r.stream === 0,            // optional
//     deliver: async (r) => { await outbox.put(r); },
//   });
//   ...
//   sub.close();
//
// The contract, for consumers:
// - deliver(result) is called in publish order, one result at a time. A
//   consumer is busy while a promise it returned is pending, or while its
//   ready() says false; results that arrive meanwhile wait in its own queue.
// - A consumer that returns nothing and has no ready() takes every result at
//   once (keep it cheap: it runs on the publishing turn of the event loop).
// - A consumer whose ready() went false calls sub.wake() when it can take
//   more (a socket's 'drain', say).
// - Policies, when a result arrives while the queue holds `capacity`:
//   'drop-oldest' drops the oldest queued one, 'keep-latest' (capacity 1)
//   replaces the waiting one, 'durable' drops nothing up to `capacity`
//   (default 4096) and beyond it drops the new one (counted as `overflowed`;
//   a durable consumer should move results to disk faster than that).
//   Every drop is counted in the subscription's stats.
// - A deliver that throws or rejects is counted (`failed`) and reported to
//   the publisher's onError; the consumer goes on with the next result.
// - Results are shared between consumers: never modify one.
import { rangeError, typeError, type ErrorCode } from '../errors.js';
import type { ResultBody } from '../protocol/messages.js';

/** What subscribe's refusals of a consumer carry. */
const OPTION: ErrorCode = 'ERR_SONOEDGE_PUBLISHER_OPTION';

export type BackPressure = 'drop-oldest' | 'keep-latest' | 'durable';

export interface ResultConsumer<R = ResultBody> {
  /** A name for stats, logs and metrics (`socket-client-3`, `serial`, `metrics`, `dicom-capture`). */
  readonly name: string;
  /** What to do with results that arrive while the consumer is busy; default 'drop-oldest'. */
  readonly policy?: BackPressure;
  /** Results queued at most: default 8 ('drop-oldest'), 1 ('keep-latest', always), 4096 ('durable'). */
  readonly capacity?: number;
  /** Only results for which this is true are queued or delivered; default all. */
  filter?(result: R): boolean;
  /** Whether the consumer can take a result now; default always. After false, call the subscription's wake(). */
  ready?(): boolean;
  /** Takes one result; a returned promise keeps the consumer busy until it settles. */
  deliver(result: R): void | Promise<void>;
  /** Told of each result its policy dropped (or, durable, refused), after it was counted. */
  onDrop?(result: R): void;
}

export interface SubscriptionStats {
  /** Results handed to deliver(). */
  delivered: number;
  /** Queued results dropped: the oldest ('drop-oldest') or the waiting one ('keep-latest'). */
  dropped: number;
  /** 'durable' only: results refused because the queue held `capacity`. */
  overflowed: number;
  /** deliver() threw or rejected. */
  failed: number;
  /** Results waiting now. */
  queued: number;
}

export interface Subscription {
  readonly name: string;
  readonly policy: BackPressure;
  readonly stats: Readonly<SubscriptionStats>;
  /** The consumer can take results again (after its ready() said false): delivers what waits. */
  wake(): void;
  /** Unsubscribes; queued results are dropped (not counted). Idempotent. */
  close(): void;
}

export interface PublisherOptions {
  /** A consumer's deliver threw or rejected (after it was counted); default: ignored. */
  onError?: (consumer: string, err: unknown) => void;
}

const DEFAULT_CAPACITY: Record<BackPressure, number> = { 'drop-oldest': 8, 'keep-latest': 1, durable: 4096 };
const POLICIES = Object.keys(DEFAULT_CAPACITY) as BackPressure[];

class Sub<R> implements Subscription {
  readonly name: string;
  readonly policy: BackPressure;
  readonly capacity: number;
  readonly stats: SubscriptionStats = { delivered: 0, dropped: 0, overflowed: 0, failed: 0, queued: 0 };
  readonly #consumer: ResultConsumer<R>;
  readonly #queue: R[] = [];
  readonly #owner: ResultPublisher<R>;
  #busy = false;
  #closed = false;
  #draining = false;

  constructor(owner: ResultPublisher<R>, consumer: ResultConsumer<R>) {
    this.#owner = owner;
    this.#consumer = consumer;
    this.name = consumer.name;
    this.policy = consumer.policy ?? 'drop-oldest';
    this.capacity = this.policy === 'keep-latest' ? 1 : consumer.capacity ?? DEFAULT_CAPACITY[this.policy];
  }

  get closed(): boolean {
    return this.#closed;
  }

  offer(r: R): void {
    if (this.#closed) return;
    if (this.#consumer.filter && !this.#safe(() => this.#consumer.filter!(r), false)) return;
    if (this.#queue.length === 0 && this.#canTake()) {
      this.#deliver(r);
      return;
    }
    if (this.#queue.length >= this.capacity) {
      if (this.policy === 'durable') {
        this.stats.overflowed++;
        this.#dropped(r);
        return;
      }
      this.stats.dropped++;
      this.#dropped(this.#queue.shift()!);
    }
    this.#queue.push(r);
    this.stats.queued = this.#queue.length;
  }

  wake(): void {
    if (this.#closed || this.#draining) return;
    this.#draining = true;
    try {
      while (this.#queue.length > 0 && this.#canTake()) {
        const r = this.#queue.shift()!;
        this.stats.queued = this.#queue.length;
        this.#deliver(r);
      }
    } finally {
      this.#draining = false;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.stats.queued = 0;
    this.#owner.remove(this);
  }

  #canTake(): boolean {
    if (this.#busy) return false;
    return this.#consumer.ready === undefined || this.#safe(() => this.#consumer.ready!(), false);
  }

  #deliver(r: R): void {
    this.stats.delivered++;
    let out: void | Promise<void>;
    try {
      out = this.#consumer.deliver(r);
    } catch (err) {
      this.#failed(err);
      return;
    }
    if (out === undefined || typeof (out as Promise<void>).then !== 'function') return;
    this.#busy = true;
    (out as Promise<void>).then(() => undefined, (err: unknown) => this.#failed(err)).finally(() => {
      this.#busy = false;
      this.wake();
    });
  }

  #dropped(r: R): void {
    if (this.#consumer.onDrop) this.#safe(() => this.#consumer.onDrop!(r), undefined);
  }

  #failed(err: unknown): void {
    this.stats.failed++;
    this.#owner.reportError(this.name, err);
  }

  #safe<T>(fn: () => T, fallback: T): T {
    try {
      return fn();
    } catch (err) {
      this.#failed(err);
      return fallback;
    }
  }
}

export class ResultPublisher<R = ResultBody> {
  readonly #subs = new Set<Sub<R>>();
  readonly #onError: PublisherOptions['onError'];
  /** Results published since start. */
  published = 0;

  constructor(options: PublisherOptions = {}) {
    this.#onError = options.onError;
  }

  /** Adds a consumer; see the contract at the top of this file. TypeError / RangeError (with a code) for a bad consumer. */
  subscribe(consumer: ResultConsumer<R>): Subscription {
    if (consumer === null || typeof consumer !== 'object') throw typeError(OPTION, `Expected an object for consumer but received ${consumer === null ? 'null' : typeof consumer}`);
    if (typeof consumer.name !== 'string' || consumer.name.length === 0) {
      throw typeError(OPTION, `Expected a non-empty string for consumer.name but received ${JSON.stringify(consumer.name)}`);
    }
    if (typeof consumer.deliver !== 'function') throw typeError(OPTION, `Expected a function for consumer.deliver but received ${typeof consumer.deliver}`);
    if (consumer.policy !== undefined && !POLICIES.includes(consumer.policy)) {
      throw rangeError(OPTION, `Expected one of ${POLICIES.join(', ')} for consumer.policy but received ${JSON.stringify(consumer.policy)}`);
    }
    const cap = consumer.capacity;
    if (cap !== undefined && !(Number.isInteger(cap) && cap >= 1 && cap <= 1_000_000)) {
      throw rangeError(OPTION, `Expected an integer 1..1000000 for consumer.capacity but received ${String(cap)}`);
    }
    const sub = new Sub<R>(this, consumer);
    this.#subs.add(sub);
    return sub;
  }

  /** Hands a result to every consumer (each by its own policy); never waits, never throws. */
  publish(result: R): void {
    this.published++;
    for (const s of this.#subs) s.offer(result);
  }

  /** The subscriptions now, for stats and metrics. */
  get subscriptions(): readonly Subscription[] {
    return [...this.#subs];
  }

  /** Closes every subscription. */
  close(): void {
    for (const s of [...this.#subs]) s.close();
  }

  /** @internal */
  remove(s: Sub<R>): void {
    this.#subs.delete(s);
  }

  /** @internal */
  reportError(name: string, err: unknown): void {
    try {
      this.#onError?.(name, err);
    } catch { /* a failing error hook must not take the publisher down */ }
  }
}
