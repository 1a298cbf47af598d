// The patient and study block (src/dicom/study.ts) as CONFIGURE_STREAM.study
// and serve's dicom.study take it: every keyword's VR checked, each refusal one
// message naming the attribute, what it allows and what came.
import t from 'tap';
import { parseServeConfig } from '../../src/config/index.js';
import { studyProblem, STUDY_KEYWORDS } from '../../src/dicom/study.js';
import { decodeMessage, encodeMessage } from '../../src/protocol/codec.js';
import { msg, parseConfigure, type ConfigureStream } from '../../src/protocol/messages.js';

const GOOD = {
  PatientID: 'P-14', PatientName: 'Doe^Jane^^Dr.^=山田^太郎', PatientBirthDate: '19700101', PatientSex: 'F', AccessionNumber: 'ACC-14',
  StudyInstanceUID: '1.2.826.0.1.3680043.8.498.1414', StudyID: 'S14', StudyDate: '20261203', StudyTime: '081500.25',
  StudyDescription: 'Echo, bedside', ReferringPhysicianName: 'Ref^Doc', OperatorsName: 'Op^Sono',
};

t.test('a block of every keyword, valid for its VR, passes; empty values are "unknown" where the VR allows it', async (t) => {
  t.same(Object.keys(GOOD).sort(), Object.keys(STUDY_KEYWORDS).sort(), 'the block above names every keyword');
  t.equal(studyProblem(GOOD, 'S'), undefined);
  t.equal(studyProblem({ PatientID: '', PatientName: '', PatientBirthDate: '', PatientSex: '', StudyTime: '' }, 'S'), undefined);
});

t.test('each VR refuses what would make an invalid object', async (t) => {
  const cases: [Record<string, unknown>, string][] = [
    [{ StudyInstanceUID: '1.2.840.01' }, 'Expected a DICOM UID (1..64 characters of digits and dots, no empty or zero-led component) for S.StudyInstanceUID but received "1.2.840.01" of type string'],
    [{ StudyInstanceUID: '' }, 'Expected a DICOM UID (1..64 characters of digits and dots, no empty or zero-led component) for S.StudyInstanceUID but received "" of type string'],
    [{ StudyInstanceUID: '1..2' }, 'Expected a DICOM UID (1..64 characters of digits and dots, no empty or zero-led component) for S.StudyInstanceUID but received "1..2" of type string'],
    [{ StudyInstanceUID: `1.${'2'.repeat(63)}` }, `Expected a DICOM UID (1..64 characters of digits and dots, no empty or zero-led component) for S.StudyInstanceUID but received "1.${'2'.repeat(63)}" of type string`],
    [{ PatientID: 'x'.repeat(65) }, `Expected a DICOM LO value (at most 64 characters, no backslash or control character) for S.PatientID but received "${'x'.repeat(65)}" of type string`],
    [{ PatientID: 'a\\b' }, 'Expected a DICOM LO value (at most 64 characters, no backslash or control character) for S.PatientID but received "a\\\\b" of type string'],
    [{ StudyDescription: 'line\nbreak' }, 'Expected a DICOM LO value (at most 64 characters, no backslash or control character) for S.StudyDescription but received "line\\nbreak" of type string'],
    [{ AccessionNumber: 'A'.repeat(17) }, `Expected a DICOM SH value (at most 16 characters, no backslash or control character) for S.AccessionNumber but received "${'A'.repeat(17)}" of type string`],
    [{ PatientName: 'a=b=c=d' }, 'Expected a DICOM person name (Family^Given^Middle^Prefix^Suffix, at most 3 "="-separated groups of at most 64 characters, no backslash or control character) for S.PatientName but received "a=b=c=d" of type string'],
    [{ OperatorsName: 'a^b^c^d^e^f' }, 'Expected a DICOM person name (Family^Given^Middle^Prefix^Suffix, at most 3 "="-separated groups of at most 64 characters, no backslash or control character) for S.OperatorsName but received "a^b^c^d^e^f" of type string'],
    [{ PatientBirthDate: '19700231' }, 'Expected a DICOM date YYYYMMDD (a real date, year 1800 or later) for S.PatientBirthDate but received "19700231" of type string'],
    [{ StudyDate: '2026-12-03' }, 'Expected a DICOM date YYYYMMDD (a real date, year 1800 or later) for S.StudyDate but received "2026-12-03" of type string'],
    [{ StudyTime: '2460' }, 'Expected a DICOM time HH[MM[SS[.F{1,6}]]] for S.StudyTime but received "2460" of type string'],
    [{ PatientSex: 'female' }, 'Expected M, F, O or an empty string for S.PatientSex but received "female" of type string'],
    [{ PatientID: 7 }, 'Expected a string for S.PatientID but received 7 of type number'],
    [{ PatientId: 'x' }, 'Expected only the keywords PatientID, PatientName, PatientBirthDate, PatientSex, AccessionNumber, StudyInstanceUID, StudyID, StudyDate, StudyTime, StudyDescription, ReferringPhysicianName, OperatorsName for S but received the key "PatientId"; did you mean PatientID?'],
    [{ Modality: 'US' }, 'Expected only the keywords PatientID, PatientName, PatientBirthDate, PatientSex, AccessionNumber, StudyInstanceUID, StudyID, StudyDate, StudyTime, StudyDescription, ReferringPhysicianName, OperatorsName for S but received the key "Modality"'],
  ];
  for (const [block, message] of cases) t.equal(studyProblem(block, 'S')?.message, message, JSON.stringify(block));
  t.same(studyProblem({ PatientSex: 'X' }, 'dicom.study'), {
    field: 'dicom.study.PatientSex', message: 'Expected M, F, O or an empty string for dicom.study.PatientSex but received "X" of type string',
    text: 'expected M, F, O or an empty string but received "X" of type string',
  });
});

