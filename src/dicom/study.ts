// The patient and study attributes a capture is filed under, as a stream's
// CONFIGURE_STREAM (its `study` block) or the serve config's `dicom.study`
// give them: DICOM keywords to strings, each checked against its value
// representation (PS3.5 6.2) before anything is written, so that a worklist
// value that would make an invalid object is refused at the door, not found
// by the PACS. The socket protocol's parser uses it too.
import { describe } from '../errors.js';
import { closest } from '../util/options.js';

/** The value representations of the attributes taken, with what each allows. */
type Vr = 'UI' | 'LO' | 'SH' | 'PN' | 'DA' | 'TM' | 'CS';

/** Keyword -> VR: every attribute a study block may carry (the ones the writer puts in the objects). */
export const STUDY_KEYWORDS = {
  PatientID: 'LO',
  PatientName: 'PN',
  PatientBirthDate: 'DA',
  PatientSex: 'CS',
  AccessionNumber: 'SH',
  StudyInstanceUID: 'UI',
  StudyID: 'SH',
  StudyDate: 'DA',
  StudyTime: 'TM',
  StudyDescription: 'LO',
  ReferringPhysicianName: 'PN',
  OperatorsName: 'PN',
} as const satisfies Record<string, Vr>;

export type StudyKeyword = keyof typeof STUDY_KEYWORDS;
const KEYWORDS = Object.keys(STUDY_KEYWORDS) as StudyKeyword[];

// Control characters other than ESC (ISO 2022 escapes), and the backslash (the value delimiter).
// eslint-disable-next-line no-control-regex
const BAD_TEXT = /[\u0000-\u001a\u001c-\u001f\u007f\\]/;
const UID = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;
const chars = (v: string): number => [...v].length;

function validDate(v: string): boolean {
  if (!/^\d{8}$/.test(v)) return false;
  const y = Number(v.slice(0, 4));
  const m = Number(v.slice(4, 6));
  const d = Number(v.slice(6, 8));
  const date = new Date(Date.UTC(y, m - 1, d));
  return y >= 1800 && date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

/** What the VR allows, for the message; and whether `v` is one of them. */
const RULES: Record<Vr, { expected: string; ok: (v: string) => boolean }> = {
  UI: { expected: 'a DICOM UID (1..64 characters of digits and dots, no empty or zero-led component)', ok: (v) => v.length >= 1 && v.length <= 64 && UID.test(v) },
  LO: { expected: 'a DICOM LO value (at most 64 characters, no backslash or control character)', ok: (v) => chars(v) <= 64 && !BAD_TEXT.test(v) },
  SH: { expected: 'a DICOM SH value (at most 16 characters, no backslash or control character)', ok: (v) => chars(v) <= 16 && !BAD_TEXT.test(v) },
  PN: {
    expected: 'a DICOM person name (Family^Given^Middle^Prefix^Suffix, at most 3 "="-separated groups of at most 64 characters, no backslash or control character)',
    ok: (v) => {
      if (BAD_TEXT.test(v)) return false;
      const groups = v.split('=');
      return groups.length <= 3 && groups.every((g) => chars(g) <= 64 && g.split('^').length <= 5);
    },
  },
  DA: { expected: 'a DICOM date YYYYMMDD (a real date, year 1800 or later)', ok: (v) => v === '' || validDate(v) },
  TM: { expected: 'a DICOM time HH[MM[SS[.F{1,6}]]]', ok: (v) => v === '' || /^([01]\d|2[0-3])([0-5]\d([0-5]\d(\.\d{1,6})?)?)?$/.test(v) },
  CS: { expected: 'M, F, O or an empty string', ok: (v) => ['', 'M', 'F', 'O'].includes(v) },
};

/**
 * What is wrong with a study block (`where` names it, as "CONFIGURE_STREAM.study" or "dicom.study"), as one message
 * "Expected ... for FIELD but received ..." (and as `text`, "expected ... but received ...", for a message that
 * names the field itself), or undefined when every key is a keyword of STUDY_KEYWORDS and every
 * value a string its VR allows. Keys are checked in the block's order; a misspelt keyword is named with the one it
 * resembles. `field` is the offending key's path.
 */
export function studyProblem(block: Record<string, unknown>, where: string): { field: string; message: string; text: string } | undefined {
  const problem = (field: string, expected: string, received: string, after = '') => ({
    field, message: `Expected ${expected} for ${field} but received ${received}${after}`, text: `expected ${expected} but received ${received}${after}`,
  });
  for (const [key, value] of Object.entries(block)) {
    if (!Object.hasOwn(STUDY_KEYWORDS, key)) {
      const near = closest(key, KEYWORDS);
      return problem(where, `only the keywords ${KEYWORDS.join(', ')}`, `the key ${JSON.stringify(key)}`, near ? `; did you mean ${near}?` : '');
    }
    const field = `${where}.${key}`;
    if (typeof value !== 'string') return problem(field, 'a string', describe(value));
    const rule = RULES[STUDY_KEYWORDS[key as StudyKeyword]];
    if (!rule.ok(value)) return problem(field, rule.expected, describe(value));
  }
  return undefined;
}
