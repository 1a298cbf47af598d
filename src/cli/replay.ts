// `sonoedge replay INPUT`: a recorded study (DICOM, a folder of PNG files, or a
// raw file with --geometry) through the production pipeline. By default every
// frame is processed, each submitted only after the previous result (no drops,
// as fast as the machine goes); --realtime paces frames at the recording's
// rate, where latest-frame-wins may drop some, and counts them. One JSON line
// per result; everything but `latency` is identical run to run on CPU.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { choiceFlag, commandHelp, numberFlag, parseCommandArgs, UsageError, type CommandSpec } from './args.js';
import { dicomRows, formatRows, spacingWords } from './dicom.js';
import { checkOutputFile, checkOutputFolder, pendingFile, writeFiles } from './output.js';
import { resolveSector, sectorFlag, spacingFlag as parseSpacingFlag, spacingText } from './replay-geometry.js';
import { AutoCapture, folderTarget, modelUse, type CaptureSummary } from '../dicom/index.js';
import { parseDicomFile, parseRawGeometry, readInput, studyAttributes, type Cine } from '../io/index.js';
import { labelNumber } from '../io/types.js';
import { loadTrustStore, bundledPaths, MODELS_DIR } from '../model/package.js';
import { Pipeline, SEGMENTATION_VIEWS, type FrameInfo, type PipelineResult, type Processed } from '../pipeline/index.js';
import { FLIPS, type Flip } from '../preprocess/flip.js';
import { efText, noEfText, rejectedCount, stateSummary, writeSessionReport, type SessionRecord } from '../report/session.js';
import { summarize, type Summary } from '../util/stats.js';

export const SPEC: CommandSpec = {
  name: 'replay',
  summary: 'run a recorded study (DICOM, PNG folder or raw file) through the pipeline; JSON lines and an overlay report',
  usage: '[options] INPUT',
  positionals: [1, 1],
  flags: {
    out: { type: 'string', short: 'o', value: 'FILE', help: 'write the JSON lines to FILE (default stdout)' },
    report: { type: 'string', value: 'DIR', help: 'write an HTML report (frames with the LV overlay, charts) to DIR' },
    realtime: { type: 'boolean', help: "pace frames at the input's frame rate; latest frame wins, drops are counted" },
    geometry: { type: 'string', value: 'WxH:FORMAT', help: 'read INPUT as raw frames back to back, e.g. 1024x768:GRAY8 (or RGB8)' },
    'pixel-spacing': { type: 'string', value: 'MM|SX,SY', help: "millimetres per pixel, or x then y (default the input's; 1 when it has none)" },
    sector: { type: 'string', value: 'X,Y,W,H|auto', help: "the image sector's box in input pixels (the models' crop), or auto: found on the cine (default the DICOM region, else the whole frame)" },
    flip: { type: 'string', value: 'none|horizontal|vertical|both', help: "how the scanner shows the image against the models' orientation (apex at the top, in apical views the LV on the right): horizontal when mirrored, vertical when apex down, both when turned 180 degrees (default none)" },
    fps: { type: 'string', value: 'N', help: "frame rate for --realtime (default the input's frame time; 30 when it has none)" },
    models: { type: 'string', value: 'DIR', help: 'folder holding view_quality/ and lv_segmentation/ packages (default the bundled models)' },
    trust: { type: 'string', value: 'DIR', help: 'trust store folder of *.pub keys (default the bundled development store)' },
    variant: { type: 'string', value: 'NAME', help: 'model variant: fp32 (default) or int8' },
    capture: { type: 'string', value: 'DIR', help: 'auto-capture: write the best clip per view as DICOM (US multi-frame + SR) to DIR, in the input\'s study' },
    'capture-seconds': { type: 'string', value: 'N', help: 'clip length in seconds (default 2; the whole cine when shorter)' },
    'capture-beats': { type: 'string', value: 'N', help: 'clip length in whole beats instead of seconds' },
    'secondary-capture': { type: 'boolean', help: 'with --capture: also a Secondary Capture with the LV outline drawn in' },
  },
};

