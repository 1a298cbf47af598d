// Every ERR_SONOEDGE_* code named in src/ (TypeScript) or native/ (the addon's
// C++, which throws coded errors to JS) is a member of one of the exported
// code lists: errors.ts's ERROR_CODES (ErrorCode), the OpenIGTLink bridge's
// IGTL_ERROR_CODES, the protocol's ERR_SONOEDGE_PROTOCOL_<WireError name>
// (and the socket client's ERR_SONOEDGE_REMOTE_<name>), and the addon's
// SHM_ERROR_CODES. TypeScript unions do not exist at run time; each of these
// lists is the const array its union is derived from, so this reads the same
// codes typecheck does.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ERROR_CODES } from '../../src/errors.js';
import { SHM_ERROR_CODES } from '../../src/native.js';
import { WireError } from '../../src/protocol/errors.js';
import { IGTL_ERROR_CODES } from '../../src/transport/igtl/errors.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const wireNames = Object.keys(WireError);

const LISTS: Record<string, readonly string[]> = {
  'ERROR_CODES (src/errors.ts)': ERROR_CODES,
  'IGTL_ERROR_CODES (src/transport/igtl/errors.ts)': IGTL_ERROR_CODES,
  'ERR_SONOEDGE_PROTOCOL_<WireError> (src/protocol/errors.ts)': wireNames.map((n) => `ERR_SONOEDGE_PROTOCOL_${n}`),
  'ERR_SONOEDGE_REMOTE_<WireError> (src/transport/socket-client.ts)': wireNames.map((n) => `ERR_SONOEDGE_REMOTE_${n}`),
  'SHM_ERROR_CODES (src/native.ts)': SHM_ERROR_CODES,
};
const KNOWN = new Set(Object.values(LISTS).flat());

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && ext.test(e.name))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

const SOURCES = [...files('src', /\.ts$/), ...files('src', /\.(cc|h|inc)$/), ...files('native', /\.(cc|h|inc)$/)];

/** Each ERR_SONOEDGE_* token with its file and line. A token ending in `_` is a prefix (a code built at run time). */
function occurrences(): { where: string; code: string }[] {
  const out: { where: string; code: string }[] = [];
  for (const file of SOURCES) {
    readFileSync(path.join(root, file), 'utf8').split('\n').forEach((line, i) => {
      for (const m of line.matchAll(/ERR_SONOEDGE_[A-Z0-9_]*/g)) out.push({ where: `${file}:${i + 1}`, code: m[0] });
    });
  }
  return out;
}

t.test('the code lists are disjoint and each holds distinct codes', async (t) => {
  const all = Object.values(LISTS).flat();
  t.equal(new Set(all).size, all.length, 'no code in two lists or twice in one');
  for (const code of all) t.match(code, /^ERR_SONOEDGE_[A-Z0-9]+(?:_[A-Z0-9]+)*$/, code);
});

t.test('every ERR_SONOEDGE_* code named in src/ and native/ is a member of an exported code list', async (t) => {
  const found = occurrences();
  t.ok(SOURCES.includes('src/errors.ts') && SOURCES.includes('native/binding/engine.cc'), 'src/ and the addon are read');
  const unknown = found
    .filter(({ code }) => code.endsWith('_') ? ![...KNOWN].some((k) => k.startsWith(code)) : !KNOWN.has(code))
    .map(({ where, code }) => `${where} ${code}`);
  t.same(unknown, [], 'codes in no list (add each to its union\'s list, with a comment)');
});

t.test('every member of ERROR_CODES and IGTL_ERROR_CODES is used outside its list', async (t) => {
  const found = occurrences();
  for (const [list, file] of [[ERROR_CODES, 'src/errors.ts'], [IGTL_ERROR_CODES, 'src/transport/igtl/errors.ts']] as const) {
    const used = new Set(found.filter((o) => !o.where.startsWith(`${file}:`)).map((o) => o.code));
    t.same(list.filter((c) => !used.has(c)), [], `${file}: no stale code`);
  }
});

t.test('the addon\'s shared-memory codes ("ERR_SONOEDGE_SHM_" + what) are exactly SHM_ERROR_CODES', async (t) => {
  const cc = readFileSync(path.join(root, 'native/binding/shm.cc'), 'utf8');
  t.match(cc, /std::string\("ERR_SONOEDGE_SHM_"\) \+ what/, 'shm.cc builds its codes from a prefix');
  const built = new Set([...cc.matchAll(/\b[Ff]ail\((?:env, )?"([A-Z_]+)"/g)].map((m) => `ERR_SONOEDGE_SHM_${m[1]}`));
  t.same([...built].sort(), [...SHM_ERROR_CODES].sort());
});
