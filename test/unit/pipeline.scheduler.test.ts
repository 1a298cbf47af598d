// Latest-frame-wins scheduling: drops, order, errors, timings, close.
import t from 'tap';
import { LatestWinsScheduler, type FrameInfo, type Processed } from '../../src/pipeline/scheduler.js';

interface F extends FrameInfo { tag?: string }
const frame = (seq: number): F => ({ seq, acquiredAt: performance.now() });

/** A process function whose runs finish only when the test says so. */
function gate() {
  const waiting: Array<{ seq: number; finish: (fail?: boolean) => void }> = [];
  const process = (f: F) => new Promise<number>((resolve, reject) => {
    waiting.push({ seq: f.seq, finish: (fail) => (fail ? reject(new Error(`frame ${f.seq} failed`)) : resolve(f.seq * 10)) });
  });
  const next = async () => {
    while (waiting.length === 0) await new Promise((r) => setImmediate(r));
    return waiting.shift()!;
  };
  return { process, next, waiting };
}

t.test('a frame arriving while busy replaces the waiting one', async (t) => {
  const g = gate();
  const results: Processed<F, number>[] = [];
  const dropped: number[] = [];
  const s = new LatestWinsScheduler<F, number>({
    process: (f, stage) => stage('model', () => g.process(f)),
    onResult: (r) => results.push(r),
    onDrop: (f) => dropped.push(f.seq),
  });
  t.equal(s.submit(frame(1)), true);
  const first = await g.next();
  t.equal(first.seq, 1);
  t.equal(s.submit(frame(2)), true, 'waits');
  t.equal(s.submit(frame(3)), false, 'replaces 2');
  t.equal(s.submit(frame(4)), false, 'replaces 3');
  first.finish();
  const second = await g.next();
  t.equal(second.seq, 4, 'the latest frame runs next, never a stale one');
  second.finish();
  await s.idle();
  t.same(results.map((r) => [r.frame.seq, r.result]), [[1, 10], [4, 40]]);
  t.same(dropped, [2, 3]);
  t.same(s.stats, { received: 4, processed: 2, dropped: 2, failed: 0 });
  t.same(Object.keys(results[0].timing.stages), ['model']);
  for (const r of results) {
    t.ok(r.timing.queueMs >= 0 && r.timing.totalMs >= r.timing.stages.model, 'queue, stage and total times are consistent');
  }
  t.ok(results[1].timing.queueMs > 0, 'frame 4 waited for frame 1');
});

t.test('a failed frame is reported and the stream goes on', async (t) => {
  const g = gate();
  const results: number[] = [];
  const errors: string[] = [];
  const s = new LatestWinsScheduler<F, number>({
    process: (f) => g.process(f),
    onResult: (r) => results.push(r.frame.seq),
    onError: (f, err) => errors.push(`${f.seq}: ${(err as Error).message}`),
  });
  s.submit(frame(1));
  (await g.next()).finish(true);
  s.submit(frame(2));
  (await g.next()).finish();
  await s.idle();
  t.same(errors, ['1: frame 1 failed']);
  t.same(results, [2]);
  t.same(s.stats, { received: 2, processed: 1, dropped: 0, failed: 1 });
});

t.test('close drops the waiting frame, finishes the running one, refuses more', async (t) => {
  const g = gate();
  const results: number[] = [];
  const dropped: number[] = [];
  const s = new LatestWinsScheduler<F, number>({ process: (f) => g.process(f), onResult: (r) => results.push(r.frame.seq), onDrop: (f) => dropped.push(f.seq) });
  s.submit(frame(1));
  const running = await g.next();
  s.submit(frame(2));
  const closing = s.close();
  running.finish();
  await closing;
  t.same(results, [1]);
  t.same(dropped, [2]);
  t.throws(() => s.submit(frame(3)), { message: 'Expected an open scheduler but received a frame after close()' });
});

t.test('stages accumulate in order and time real work', async (t) => {
  const seen: Processed<F, string>[] = [];
  const s = new LatestWinsScheduler<F, string>({
    process: async (f, stage) => {
      await stage('preprocess', () => new Promise((r) => setTimeout(r, 5)));
      await stage('engine', () => new Promise((r) => setTimeout(r, 5)));
      await stage('postprocess', () => 'ok');
      return `done ${f.seq}`;
    },
    onResult: (r) => seen.push(r),
  });
  s.submit(frame(7));
  await s.idle();
  t.equal(seen[0].result, 'done 7');
  t.same(Object.keys(seen[0].timing.stages), ['preprocess', 'engine', 'postprocess']);
  t.ok(seen[0].timing.stages.preprocess >= 4 && seen[0].timing.stages.engine >= 4, 'timer stages took at least their sleep');
});

t.test('dropWaiting: the waiting frame is dropped (onDrop, counted), the running one finishes, later frames run', async (t) => {
  const g = gate();
  const results: number[] = [];
  const dropped: number[] = [];
  const s = new LatestWinsScheduler<F, number>({ process: (f) => g.process(f), onResult: (r) => results.push(r.frame.seq), onDrop: (f) => dropped.push(f.seq) });
  t.equal(s.dropWaiting(), false, 'nothing waits: nothing dropped');
  s.submit(frame(1));
  const first = await g.next();
  t.equal(s.dropWaiting(), false, 'the running frame is not the waiting one');
  s.submit(frame(2));
  t.equal(s.dropWaiting(), true);
  t.same(dropped, [2]);
  t.equal(s.stats.dropped, 1);
  first.finish();
  s.submit(frame(3));
  (await g.next()).finish();
  await s.idle();
  t.same(results, [1, 3], 'frame 2 never ran');
});