/**
 * The JSON line of one result: everything a validation diff needs, latency apart. `state` is the shown
 * in-distribution state and `idScore` its smoothed score (null without an id_score output), `frameState` and
 * `idScoreRaw` this frame's own; `viewUncertain` (only with a view package that has
 * postprocessing.view.thresholds.uncertain) whether the shown view's averaged probability is under it;
 * `qualityDisplayed` (only with a view package that has postprocessing.quality.full_gain) the model's quality on the
 * frame as it is, `quality` then being the larger of that and its quality at full gain; `edSeq` /
 * `esSeq` appear on the frame that confirms an ED / ES; `lvAreaMm2` and `lvBeamAngleDeg` (null for a mask too round
 * to have an axis) on a frame with an LV,
 * `lvRejected` on one whose LV was not shown (pipeline lvRejected); `ef` when valid, with `qualityReason` when its
 * quality is low and `borderBand` when the LV package has calibration.lv_border.
 */
export function resultLine(r: Processed<FrameInfo, PipelineResult>): Record<string, unknown> {
  const p = r.result;
  const line: Record<string, unknown> = {
    seq: p.seq,
    view: p.view.label,
    confidence: p.view.confidence,
    viewShown: p.view.shown,
    quality: p.quality.score,
    qualityGood: p.quality.good,
    state: p.state,
    idScore: p.idScore,
    frameState: p.frameState,
    idScoreRaw: p.idScoreRaw,
  };
  if (p.view.uncertain !== undefined) line.viewUncertain = p.view.uncertain;
  if (p.quality.displayed !== undefined) line.qualityDisplayed = p.quality.displayed;
  if (p.lv) {
    line.lvAreaMm2 = p.lv.areaMm2;
    line.lvBeamAngleDeg = p.lv.beamAngleDeg;
  }
  if (p.lvRejected) line.lvRejected = p.lvRejected;
  if (p.ef?.edConfirmed != null) line.edSeq = p.ef.edConfirmed;
  if (p.ef?.esConfirmed != null) line.esSeq = p.ef.esConfirmed;
  if (p.ef?.valid) {
    line.ef = {
      percent: p.ef.ef, ci: p.ef.ci, quality: p.ef.quality,
      // why the quality is low, and the LV border band the package's calibration.lv_border judges (when it has one)
      ...(p.ef.qualityReason !== undefined ? { qualityReason: p.ef.qualityReason } : {}),
      ...(p.ef.borderBand !== undefined ? { borderBand: p.ef.borderBand } : {}),
      beats: p.ef.beats.length, method: p.ef.method, edFrame: p.ef.edFrame, esFrame: p.ef.esFrame,
    };
  }
  line.latency = { totalMs: r.timing.totalMs, queueMs: r.timing.queueMs, stages: r.timing.stages };
  return line;
}

const ms = (v: number): string => `${v.toFixed(1)} ms`;

