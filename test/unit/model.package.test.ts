// Model package verification against the shared fixtures: the same folders and
// the same expected verdicts (code and where) as the harness's pytest
// (training/tests/test_package.py), plus exact messages for a few of them.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelPackageError, loadTrustStore, verifyModelPackage, MODELS_DIR } from '../../src/model/package.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'model-packages');
interface Case { case: string; allow_unsigned: boolean; valid: boolean; code?: string; where?: string; description: string }
const spec = JSON.parse(readFileSync(path.join(fixtures, 'cases.json'), 'utf8')) as { trust_store: string; cases: Case[] };

t.test('every fixture gets the verdict cases.json names', async (t) => {
  const trustStore = await loadTrustStore(path.join(fixtures, spec.trust_store));
  t.ok(spec.cases.length >= 20, 'a full set of cases');
  for (const c of spec.cases) {
    const label = `${c.case} (allow_unsigned=${c.allow_unsigned}): ${c.description}`;
    try {
      const pkg = await verifyModelPackage(path.join(fixtures, c.case), { trustStore, allowUnsigned: c.allow_unsigned });
      t.ok(c.valid, label);
      t.equal(pkg.manifest.format_version, 1);
    } catch (err) {
      if (!(err instanceof ModelPackageError)) throw err;
      t.same({ valid: false, code: err.code, where: err.where }, { valid: c.valid, code: c.code, where: c.where }, label);
    }
  }
});

t.test('messages say what was expected and what was received', async (t) => {
  const trustStore = await loadTrustStore(path.join(fixtures, spec.trust_store));
  const verify = (name: string, allowUnsigned = false) => verifyModelPackage(path.join(fixtures, name), { trustStore, allowUnsigned });
  await t.rejects(verify('valid-unsigned'), {
    name: 'ModelPackageError', code: 'E_PACKAGE_UNSIGNED', where: 'manifest.sig',
    message: 'Expected a signed package (manifest.sig) but received none; unsigned packages load only with the explicit development flag',
  });
  await t.rejects(verify('truncated-variant-file'), { code: 'E_PACKAGE_CHECKSUM', message: /^Expected model\.fp32\.onnx of \d+ bytes but received \d+ bytes$/ });
  await t.rejects(verify('tampered-variant-file'), { code: 'E_PACKAGE_CHECKSUM', message: /^Expected model\.int8\.onnx with sha256 [0-9a-f]{64} but received [0-9a-f]{64}$/ });
  await t.rejects(verify('unknown-key'), { code: 'E_PACKAGE_UNKNOWN_KEY', message: /but received key id 8bc434b8912cf7ee$/ });
  await t.rejects(verify('schema-bad-enum'), { code: 'E_PACKAGE_SCHEMA', message: /^Expected manifest\.json at \/preprocessing\/options\/resize to satisfy the schema \(enum: .*\) but received "bicubic"$/ });
  await t.rejects(verify('unlisted-file'), { code: 'E_PACKAGE_UNLISTED_FILE', message: 'Expected only the files manifest.json lists but received extra.bin as well' });
});

t.test('a file given for its package is E_PACKAGE_NOT_FOLDER (not "no manifest.json in <file>"); inside a package it names the folder', async (t) => {
  const trustStore = await loadTrustStore(path.join(fixtures, spec.trust_store));
  const valid = path.join(fixtures, 'valid-signed');
  for (const name of ['model.fp32.onnx', 'manifest.json']) {
    await t.rejects(verifyModelPackage(path.join(valid, name), { trustStore }), {
      name: 'ModelPackageError', code: 'E_PACKAGE_NOT_FOLDER', where: '.',
      message: `Expected a model package folder but received ${path.join(valid, name)}, which is a file; give its package folder ${valid}`,
    });
  }
  // A file outside any package: no folder to suggest. A path that does not exist: said as such.
  await t.rejects(verifyModelPackage(path.join(fixtures, 'cases.json'), { trustStore }), {
    code: 'E_PACKAGE_NOT_FOLDER', where: '.', message: `Expected a model package folder but received ${path.join(fixtures, 'cases.json')}, which is a file`,
  });
  await t.rejects(verifyModelPackage(path.join(fixtures, 'no-such-package'), { trustStore }), {
    code: 'E_PACKAGE_MISSING_FILE', where: 'manifest.json', message: `Expected a model package folder at ${path.join(fixtures, 'no-such-package')} but received no such path`,
  });
});

t.test('a verified package names its variant files', async (t) => {
  const trustStore = await loadTrustStore(path.join(fixtures, spec.trust_store));
  const pkg = await verifyModelPackage(path.join(fixtures, 'valid-signed'), { trustStore });
  t.equal(pkg.signed, true);
  t.equal(pkg.keyId, 'cad559a5244fddb3');
  t.equal(pkg.variantPath('int8'), path.join(fixtures, 'valid-signed', 'model.int8.onnx'));
  t.throws(() => pkg.variantPath('fp64'), { name: 'RangeError', message: /^Expected one of .* for variant but received "fp64"$/ });
});

t.test('trust store problems are E_TRUST_STORE', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-trust-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.rejects(loadTrustStore(path.join(dir, 'absent')), { code: 'E_TRUST_STORE', message: /^Expected a trust store folder at .*absent but received ENOENT$/ });
  await cp(path.join(fixtures, spec.trust_store), path.join(dir, 'ok'), { recursive: true });
  const [pub] = (await readdir(path.join(dir, 'ok'))).filter((n) => n.endsWith('.pub'));
  await cp(path.join(dir, 'ok', pub), path.join(dir, 'ok', 'renamed-0000000000000000.pub'));
  await t.rejects(loadTrustStore(path.join(dir, 'ok')), { code: 'E_TRUST_STORE', where: 'renamed-0000000000000000.pub', message: /^Expected the file of key cad559a5244fddb3 to be named \[label-\]cad559a5244fddb3\.pub but received renamed-0000000000000000\.pub$/ });
  await writeFile(path.join(dir, 'ok', 'renamed-0000000000000000.pub'), '# two keys\nAAAA\nBBBB\n');
  await t.rejects(loadTrustStore(path.join(dir, 'ok')), { code: 'E_TRUST_STORE', message: 'Expected renamed-0000000000000000.pub to hold one line with the base64 of a 32-byte ed25519 public key but received 2 key lines' });
  // One line that is not a key: said "received 1 key lines" before, as if the count were wrong.
  for (const line of ['notbase64!!', 'AAAA']) {
    await writeFile(path.join(dir, 'ok', 'renamed-0000000000000000.pub'), `# one key\n${line}\n`);
    await t.rejects(loadTrustStore(path.join(dir, 'ok')), {
      name: 'ModelPackageError', code: 'E_TRUST_STORE', where: 'renamed-0000000000000000.pub',
      message: `Expected renamed-0000000000000000.pub to hold the base64 of a 32-byte ed25519 public key but received a line of ${line.length} characters that is not`,
    });
  }
});

t.test('the development trust store loads', async (t) => {
  const store = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
  t.ok(store.keys.size >= 1);
});
