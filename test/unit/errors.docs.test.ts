// Every code of the runtime's exported code lists (errors.ts's ERROR_CODES,
// the OpenIGTLink bridge's IGTL_ERROR_CODES) is named in the user docs
// (docs/*.md, README.md), with what causes it: a code that is added, or whose
// only mention is removed, fails here. UNDOCUMENTED is the list of codes no doc
// names yet; it may only shrink: a code in it that a doc now names fails too,
// so that the list is kept exact.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ERROR_CODES } from '../../src/errors.js';
import { IGTL_ERROR_CODES } from '../../src/transport/igtl/errors.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const DOCS = [...readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f)), 'README.md'].sort();
const text = new Map(DOCS.map((f) => [f, readFileSync(path.join(root, f), 'utf8')]));

/** The docs that name `code` as a whole token (ERR_SONOEDGE_DICOM is not named by ERR_SONOEDGE_DICOM_WRITE). */
const namedIn = (code: string): string[] => DOCS.filter((f) => new RegExp(`${code}(?![A-Z0-9_])`).test(text.get(f)!));

// Named in no doc when this test was written; each wants a line in the doc of its surface (most are the
// preprocessing's, the engine's and the recorded inputs' option checks).
const UNDOCUMENTED = [
  'ERR_SONOEDGE_ARG_TYPE', 'ERR_SONOEDGE_PIXEL_FORMAT', 'ERR_SONOEDGE_DIMENSION', 'ERR_SONOEDGE_STRIDE', 'ERR_SONOEDGE_ROI',
  'ERR_SONOEDGE_SECTOR', 'ERR_SONOEDGE_NORMALIZE', 'ERR_SONOEDGE_FRAME_TOO_SHORT', 'ERR_SONOEDGE_OUTPUT_TYPE',
  'ERR_SONOEDGE_OUTPUT_SIZE', 'ERR_SONOEDGE_BATCH_INDEX', 'ERR_SONOEDGE_UNSUPPORTED', 'ERR_SONOEDGE_ADDON_MISSING',
  'ERR_SONOEDGE_ENGINE_MODEL', 'ERR_SONOEDGE_ENGINE_MODEL_NOT_FOUND', 'ERR_SONOEDGE_ENGINE_OPTION', 'ERR_SONOEDGE_ENGINE_WARMUP',
  'ERR_SONOEDGE_ENGINE_BIND', 'ERR_SONOEDGE_ENGINE_TENSOR_TYPE', 'ERR_SONOEDGE_ENGINE_TENSOR_SIZE',
  'ERR_SONOEDGE_ENGINE_TENSOR_SHAPE', 'ERR_SONOEDGE_ENGINE_RUN', 'ERR_SONOEDGE_ENGINE_CLOSED', 'ERR_SONOEDGE_INPUT_NOT_FOUND',
  'ERR_SONOEDGE_RLE', 'ERR_SONOEDGE_PNG', 'ERR_SONOEDGE_RAW', 'ERR_SONOEDGE_CAPTURE_OPTION',
];

t.test('the docs are read', async (t) => {
  t.ok(DOCS.includes('docs/DEPLOYMENT.md') && DOCS.includes('docs/PROTOCOL.md') && DOCS.includes('README.md'), DOCS.join(', '));
});

t.test('every code of ERROR_CODES and IGTL_ERROR_CODES is named in a doc, but for the list of those not yet', async (t) => {
  const codes = [...ERROR_CODES, ...IGTL_ERROR_CODES];
  t.same(UNDOCUMENTED.filter((c) => !codes.includes(c as never)), [], 'UNDOCUMENTED holds only codes of the lists');
  t.same(codes.filter((c) => namedIn(c).length === 0 && !UNDOCUMENTED.includes(c)), [], 'undocumented codes (add each to the doc of its surface)');
  t.same(UNDOCUMENTED.filter((c) => namedIn(c).length > 0), [], 'codes a doc names now (remove them from UNDOCUMENTED)');
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