export async function replay(args: string[]): Promise<number> {
  const { values, positionals, help } = parseCommandArgs(SPEC, args);
  if (help) {
    process.stdout.write(commandHelp(SPEC));
    return 0;
  }
  const variant = choiceFlag(values, 'variant', 'fp32', ['fp32', 'int8']);
  const spacingFlag = parseSpacingFlag(values);
  const sector = sectorFlag(values);
  const flip = choiceFlag(values, 'flip', 'none', FLIPS) as Flip;
  const fpsFlag = values.fps === undefined ? undefined : numberFlag(values, 'fps', 30, { min: 0.1, max: 1000 });
  const geometry = values.geometry as string | undefined;
  if (geometry !== undefined) {
    try {
      parseRawGeometry(geometry);
    } catch (err) {
      throw new UsageError(`option --geometry ${(err as Error).message.replace(/^Expected/, 'expects')}`);
    }
  }
  const captureDir = values.capture as string | undefined;
  const captureBeats = values['capture-beats'] === undefined ? undefined : numberFlag(values, 'capture-beats', 1, { min: 1, max: 10, integer: true });
  const captureSeconds = numberFlag(values, 'capture-seconds', 2, { min: 0.05, max: 60 });
  if (captureDir === undefined) {
    for (const f of ['capture-seconds', 'capture-beats', 'secondary-capture']) if (values[f] !== undefined) throw new UsageError(`option --${f} needs --capture DIR`);
  }
  const outFile = values.out as string | undefined;
  const reportDir = values.report as string | undefined;
  // Before any work: a path that cannot be written is a usage error, not a failure after the run.
  if (outFile !== undefined) await checkOutputFile('out', outFile);
  if (reportDir !== undefined) await checkOutputFolder('report', reportDir);
  const input = positionals[0];
  const cine = await readInput(input, { geometry });
  const roi = resolveSector(sector, cine);
  const spacing = spacingFlag ?? cine.pixelSpacingMm;
  if (spacing === undefined) process.stderr.write(`sonoedge replay: ${input} gives no pixel spacing; LV areas assume 1 mm per pixel (set --pixel-spacing)\n`);
  process.stderr.write(`sonoedge replay: ${roi.line}\n`);
  const flipped = flip === 'none' ? undefined : `frames flipped ${flip} for the models`;
  if (flipped) process.stderr.write(`sonoedge replay: ${flipped} (--flip); LV outlines as the input shows them\n`);
  if (cine.dicom !== undefined) {
    // What the DICOM held and what replay uses of it, one table (the same as `sonoedge dicom inspect`).
    const own = cine.dicom.spacingMm ? `; overrides the file's ${spacingWords(cine.dicom.spacingMm)} from ${cine.dicom.spacingSource}` : '';
    const spacingUse = spacingFlag !== undefined ? `${spacingWords(spacingFlag)} from --pixel-spacing${own}` : undefined;
    const rows = dicomRows(cine.dicom, { frames: cine.frames.length, sector: roi.line.replace(/^sector /, ''), ...(spacingUse ? { spacing: spacingUse } : {}) });
    for (const line of formatRows(rows, '')) process.stderr.write(`sonoedge replay: ${line}\n`);
  }
  const intervalMs = fpsFlag !== undefined ? 1000 / fpsFlag : cine.frameTimeMs ?? 1000 / 30;

  const dirs = bundledPaths((values.models as string | undefined) ?? MODELS_DIR);
  const trustStore = await loadTrustStore((values.trust as string | undefined) ?? bundledPaths().trust);
  const pipeline = await Pipeline.create({
    viewQuality: dirs.viewQuality,
    ...(existsSync(dirs.segmentation) ? { segmentation: dirs.segmentation } : {}),
    trustStore,
    variant,
    // Validation replays must be repeatable: deterministic kernels, sequential execution.
    engine: { deterministic: true },
  });

  // Auto-capture (src/dicom): clips of the input's study, the 8-bit frames the pipeline ran on.
  let capture: AutoCapture | undefined;
  if (captureDir !== undefined) {
    const frameTimeMs = cine.frameTimeMs ?? intervalMs;
    // A cine shorter than the clip length is captured whole.
    const seconds = Math.min(captureSeconds, (cine.frames.length * frameTimeMs) / 1000);
    capture = new AutoCapture({
      capture: captureBeats !== undefined ? { mode: 'beats', beats: captureBeats } : { mode: 'seconds', seconds },
      writer: { secondaryCapture: values['secondary-capture'] === true },
      target: await folderTarget(captureDir),
      onError: (err, where) => process.stderr.write(`sonoedge replay: capture of ${where.view ?? 'a clip'} failed: ${(err as Error).message}\n`),
    });
  }

  // --out is written beside its name and renamed into place at the end: a failed run leaves no partial file.
  const out = outFile !== undefined ? pendingFile(outFile) : undefined;
  const sink = out?.stream ?? process.stdout;
  try {
    const results: Processed<FrameInfo, PipelineResult>[] = [];
    const failures: string[] = [];
    const stream = await pipeline.openStream(
      { input: { width: cine.width, height: cine.height, format: cine.format }, pixelSpacingMm: spacing ?? 1, ...(roi.roi ? { sectorRoi: roi.roi } : {}), flip },
      (r) => {
        results.push(r);
        capture?.offer(0, cine.frames[r.result.seq], r.result);
        sink.write(`${JSON.stringify(resultLine(r))}\n`);
      },
      (frame, err) => failures.push(`frame ${frame.seq}: ${(err as Error).message}`),
    );
    if (capture) {
      const study = cine.dicom !== undefined ? studyAttributes(parseDicomFile(await readFile(input), input)) : {};
      const [sx, sy] = typeof spacing === 'number' ? [spacing, spacing] : spacing ?? [1, 1];
      const runners = stream.processor.runners;
      capture.open(0, {
        width: cine.width, height: cine.height, format: cine.format, frameTimeMs: cine.frameTimeMs ?? intervalMs, spacingMm: [sx, sy],
        ...(roi.roi ? { sectorRoi: roi.roi } : {}), study, ...(cine.dicom?.lossy ? { lossySource: true } : {}),
      }, () => runners.map((x) => modelUse(x.package, x.variant)));
    }
    try {
      if (values.realtime === true) {
        const t0 = performance.now();
        for (let i = 0; i < cine.frames.length; i++) {
          const wait = t0 + i * intervalMs - performance.now();
          if (wait > 0) await sleep(wait);
          stream.submit(cine.frames[i], i);
        }
      } else {
        for (let i = 0; i < cine.frames.length; i++) {
          stream.submit(cine.frames[i], i);
          await stream.idle();
        }
      }
      await stream.idle();
    } finally {
      await stream.close();
    }
    let captured: CaptureSummary[] = [];
    if (capture && captureDir !== undefined) {
      captured = await capture.finish(0);
      // Renamed into place whole: a program reading the folder never sees it half written, and a failure keeps the earlier one.
      await writeFiles(captureDir, [['captures.json', `${JSON.stringify(captured, null, 2)}\n`]], 'captures.json');
    }
    await out?.end();

    const stats = stream.stats;
    const lat = results.length > 0 ? summarize(results.map((r) => r.timing.totalMs)) : undefined;
    const lastEf = [...results].reverse().find((r) => r.result.ef?.valid)?.result.ef;
    const known = labelNumber(cine.labels, 'ef');
    const efLine = lastEf
      ? `EF ${efText(lastEf.ef, lastEf.ci, { beats: lastEf.beats.length, lowQuality: lastEf.quality === 'low' })}${known !== undefined ? ` (label ${known.toFixed(1)}%)` : ''}`
      : noEfText(results.map((r) => r.result), {
        segmentation: pipeline.segmentation !== undefined, views: pipeline.options.segmentationViews ?? SEGMENTATION_VIEWS, bar: pipeline.segmentationBar().enter,
      });
    const states = stateSummary(results.map((r) => r.result));
    // Frames whose LV was withheld (pipeline lvRejected): said only when there are some.
    const rejected = (code: string): string => {
      const n = rejectedCount(results.map((r) => r.result), code);
      return n > 0 ? `${n} frame${n === 1 ? '' : 's'}` : '';
    };
    const across = rejected('LV_ACROSS_BEAM');
    const mirrored = rejected('LV_MIRRORED');
    const acrossText = (across ? `LV across the beam on ${across} (not shown), ` : '')
      + (mirrored ? `a four-chamber heart mirrored on ${mirrored} (LV not shown), ` : '');
    process.stderr.write(`sonoedge replay: ${results.length}/${cine.frames.length} frames processed (${stats.dropped} dropped, ${stats.failed} failed), `
      + `state ${states}, ${acrossText}${efLine}, `
      + `latency p50 ${lat ? ms(lat.median) : 'n/a'}, p99 ${lat ? ms(lat.p99) : 'n/a'}\n`);
    for (const f of failures) process.stderr.write(`sonoedge replay: ${f}\n`);
    if (captureDir !== undefined) {
      if (captured.length === 0) process.stderr.write(`sonoedge replay: captured nothing (no run of frames in state ok, above the quality gate, of one view, long enough)\n`);
      for (const c of captured) {
        process.stderr.write(`sonoedge replay: captured ${c.view} frames ${c.seqs[0]}..${c.seqs[1]} (mean quality ${c.qualityMean.toFixed(2)}${c.ef !== null ? `, EF ${c.ef.toFixed(1)}%` : ''}): ${c.objects.map((o) => o.name).join(', ')} in ${captureDir}\n`);
      }
    }

    if (reportDir !== undefined) {
      const index = await writeReplayReport(reportDir, input, cine, results, { spacing, sector: flipped ? `${roi.line}; ${flipped}` : roi.line, variant, efText: efLine, states, dropped: stats.dropped, lat });
      process.stderr.write(`sonoedge replay: report ${index}\n`);
    }
    await out?.commit();
    return failures.length > 0 ? 1 : 0;
  } catch (err) {
    await out?.discard();
    throw err;
  }
}