t.test('CONFIGURE_STREAM.study: encoded, decoded and checked (BAD_FIELD); absent when not sent', async (t) => {
  const c: ConfigureStream = { stream: 1, width: 64, height: 48, format: 'GRAY8', spacing: [0.3, 0.3], fps: 30, study: GOOD };
  const round = (x: ConfigureStream) => parseConfigure(decodeMessage(encodeMessage(msg.configure(1, x))).body);
  t.same(round(c).study, GOOD);
  t.notOk('study' in round({ ...c, study: undefined }));
  t.throws(() => parseConfigure({ ...c, study: 'P-14' }), { code: 'ERR_SONOEDGE_PROTOCOL_BAD_FIELD', message: 'Expected a map of DICOM keyword to string for CONFIGURE_STREAM.study but received "P-14" of type string' });
  t.throws(() => parseConfigure({ ...c, study: { StudyInstanceUID: '1.2.3.abc' } }), {
    code: 'ERR_SONOEDGE_PROTOCOL_BAD_FIELD',
    message: 'Expected a DICOM UID (1..64 characters of digits and dots, no empty or zero-led component) for CONFIGURE_STREAM.study.StudyInstanceUID but received "1.2.3.abc" of type string',
  });
});

t.test('serve config: dicom.study is checked the same way, with the line of the attribute', async (t) => {
  const text = 'dicom:\n  dir: out\n  study:\n    PatientID: P-1\n    PatientBirthDate: "19701301"\n';
  t.throws(() => parseServeConfig(text, '/etc/sonoedge/serve.yaml'), {
    code: 'ERR_SONOEDGE_CONFIG',
    message: '/etc/sonoedge/serve.yaml:5: dicom.study.PatientBirthDate: expected a DICOM date YYYYMMDD (a real date, year 1800 or later) but received "19701301" of type string',
  });
  t.same(parseServeConfig('dicom:\n  dir: out\n  study: { PatientID: P-1, StudyInstanceUID: "1.2.3" }\n', '/etc/sonoedge/serve.yaml').dicom?.study, { PatientID: 'P-1', StudyInstanceUID: '1.2.3' });
});
