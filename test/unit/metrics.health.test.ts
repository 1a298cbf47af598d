// GET /health's outbox object (src/telemetry/metrics.ts) for a real outbox whose stand-in PACS fails, then takes the
// object: lastError and lastErrorCode together; and an outbox whose failed/ holds an earlier run's objects: inFailed in
// /health and sonoedge_pacs_outbox_in_failed in /metrics. The runtime is a stand-in with only what the endpoint reads (the
// whole serve is test/integration/serve.dicom.test.ts).
import t from 'tap';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Outbox, type BatchSender } from '../../src/dicom/outbox.js';
import { PacsError, type StoreResult } from '../../src/dicom/store.js';
import { MetricsServer } from '../../src/telemetry/metrics.js';
import type { Runtime } from '../../src/runtime/index.js';
import { seedFailed } from '../helpers/capture.js';

/** A runtime with only what the endpoint reads, and `box` as its outbox. */
const standIn = (box: Outbox) => ({
  state: 'running', watchdog: undefined, serial: undefined, runningModels: () => [],
  server: { clientCount: 0, stats: { resultsSent: 0, resultsDropped: 0, rejected: 0 }, errorsByName: new Map() },
  streams: { ids: [], size: 0, perStream: new Map(), get: () => undefined, on: () => undefined, off: () => undefined },
  pipeline: { sessions: { size: 0, list: () => [] } },
  publisher: { subscribe: () => ({ close: () => undefined }) },
  dicom: { outbox: box, get outboxStats() { return box.stats; } },
}) as unknown as Runtime;

t.test('/health\'s outbox: lastError with its code (ERR_SONOEDGE_PACS) while a try failed, both null once one succeeds', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-health-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'pending'), { recursive: true });
  await writeFile(path.join(dir, 'pending', '00000000000001-000000-clip.dcm'), 'a stand-in object');
  const refused = 'Expected the PACS ORTHANC@127.0.0.1:4242 to take the association but the connection failed: connect ECONNREFUSED 127.0.0.1:4242';
  let down = true;
  const sender: BatchSender = {
    where: 'ORTHANC@127.0.0.1:4242',
    store: async (files, on) => {
      if (down) throw new PacsError(refused);
      for (const file of files) on({ file, status: 0, outcome: 'stored' } as StoreResult);
    },
  };
  const box = await Outbox.open({ dir, sender, retryMinMs: 60_000 });
  t.teardown(() => box.close());
  await box.flush();
  const metrics = await MetricsServer.start(standIn(box), { port: 0 });
  t.teardown(() => metrics.close());
  const health = async () => {
    const h = await (await fetch(`http://127.0.0.1:${metrics.port}/health`)).json() as { outbox: Record<string, unknown> };
    return { ...h.outbox, nextTryAt: h.outbox.nextTryAt === null ? null : typeof h.outbox.nextTryAt };
  };
  t.same(await health(), { pending: 1, held: 0, sent: 0, failed: 0, inFailed: 0, retries: 1, lastError: refused, lastErrorCode: 'ERR_SONOEDGE_PACS', nextTryAt: 'number' });
  down = false;
  await box.flush();
  t.same(await health(), { pending: 0, held: 0, sent: 1, failed: 0, inFailed: 0, retries: 1, lastError: null, lastErrorCode: null, nextTryAt: null });
});

t.test('/health\'s outbox.inFailed and /metrics\' sonoedge_pacs_outbox_in_failed: the objects in failed/ now (an earlier run\'s too), beside failed (moved there since start)', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-health-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await seedFailed(path.join(dir, 'failed'), ['00000000000001-000000-clip.dcm', '00000000000002-000000-sr.dcm'], 'ORTHANC@127.0.0.1:4242');
  const box = await Outbox.open({ dir, sender: { where: 'ORTHANC@127.0.0.1:4242', store: async () => undefined } });
  t.teardown(() => box.close());
  const metrics = await MetricsServer.start(standIn(box), { port: 0 });
  t.teardown(() => metrics.close());
  const h = await (await fetch(`http://127.0.0.1:${metrics.port}/health`)).json() as { outbox: Record<string, unknown> };
  t.same([h.outbox.inFailed, h.outbox.failed], [2, 0]);
  const text = await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text();
  t.match(text, /^# TYPE sonoedge_pacs_outbox_in_failed gauge\nsonoedge_pacs_outbox_in_failed 2$/m);
  t.match(text, /^sonoedge_pacs_outbox_failed_total 0$/m);
});
