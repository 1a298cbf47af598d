// Every code of the runtime's exported code lists (errors.ts's ERROR_CODES,
// the OpenIGTLink bridge's IGTL_ERROR_CODES, the addon's SHM_ERROR_CODES) is
// named in the user docs (docs/*.md, README.md), with what causes it: a code
// that is added, or whose only mention is removed, fails here. No code is
// exempt.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ERROR_CODES } from '../../src/errors.js';
import { SHM_ERROR_CODES } from '../../src/native.js';
import { IGTL_ERROR_CODES } from '../../src/transport/igtl/errors.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const DOCS = [...readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f)), 'README.md'].sort();
const text = new Map(DOCS.map((f) => [f, readFileSync(path.join(root, f), 'utf8')]));

/** The docs that name `code` as a whole token (ERR_SONOEDGE_DICOM is not named by ERR_SONOEDGE_DICOM_WRITE). */
const namedIn = (code: string): string[] => DOCS.filter((f) => new RegExp(`${code}(?![A-Z0-9_])`).test(text.get(f)!));

t.test('the docs are read', async (t) => {
  t.ok(DOCS.includes('docs/DEPLOYMENT.md') && DOCS.includes('docs/PROTOCOL.md') && DOCS.includes('README.md'), DOCS.join(', '));
});

t.test('every code of ERROR_CODES, IGTL_ERROR_CODES and SHM_ERROR_CODES is named in a doc', async (t) => {
  const codes = [...ERROR_CODES, ...IGTL_ERROR_CODES, ...SHM_ERROR_CODES];
  t.ok(codes.includes('ERR_SONOEDGE_CONFIG') && codes.includes('ERR_SONOEDGE_IGTL_HEADER') && codes.includes('ERR_SONOEDGE_SHM_OPEN'), 'the three lists');
  t.same(namedIn('ERR_SONOEDGE_NOT_A_CODE'), [], 'a code no doc names is seen as such (a new code without a doc fails below)');
  t.same(codes.filter((c) => namedIn(c).length === 0), [], 'undocumented codes (add each to the doc of its surface)');
});

t.test('preprocessing, engine, recorded inputs, capture options and the shared-memory ring: each code in the doc of its surface', async (t) => {
  const where: [string, string[]][] = [
    ['docs/PREPROCESSING.md', ['ARG_TYPE', 'PIXEL_FORMAT', 'DIMENSION', 'STRIDE', 'ROI', 'SECTOR', 'NORMALIZE', 'FRAME_TOO_SHORT', 'OUTPUT_TYPE', 'OUTPUT_SIZE', 'BATCH_INDEX', 'UNSUPPORTED']],
    ['docs/DEPLOYMENT.md', ['ADDON_MISSING', 'ENGINE_MODEL', 'ENGINE_MODEL_NOT_FOUND', 'ENGINE_OPTION', 'ENGINE_WARMUP', 'ENGINE_BIND', 'ENGINE_TENSOR_TYPE', 'ENGINE_TENSOR_SIZE', 'ENGINE_TENSOR_SHAPE', 'ENGINE_RUN', 'ENGINE_CLOSED']],
    ['README.md', ['INPUT_NOT_FOUND', 'PNG', 'RAW']],
    ['docs/DICOM.md', ['RLE', 'CAPTURE_OPTION']],
    ['docs/PROTOCOL.md', ['SHM_OPEN', 'SHM_CREATE', 'SHM_NOT_REGULAR', 'SHM_SIZE', 'SHM_MAP', 'SHM_UNLINK']],
  ];
  for (const [doc, codes] of where) {
    t.same(codes.filter((c) => !namedIn(`ERR_SONOEDGE_${c}`).includes(doc)), [], doc);
  }
  // The tables: one row per code, with the cells its header names.
  const rows = (doc: string, codes: string[]) => text.get(doc)!.split('\n').filter((l) => codes.some((c) => l.startsWith(`| \`ERR_SONOEDGE_${c}\``)));
  t.same(rows('docs/PREPROCESSING.md', where[0][1]).map((r) => r.split(' | ').length), where[0][1].map(() => 4), 'PREPROCESSING.md: code, class, when, what to do');
  t.equal(rows('docs/DEPLOYMENT.md', where[1][1]).length, where[1][1].length, 'DEPLOYMENT.md: a row per engine code');
  t.equal(rows('docs/PROTOCOL.md', where[4][1]).length, 8, 'PROTOCOL.md: a row per code and errno (OPEN: ENOENT, EACCES, another)');
});

t.test('model control, the result publisher, the command line and bench --compare: each code where its user looks', async (t) => {
  t.same(
    ['ERR_SONOEDGE_MODEL_LOAD', 'ERR_SONOEDGE_MODEL_UNKNOWN', 'ERR_SONOEDGE_PUBLISHER_OPTION', 'ERR_SONOEDGE_USAGE', 'ERR_SONOEDGE_BENCH_FILE'].map((c) => [c, namedIn(c)]),
    [
      ['ERR_SONOEDGE_MODEL_LOAD', ['docs/DEPLOYMENT.md']],
      ['ERR_SONOEDGE_MODEL_UNKNOWN', ['docs/DEPLOYMENT.md']],
      ['ERR_SONOEDGE_PUBLISHER_OPTION', ['docs/DEPLOYMENT.md']],
      ['ERR_SONOEDGE_USAGE', ['README.md']],
      ['ERR_SONOEDGE_BENCH_FILE', ['README.md']],
    ],
  );
  // A table row of DEPLOYMENT.md's model control codes: the code, when, the wire error, what to do.
  const rows = text.get('docs/DEPLOYMENT.md')!.split('\n').filter((l) => /^\| `ERR_SONOEDGE_MODEL_(LOAD|UNKNOWN)` \|/.test(l));
  t.same(rows.map((r) => r.split(' | ').length), [4, 4], 'two rows of four cells');
  t.match(rows[0], /ERROR MODEL_FAILED/);
  t.match(rows[1], /BAD_FIELD/);
});
