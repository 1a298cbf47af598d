// SessionPool (src/pipeline/sessions.ts): one engine session per package
// variant and engine options, shared by the runners that ask for it, closed
// with the last hold; a load that fails leaves nothing behind. Real ONNX
// Runtime sessions on the bundled view/quality model.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EngineOptions } from '../../src/engine/index.js';
import { loadTrustStore, MODELS_DIR, verifyModelPackage, type VerifiedPackage } from '../../src/model/package.js';
import { SessionPool } from '../../src/pipeline/sessions.js';

const quiet: EngineOptions = { log: false, intraOpThreads: 1 };
const load = async () => verifyModelPackage(path.join(MODELS_DIR, 'view_quality'), { trustStore: await loadTrustStore(path.join(MODELS_DIR, 'trust')) });
const info = (pool: SessionPool) => pool.list().map((s) => [s.model, s.variant, s.provider, s.users]);

t.test('runners asking at once get one session; each hold is released once; the last closes it', async (t) => {
  const pkg = await load();
  const pool = new SessionPool();
  const [a, b] = await Promise.all([pool.acquire(pkg, 'fp32', quiet), pool.acquire(pkg, 'fp32', { ...quiet, log: () => undefined })]);
  t.equal(a.engine, b.engine, 'one session, whatever the log callback');
  t.same(info(pool), [['sonoedge-view-quality@1.0.0', 'fp32', 'cpu', 2]]);
  await a.release();
  await a.release(); // idempotent: the second release of one hold gives nothing back
  t.same(info(pool), [['sonoedge-view-quality@1.0.0', 'fp32', 'cpu', 1]]);
  t.equal(b.engine.closed, false);
  await b.release();
  t.equal(b.engine.closed, true);
  t.equal(pool.size, 0);
  const c = await pool.acquire(pkg, 'fp32', quiet);
  t.not(c.engine, a.engine, 'asked again after the last release: a new session');
  await c.release();
});

t.test('another variant or other engine options: a session of its own', async (t) => {
  const pkg = await load();
  const pool = new SessionPool();
  const fp32 = await pool.acquire(pkg, 'fp32', quiet);
  const int8 = await pool.acquire(pkg, 'int8', quiet);
  const twoThreads = await pool.acquire(pkg, 'fp32', { ...quiet, intraOpThreads: 2 });
  t.equal(pool.size, 3);
  t.not(fp32.engine, int8.engine);
  t.not(fp32.engine, twoThreads.engine);
  t.same(info(pool).map((x) => x[1]), ['fp32', 'int8', 'fp32']);
  for (const l of [fp32, int8, twoThreads]) await l.release();
  t.equal(pool.size, 0);
});

t.test('a session that fails to load rejects every runner waiting for it and leaves nothing behind', async (t) => {
  const pkg = await load();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-sessions-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = path.join(dir, 'model.fp32.onnx');
  writeFileSync(bad, 'not a model');
  const v = pkg.manifest.variants.fp32;
  const broken: VerifiedPackage = {
    ...pkg, manifest: { ...pkg.manifest, variants: { fp32: { ...v, sha256: '0'.repeat(64) } } }, variantPath: () => bad,
  };
  const pool = new SessionPool();
  const results = await Promise.allSettled([pool.acquire(broken, 'fp32', quiet), pool.acquire(broken, 'fp32', quiet)]);
  t.same(results.map((r) => r.status), ['rejected', 'rejected']);
  for (const r of results) t.match((r as PromiseRejectedResult).reason, { code: 'ERR_SONOEDGE_ENGINE_MODEL' });
  t.equal(pool.size, 0, 'nothing left behind');
  const good = await pool.acquire(pkg, 'fp32', quiet);
  t.same(info(pool), [['sonoedge-view-quality@1.0.0', 'fp32', 'cpu', 1]], 'the good model loads beside it');
  await good.release();
});
