// `sonoedge demo`, the main job (`npm start`): the runtime with the bundled
// models, the bundled synthetic A4C cine streamed into it through the same
// Unix socket firmware uses, at the cine's frame rate, a live status line, a
// summary (view, quality, the in-distribution state and score, LV area, EF
// with its interval and the beats seen beside the known EF, latency per stage,
// drops) and a report folder with an HTML page. With --live, the live viewer
// page (src/viewer) shows the stream as it plays; its URL is printed.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readInput } from '../io/index.js';
import { labelNumber, labelString, type Cine } from '../io/types.js';
import { loadTrustStore, bundledPaths, MODELS_DIR } from '../model/package.js';
import { MessageType, ResultFlag } from '../protocol/constants.js';
import { parseResult, type ResultBody } from '../protocol/messages.js';
import { efText, latencyTable, stateSummary, writeSessionReport, type SessionRecord } from '../report/session.js';
import { Runtime } from '../runtime/index.js';
import { SocketClient } from '../transport/socket-client.js';
import { PERCENTILE_METHOD } from '../util/stats.js';
import { choiceFlag, commandHelp, numberFlag, parseCommandArgs, type CommandSpec } from './args.js';
import { checkOutputFolder } from './output.js';
import { resolveSector, spacingText } from './replay-geometry.js';
import type { ViewerServer } from '../viewer/server.js';

export const SAMPLE_CINE = path.join(MODELS_DIR, 'samples', 'a4c_cine_16f.dcm');

export const SPEC: CommandSpec = {
  name: 'demo',
  summary: 'stream the bundled A4C cine through the runtime over its socket; print a summary and write an HTML report',
  usage: '[options]',
  flags: {
    loops: { type: 'string', value: 'N', help: 'times to play the cine (default 4)' },
    fps: { type: 'string', value: 'FPS', help: "frame rate (default the cine's, else 30)" },
    fast: { type: 'boolean', help: 'send each frame when the previous result is back, not at the frame rate' },
    input: { type: 'string', value: 'FILE', help: 'another DICOM cine instead of the bundled one' },
    variant: { type: 'string', value: 'NAME', help: 'model variant: fp32 (default) or int8' },
    report: { type: 'string', value: 'DIR', help: 'report folder (default sonoedge-report/demo)' },
    'no-report': { type: 'boolean', help: 'do not write the report' },
    socket: { type: 'string', value: 'PATH', help: 'socket path (default a fresh one under the temp folder)' },
    live: { type: 'boolean', help: 'serve the live viewer page on loopback and print its URL; plays 1000 loops unless --loops (Ctrl-C ends)' },
    'live-port': { type: 'string', value: 'PORT', help: 'port of the live page (default 0: a free one)' },
  },
};

const SPARK = '▁▂▃▄▅▆▇█';
function sparkline(xs: (number | null)[]): string {
  const v = xs.filter((x): x is number => x !== null);
  if (v.length === 0) return '';
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  return xs.map((x) => (x === null ? ' ' : SPARK[hi > lo ? Math.round(((x - lo) / (hi - lo)) * 7) : 3])).join('');
}