/** At most this many frames in a report, evenly spaced, so a long study stays a page a browser opens. */
const REPORT_FRAMES = 120;

function writeReplayReport(dir: string, input: string, cine: Cine, results: Processed<FrameInfo, PipelineResult>[],
  info: { spacing?: number | readonly [number, number]; sector: string; variant: string; efText: string; states: string; dropped: number; lat?: Summary }): Promise<string> {
  const { lat } = info;
  const records: SessionRecord[] = results.map(({ result: p, timing }) => ({
    seq: p.seq, frame: p.seq, view: p.view.shown, quality: p.quality.score, lvAreaMm2: p.lv?.areaMm2 ?? null,
    ef: p.ef?.valid ? p.ef.ef : null, efCi: p.ef?.valid ? p.ef.ci : null, state: p.state, idScore: p.idScore, ...(p.lv?.contourFrame ? { contour: p.lv.contourFrame } : {}),
    totalMs: timing.totalMs, stages: timing.stages,
  }));
  return writeSessionReport(dir, {
    title: `Replay of ${path.basename(input)}`,
    subtitle: 'sonoedge replay: the production pipeline on a recorded study',
    summary: [
      ['input', input],
      ['frames', `${cine.frames.length} of ${cine.width}x${cine.height} ${cine.format}, ${results.length} processed, ${info.dropped} dropped`],
      ...(cine.dicom ? [['DICOM', `${cine.dicom.transferSyntax}; ${cine.dicom.photometric}; ${cine.dicom.regions.length} ultrasound region${cine.dicom.regions.length === 1 ? '' : 's'}; ${cine.dicom.warnings.length === 0 ? 'no warnings' : cine.dicom.warnings.map((w) => w.code).join(', ')}`] as [string, string]] : []),
      ['pixel spacing', info.spacing === undefined ? 'none in the input (1 mm assumed)' : spacingText(info.spacing)],
      ['sector', info.sector],
      ['models', `bundled pipeline, variant ${info.variant}`],
      ['in-distribution state', info.states],
      ['ejection fraction', info.efText],
      ['latency', lat ? `p50 ${ms(lat.median)}, p99 ${ms(lat.p99)}` : 'n/a'],
    ],
    cine,
    records,
    frames: REPORT_FRAMES,
    spread: true,
  });
}
