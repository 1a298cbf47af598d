// `sonoedge dicom inspect FILE`: what a DICOM file holds and what sonoedge
// makes of it, in one table: transfer syntax, photometric interpretation,
// size and bits, frames, the ultrasound regions with both spacings, the region
// and spacing replay would use, how frames become 8-bit for the pipeline, and
// every warning. The pixels are decoded too (that is the check), unless
// --header-only. `sonoedge replay` prints the same table for a DICOM input.
import { readFile } from 'node:fs/promises';
import { commandHelp, parseCommandArgs, UsageError, type CommandSpec } from './args.js';
import { spacingText } from './replay-geometry.js';
import { parseDicomFile, readDicom, regionUnits, summarize, type DicomSummary } from '../io/dicom.js';
import { REGION_FORMATS } from '../io/dicom-file.js';
import { closest } from '../util/options.js';

const SUBCOMMANDS = ['inspect'] as const;

export const INSPECT: CommandSpec = {
  name: 'dicom inspect',
  summary: "a DICOM file's transfer syntax, photometric interpretation, frames, ultrasound regions and spacing; decodes every frame as the check",
  usage: 'FILE [--json] [--header-only]',
  positionals: [1, 1],
  flags: {
    json: { type: 'boolean', help: 'print the summary as JSON instead of a table' },
    'header-only': { type: 'boolean', help: 'read the header only; do not decode the pixels' },
  },
};

const USAGE = 'Usage: sonoedge dicom inspect FILE [--json] [--header-only]\n\n  inspect FILE   what the file holds and what sonoedge makes of it; exit 1 when its pixels cannot be decoded\n';

/** "0.7244 mm per pixel in x and y", or "0.5000 x 0.2500 mm per pixel (x by y)". */
export const spacingWords = (s: number | readonly [number, number]): string => (typeof s === 'number' || s[0] === s[1]
  ? `${spacingText(typeof s === 'number' ? s : s[0])} per pixel in x and y` : `${spacingText(s)} per pixel (x by y)`);

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** The summary as rows of [name, value]; `use` adds what replay did with it (its --sector and --pixel-spacing). */
export function dicomRows(s: DicomSummary, use: { frames?: number; sector?: string; spacing?: string } = {}): [string, string][] {
  const rows: [string, string][] = [
    ['file', s.file],
    ['transfer syntax', `${s.transferSyntax}, ${s.lossy ? 'lossy' : 'lossless'}`],
  ];
  if (s.modality !== undefined || s.sopClassUid !== undefined) rows.push(['modality', [s.modality, s.sopClassUid && `SOP class ${s.sopClassUid}`].filter(Boolean).join(', ')]);
  rows.push(['photometric', `${s.photometric}, ${plural(s.samplesPerPixel, 'sample')} per pixel${s.planarConfiguration !== undefined ? `, planar configuration ${s.planarConfiguration} (${s.planarConfiguration === 1 ? 'by plane' : 'by pixel'})` : ''}`]);
  rows.push(['image', `${s.width}x${s.height}, ${s.bitsAllocated} bits allocated, ${s.bitsStored} stored, ${s.signed ? 'signed' : 'unsigned'}`]);
  const time = s.frameTimeMs !== undefined ? `, frame time ${+s.frameTimeMs.toFixed(3)} ms (${(1000 / s.frameTimeMs).toFixed(1)} fps)` : ', no frame time';
  rows.push(['frames', `${s.framesDeclared} declared${use.frames !== undefined ? `, ${use.frames} read` : ''}${time}`]);
  if (s.regions.length === 0) rows.push(['regions', 'none (no Sequence of Ultrasound Regions)']);
  s.regions.forEach((r, i) => {
    const box = r.x0 !== undefined ? `x ${r.x0}..${r.x1}, y ${r.y0}..${r.y1}` : 'no box';
    const d = (delta: number | undefined, units: number | undefined) => (delta === undefined ? 'none' : `${+delta.toPrecision(6)} ${regionUnits(units)}`);
    const used = s.used?.region.index === r.index ? (s.used.clipped ? ' (used, clipped)' : ' (used)') : '';
    rows.push([i === 0 ? 'regions' : '', `${r.index + 1}: ${REGION_FORMATS[r.spatialFormat] ?? `format ${r.spatialFormat}`}, ${box}, delta x ${d(r.deltaX, r.unitsX)}, delta y ${d(r.deltaY, r.unitsY)}${used}`]);
  });
  const roi = s.used?.roi;
  rows.push(['sector box', use.sector ?? (roi ? `${roi.x},${roi.y},${roi.width},${roi.height} (the ultrasound region)` : 'none (the whole frame)')]);
  const spacing = s.spacingMm ? `${spacingWords(s.spacingMm)} from ${s.spacingSource}` : 'none in the file';
  rows.push(['pixel spacing', use.spacing ?? spacing]);
  if (s.conversion !== undefined) rows.push(['pipeline frames', s.conversion]);
  if (s.warnings.length === 0) rows.push(['warnings', 'none']);
  s.warnings.forEach((w, i) => rows.push([i === 0 ? 'warnings' : '', `${w.code}: ${w.message}`]));
  return rows;
}

export const formatRows = (rows: [string, string][], indent = '  '): string[] => rows.map(([k, v]) => `${indent}${k.padEnd(17)}${v}`);

async function inspect(args: string[]): Promise<number> {
  const { values, positionals, help } = parseCommandArgs(INSPECT, args);
  if (help) {
    process.stdout.write(commandHelp(INSPECT));
    return 0;
  }
  const file = positionals[0];
  const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw Object.assign(new Error(`Expected a DICOM file but received ${JSON.stringify(file)}, which ${err.code === 'ENOENT' ? 'does not exist' : `cannot be read (${err.code})`}`), { code: 'ERR_SONOEDGE_INPUT_NOT_FOUND' });
  });
  let summary = summarize(parseDicomFile(bytes, file));
  let frames: number | undefined;
  let failure: { code?: string; message: string } | undefined;
  if (values['header-only'] !== true) {
    try {
      const cine = await readDicom(bytes, file);
      summary = cine.dicom!;
      frames = cine.frames.length;
    } catch (err) {
      failure = { code: (err as { code?: string }).code, message: (err as Error).message };
    }
  }
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify({ ...summary, ...(frames !== undefined ? { framesRead: frames } : {}), ...(failure ? { error: failure } : {}) }, null, 2)}\n`);
  } else {
    const rows = dicomRows(summary, frames !== undefined ? { frames } : {});
    if (failure) rows.push(['pixels', `not decoded: [${failure.code}] ${failure.message}`]);
    else if (values['header-only'] === true) rows.push(['pixels', 'not decoded (--header-only)']);
    else rows.push(['pixels', `${plural(frames!, 'frame')} decoded`]);
    process.stdout.write(`${formatRows(rows, '').join('\n')}\n`);
  }
  return failure ? 1 : 0;
}

export async function dicom(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'inspect') return inspect(rest);
  const hint = closest(sub, SUBCOMMANDS);
  throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''} (inspect)`);
}