export async function demo(args: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(SPEC, args);
  if (help) {
    process.stdout.write(commandHelp(SPEC));
    return 0;
  }
  const live = values.live === true;
  const loops = numberFlag(values, 'loops', live ? 1000 : 4, { min: 1, max: 10000, integer: true });
  const livePort = numberFlag(values, 'live-port', 0, { min: 0, max: 65535, integer: true });
  const variant = choiceFlag(values, 'variant', 'fp32', ['fp32', 'int8']);
  const input = (values.input as string | undefined) ?? SAMPLE_CINE;
  // Before any work: a report folder that cannot be written is a usage error, not a failure after the run.
  if (!values['no-report'] && values.report !== undefined) await checkOutputFolder('report', values.report as string);
  const cine = await readInput(input);
  const fps = numberFlag(values, 'fps', cine.frameTimeMs ? 1000 / cine.frameTimeMs : 30, { min: 0.1, max: 1000 });
  const spacingXY: readonly [number, number] = typeof cine.pixelSpacingMm === 'object' ? cine.pixelSpacingMm : [cine.pixelSpacingMm ?? 1, cine.pixelSpacingMm ?? 1];
  // The recording's own labels, when it carries them (the bundled cine does: simulator ground truth).
  const knownEf = labelNumber(cine.labels, 'ef');
  const knownView = labelString(cine.labels, 'view');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-demo-'));
  const socketPath = (values.socket as string | undefined) ?? path.join(tmp, 'sonoedge.sock');
  const out = (s: string) => process.stdout.write(`${s}\n`);
  // The DICOM region, unless it was written for a larger original (replay's rule): then the fan found on the frames.
  const sector = resolveSector(undefined, cine);
  if (sector.source === 'finder') out(`sonoedge demo: ${sector.line}`);
  const tty = process.stdout.isTTY === true;

  // The temp folder goes on every way out: a runtime, viewer or connection that fails to start included.
  const removeTmp = (): void => rmSync(tmp, { recursive: true, force: true });
  const bundled = bundledPaths();
  let rt: Runtime;
  try {
    rt = await Runtime.start({
      pipeline: {
        viewQuality: bundled.viewQuality,
        segmentation: bundled.segmentation,
        trustStore: await loadTrustStore(bundled.trust),
        variant,
      },
      socket: { path: socketPath, mode: 0o600 },
    });
  } catch (err) {
    removeTmp();
    throw err;
  }
  let viewer: ViewerServer | undefined;
  let interrupted = false;
  const onInt = (): void => { interrupted = true; };
  let client: SocketClient;
  try {
    if (live) {
      const { ViewerServer } = await import('../viewer/server.js');
      // Loopback, and a fresh token all the same: the page shows patient images to whoever can reach the port.
      viewer = await ViewerServer.start(rt, { port: livePort, token: randomBytes(18).toString('base64url') });
      out(`sonoedge demo: live page at ${viewer.url}`);
      process.on('SIGINT', onInt);
    }
    client = await SocketClient.connect(socketPath);
  } catch (err) {
    process.off('SIGINT', onInt);
    await viewer?.close();
    await rt.close();
    removeTmp();
    throw err;
  }
  const total = loops * cine.frames.length;
  const results: ResultBody[] = [];
  const roundTrip = new Map<number, number>();
  const sentAt = new Map<number, number>();
  let waiting: (() => void) | undefined;
  try {
    await client.hello('sonoedge-demo');
    await client.configure({
      stream: 1, width: cine.width, height: cine.height, format: cine.format, spacing: [spacingXY[0], spacingXY[1]], fps,
      ...(sector.roi ? { roi: sector.roi } : {}),
    });
    await client.subscribe({ contours: true });
    client.on('message', (m) => {
      if (m.header.type !== MessageType.RESULT) return;
      const r = parseResult(m.body);
      roundTrip.set(r.seq, performance.now() - (sentAt.get(r.seq) ?? 0));
      results.push(r);
      if (tty) {
        process.stdout.write(`\r  frame ${String(r.seq + 1).padStart(4)}/${total}  view ${r.view ?? '-'}  ${r.state.padEnd(9)}  quality ${r.quality?.toFixed(2) ?? '-'}`
          + `  LV ${r.lvAreaMm2 === null ? '-' : `${Math.round(r.lvAreaMm2)} mm2`}  EF ${r.ef === null ? '-' : `${r.ef.toFixed(1)}%`}`
          + `  ${r.latency.totalMs.toFixed(1)} ms  dropped ${rt.server.stats.framesDropped}   `);
      }
      waiting?.();
    });
    out(`sonoedge demo: ${total} frames (${loops} x ${cine.frames.length}) of ${input === SAMPLE_CINE ? 'the bundled A4C cine' : input}, `
      + `${cine.width}x${cine.height} ${cine.format}, ${spacingText(spacingXY[0] === spacingXY[1] ? spacingXY[0] : spacingXY)}/px, ${values.fast ? 'as fast as results come back' : `at ${fps.toFixed(1)} fps`}, over ${socketPath}`);
    const t0 = performance.now();
    for (let i = 0; i < total && !interrupted; i++) {
      if (values.fast) {
        if (i > 0) await new Promise<void>((resolve) => { waiting = resolve; if (results.length + rt.server.stats.framesDropped >= i) resolve(); });
      } else {
        const due = t0 + (i * 1000) / fps;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      sentAt.set(i, performance.now());
      client.sendFrame(1, i, cine.frames[i % cine.frames.length]);
    }
    const deadline = performance.now() + 30000;
    while (results.length + rt.server.stats.framesDropped < sentAt.size && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    if (tty) process.stdout.write('\n');
  } finally {
    process.off('SIGINT', onInt);
    await client.close();
    await viewer?.close();
    await rt.close();
    removeTmp();
  }

  const records: SessionRecord[] = results.map((r) => ({
    seq: r.seq, frame: r.seq % cine.frames.length, view: r.view, quality: r.quality, lvAreaMm2: r.lvAreaMm2, ef: r.ef, efCi: r.efCi,
    state: r.state, idScore: r.idScore,
    ...(r.contour ? { contour: r.contour } : {}),
    totalMs: r.latency.totalMs, stages: r.latency.stages, extra: { 'round trip (client)': roundTrip.get(r.seq) ?? 0 },
  }));
  // Fewer than `total` when Ctrl-C ended a --live demo early.
  const sentCount = sentAt.size;
  const dropped = sentCount - results.length;
  const views = new Map<string, number>();
  for (const r of results) views.set(r.view ?? '-', (views.get(r.view ?? '-') ?? 0) + 1);
  const q = results.flatMap((r) => (r.quality === null ? [] : [r.quality]));
  const lastEfResult = [...results].reverse().find((r) => r.ef !== null);
  const lastEf = lastEfResult?.ef ?? null;
  // Beats seen: an ES confirmed after an ED (each flagged once, on the result that confirmed it).
  let beats = 0;
  let edBefore = false;
  for (const r of [...results].sort((a, b) => a.seq - b.seq)) {
    if (r.edSeq !== null) edBefore = true;
    if (r.esSeq !== null && edBefore) {
      beats++;
      edBefore = false;
    }
  }
  const lastLoop = results.slice(-cine.frames.length);
  const areas = lastLoop.map((r) => r.lvAreaMm2);
  const present = areas.filter((a): a is number => a !== null);
  const efSummary = lastEf === null ? 'not estimated (no full cardiac cycle of good quality)'
    : `${efText(lastEf, lastEfResult!.efCi, { lowQuality: (lastEfResult!.flags & ResultFlag.EF_LOW_QUALITY) !== 0 })}`
      + `${knownEf !== undefined ? `, known ${knownEf.toFixed(1)}% (difference ${(lastEf - knownEf).toFixed(1)} points)` : ''}`;
  const summary: [string, string][] = [
    ['input', `${input === SAMPLE_CINE ? 'bundled synthetic A4C cine' : input}, ${cine.width}x${cine.height} ${cine.format}, ${spacingText(spacingXY[0] === spacingXY[1] ? spacingXY[0] : spacingXY)}/px`],
    ['frames', `${sentCount} sent, ${results.length} results, ${dropped} dropped (latest frame wins)`],
    ['view', [...views].map(([v, k]) => `${v} on ${k}/${results.length}`).join(', ') + (knownView ? ` (known ${knownView})` : '')],
    ['quality', q.length ? `mean ${(q.reduce((a, b) => a + b, 0) / q.length).toFixed(2)}, min ${Math.min(...q).toFixed(2)}` : 'n/a'],
    ['state', stateSummary(results)],
    ['LV area', present.length ? `${Math.round(Math.min(...present))}..${Math.round(Math.max(...present))} mm2 over the last loop` : 'not segmented'],
    ['ejection fraction', efSummary],
    ['beats', `${beats} seen (ED and ES each confirmed once)`],
  ];
  out('');
  for (const [k, v] of summary) out(`  ${k.padEnd(18)}${v}`);
  if (present.length) out(`  ${''.padEnd(18)}${sparkline(areas)}  (LV area, last loop)`);
  const table = latencyTable(records);
  out(`  latency (ms, ${PERCENTILE_METHOD})`);
  out(`    ${'stage'.padEnd(28)}${['p50', 'p90', 'p99'].map((h) => h.padStart(8)).join('')}`);
  for (const row of table.rows) out(`    ${String(row[0]).padEnd(28)}${[row[2], row[3], row[4]].map((x) => String(x).padStart(8)).join('')}`);
  if (!values['no-report']) {
    const dir = path.resolve((values.report as string | undefined) ?? path.join('sonoedge-report', 'demo'));
    const index = await writeSessionReport(dir, {
      title: 'sonoedge demo', subtitle: 'The bundled models on a synthetic A4C cine, streamed over the runtime socket', summary, cine, records,
      frames: cine.frames.length,
    });
    out(`  ${'report'.padEnd(18)}${path.relative(process.cwd(), index) || index}`);
  }
  return results.length > 0 ? 0 : 1;
}
