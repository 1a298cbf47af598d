// The result publisher: each consumer's back-pressure policy, counted drops,
// a slow or failing consumer that delays nobody else, and the option errors.
import t from 'tap';
import { ResultPublisher, type ResultConsumer } from '../../src/runtime/publisher.js';

type R = { seq: number };
const r = (seq: number): R => ({ seq });
const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((res) => { resolve = res; });
  return { promise, resolve };
};
const tick = () => new Promise((res) => setImmediate(res));

t.test('an idle consumer gets every result at once, in order', async (t) => {
  const p = new ResultPublisher<R>();
  const got: number[] = [];
  const sub = p.subscribe({ name: 'fast', deliver: (x) => { got.push(x.seq); } });
  for (let i = 0; i < 5; i++) p.publish(r(i));
  t.same(got, [0, 1, 2, 3, 4]);
  t.same(sub.stats, { delivered: 5, dropped: 0, overflowed: 0, failed: 0, queued: 0 });
  t.equal(sub.policy, 'drop-oldest');
  t.equal(p.published, 5);
});

t.test('drop-oldest, keep-latest and durable while a consumer is busy; a busy one never delays another', async (t) => {
  const p = new ResultPublisher<R>();
  const slow = (name: string, policy: ResultConsumer<R>['policy'], capacity?: number) => {
    const got: number[] = [];
    let gate = deferred();
    const sub = p.subscribe({ name, policy, capacity, deliver: (x) => { got.push(x.seq); return gate.promise; } });
    return { got, sub, open: () => { const g = gate; gate = deferred(); g.resolve(); } };
  };
  const oldest = slow('oldest', 'drop-oldest', 3);
  const latest = slow('latest', 'keep-latest');
  const durable = slow('durable', 'durable', 5);
  const fast: number[] = [];
  p.subscribe({ name: 'fast', deliver: (x) => { fast.push(x.seq); } });
  for (let i = 0; i < 8; i++) p.publish(r(i));
  t.same(fast, [0, 1, 2, 3, 4, 5, 6, 7], 'the fast consumer got all of them while the others were busy');
  t.same([oldest.got, latest.got, durable.got], [[0], [0], [0]], 'each slow one holds its first');
  t.same(oldest.sub.stats, { delivered: 1, dropped: 4, overflowed: 0, failed: 0, queued: 3 });
  t.same(latest.sub.stats, { delivered: 1, dropped: 6, overflowed: 0, failed: 0, queued: 1 });
  t.same(durable.sub.stats, { delivered: 1, dropped: 0, overflowed: 2, failed: 0, queued: 5 });
  // Let each finish one result at a time until its queue is empty.
  for (let i = 0; i < 6; i++) {
    oldest.open(); latest.open(); durable.open();
    await tick();
  }
  t.same(oldest.got, [0, 5, 6, 7], 'drop-oldest: the newest 3 after the first');
  t.same(latest.got, [0, 7], 'keep-latest: the newest only');
  t.same(durable.got, [0, 1, 2, 3, 4, 5], 'durable: every one up to its capacity, in order');
});

t.test('ready() and wake(): results wait while the consumer says it is full', async (t) => {
  const p = new ResultPublisher<R>();
  let room = false;
  const got: number[] = [];
  const dropped: number[] = [];
  const sub = p.subscribe({ name: 'socket', capacity: 2, ready: () => room, deliver: (x) => { got.push(x.seq); }, onDrop: (x) => dropped.push(x.seq) });
  for (let i = 0; i < 4; i++) p.publish(r(i));
  t.same(got, []);
  t.same(dropped, [0, 1]);
  room = true;
  sub.wake();
  t.same(got, [2, 3]);
  t.same(sub.stats, { delivered: 2, dropped: 2, overflowed: 0, failed: 0, queued: 0 });
});

t.test('a consumer that throws or rejects is counted and reported; the others and the next results go on', async (t) => {
  const errors: string[] = [];
  const p = new ResultPublisher<R>({ onError: (name, err) => errors.push(`${name}: ${(err as Error).message}`) });
  const good: number[] = [];
  const thrower = p.subscribe({ name: 'thrower', deliver: (x) => { if (x.seq === 1) throw new Error('boom'); } });
  const rejecter = p.subscribe({ name: 'rejecter', deliver: (x) => (x.seq === 0 ? Promise.reject(new Error('no disk')) : undefined) });
  p.subscribe({ name: 'good', deliver: (x) => { good.push(x.seq); } });
  p.publish(r(0));
  p.publish(r(1));
  await tick();
  p.publish(r(2));
  t.same(good, [0, 1, 2]);
  t.same(errors, ['thrower: boom', 'rejecter: no disk']);
  t.same(thrower.stats, { delivered: 3, dropped: 0, overflowed: 0, failed: 1, queued: 0 });
  t.same(rejecter.stats, { delivered: 3, dropped: 0, overflowed: 0, failed: 1, queued: 0 });
});

t.test('filter, close, and the subscriptions list', async (t) => {
  const p = new ResultPublisher<R>();
  const got: number[] = [];
  const sub = p.subscribe({ name: 'even', filter: (x) => x.seq % 2 === 0, deliver: (x) => { got.push(x.seq); } });
  for (let i = 0; i < 5; i++) p.publish(r(i));
  t.same(got, [0, 2, 4]);
  t.same(p.subscriptions.map((s) => s.name), ['even']);
  sub.close();
  sub.close();
  p.publish(r(6));
  t.same(got, [0, 2, 4]);
  t.same(p.subscriptions, []);
});

t.test('bad consumers are refused with a coded error naming what was wrong', async (t) => {
  const p = new ResultPublisher<R>();
  const deliver = () => undefined;
  t.throws(() => p.subscribe(null as unknown as ResultConsumer<R>), { name: 'TypeError', code: 'ERR_SONOEDGE_PUBLISHER_OPTION', message: 'Expected an object for consumer but received null' });
  t.throws(() => p.subscribe({ name: '', deliver }), { name: 'TypeError', code: 'ERR_SONOEDGE_PUBLISHER_OPTION', message: 'Expected a non-empty string for consumer.name but received ""' });
  t.throws(() => p.subscribe({ name: 'x' } as ResultConsumer<R>), { name: 'TypeError', message: 'Expected a function for consumer.deliver but received undefined' });
  t.throws(() => p.subscribe({ name: 'x', deliver, policy: 'drop-newest' as 'durable' }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_PUBLISHER_OPTION', message: 'Expected one of drop-oldest, keep-latest, durable for consumer.policy but received "drop-newest"',
  });
  t.throws(() => p.subscribe({ name: 'x', deliver, capacity: 0 }), { name: 'RangeError', message: 'Expected an integer 1..1000000 for consumer.capacity but received 0' });
});
