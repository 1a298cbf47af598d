#!/usr/bin/env node
// `npm test`: runs every suite (TypeScript type check and tap tests, the C++
// core under GoogleTest natively, under sanitizers and cross-built for aarch64
// under qemu, the whole runtime on an arm64 Node.js under qemu, the C client,
// and the Python harness under pytest, creating its virtual environment on
// first run), then prints one closing line
// `N passed, M failed` over all of them and exits non-zero on any failure.
//
// Every suite writes JUnit XML under build/test-results/; the counts come from
// there. A suite that dies without writing its XML counts as one failure.
//   npm test -- --only=tap,native-x86     run some suites
//   npm test -- --list                    list the suites
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { countJUnit } from './junit.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const results = path.join(root, 'build', 'test-results');
const CI = process.env.CI === 'true' || process.env.CI === '1';

function sh(cmd, args, opts = {}) {
  process.stdout.write(`\n$ ${[cmd, ...args].join(' ')}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) process.stdout.write(`  could not run ${cmd}: ${r.error.message}\n`);
  return r.status ?? 1;
}

let goldenFile;
/** Golden preprocessing vectors from the TypeScript reference, for the C++ tests. */
function golden() {
  if (goldenFile === undefined) {
    goldenFile = path.join(root, 'build', 'golden', 'preprocess.txt');
    sh(process.execPath, [path.join('scripts', 'gen-preprocess-golden.mjs'), goldenFile]);
  }
  return goldenFile;
}

function venvPython() {
  return path.join(root, 'training', '.venv', 'bin', 'python');
}

/** Free space on the disk holding the checkout, in GiB (undefined when it cannot be read). */
function freeGiB() {
  try {
    const s = statfsSync(root);
    return (s.bavail * s.bsize) / 2 ** 30;
  } catch {
    return undefined;
  }
}

// torch with its CUDA libraries makes training/.venv about 6 GiB; pip needs room to unpack beside it.
const VENV_GIB = 8;

let venvStatus;
let venvProblem = '';
/** Creates or refreshes training/.venv when pyproject.toml changed, once per run (a failure is not retried). Returns 0 on success. */
function bootstrapVenv() {
  if (venvStatus === undefined) {
    venvStatus = setUpVenv();
    if (venvStatus !== 0) {
      const free = freeGiB();
      venvProblem = `training/.venv could not be set up (status ${venvStatus})` +
        (free === undefined ? '' : `; ${free.toFixed(1)} GiB free on the checkout's disk${free < VENV_GIB ? `, under the ${VENV_GIB} GiB the venv needs` : ''}`);
    }
  }
  return venvStatus;
}

function setUpVenv() {
  const pyproject = path.join(root, 'training', 'pyproject.toml');
  const stamp = path.join(root, 'training', '.venv', '.sonoedge-stamp');
  const hash = createHash('sha256').update(readFileSync(pyproject)).digest('hex');
  if (existsSync(venvPython()) && existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) return 0;
  process.stdout.write('\nsetting up training/.venv (first run, or training/pyproject.toml changed)\n');
  const python = process.env.PYTHON ?? 'python3';
  const free = freeGiB();
  if (free !== undefined && free < VENV_GIB) process.stdout.write(`warning: ${free.toFixed(1)} GiB free on the checkout's disk; the venv needs about ${VENV_GIB} GiB\n`);
  if (!existsSync(venvPython())) {
    const rc = sh(python, ['-m', 'venv', path.join('training', '.venv')]);
    if (rc !== 0) return rc;
  }
  const pip = [path.join('training', '.venv', 'bin', 'pip'), 'install', '--disable-pip-version-check', '-q'];
  let rc = sh(pip[0], [...pip.slice(1), '--upgrade', 'pip']);
  if (rc === 0) rc = sh(pip[0], [...pip.slice(1), '-e', 'training[dev]']);
  if (rc === 0) writeFileSync(stamp, hash);
  return rc;
}

const suites = [
  {
    name: 'typecheck',
    about: 'tsc over src, test, bench and scripts',
    run: () => {
      const rc = sh(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.test.json']);
      writeFileSync(path.join(results, 'typecheck.xml'),
        `<testsuite name="typecheck"><testcase classname="typecheck" name="tsc -p tsconfig.test.json">${rc === 0 ? '' : '<failure message="type errors (see above)"/>'}</testcase></testsuite>\n`);
      return rc;
    },
  },
  {
    name: 'tap',
    about: 'TypeScript tests (tap): test/**/*.test.ts',
    run: () => sh(path.join(root, 'node_modules', '.bin', 'tap'), ['-R', 'junit', '-f', path.join(results, 'tap.xml')]),
  },
  ...['x86', 'sanitize', 'aarch64'].map((mode) => ({
    name: `native-${mode}`,
    about: { x86: 'C++ core, GoogleTest', sanitize: 'C++ core under ASan+UBSan, and the bounded fuzzer', aarch64: 'C++ core cross-built for aarch64, under qemu-aarch64' }[mode],
    run: () => sh('bash', [path.join('scripts', 'native-test.sh'), mode], { env: { ...process.env, SONOEDGE_GOLDEN: golden() } }),
    missingOk: mode === 'aarch64',
  })),
  {
    name: 'aarch64-runtime',
    about: 'the addon cross-built for aarch64, engine, pipeline tests, replay and demo on an arm64 Node.js under qemu-aarch64; the bundled models against x86',
    run: () => sh(process.execPath, [path.join('scripts', 'aarch64-runtime-test.mjs')]),
    missingOk: true,
  },
  {
    name: 'soak',
    about: 'chaos soak, short: serve supervised, 3 clients at 30 fps under attack, kill -9 / hang / SIGTERM restarts (npm run soak: 30 min)',
    run: () => sh(process.execPath, ['--import', 'tsx', path.join('bench', 'soak.ts'), '--seconds', '60', '--junit', path.join(results, 'soak.xml')]),
  },
  {
    name: 'addon-sanitize',
    about: 'the addon (engine, preprocessing, shared memory) under ASan+LSan in Node.js',
    run: () => sh('bash', [path.join('scripts', 'addon-asan.sh')]),
  },
  {
    name: 'c-client',
    about: 'C client library tests (CTest)',
    when: () => existsSync(path.join(root, 'clients', 'c', 'CMakeLists.txt')),
    run: () => sh('bash', [path.join('scripts', 'c-client-test.sh')]),
  },
  {
    name: 'pytest',
    about: 'Python training harness (pytest, in training/.venv)',
    when: () => existsSync(path.join(root, 'training', 'pyproject.toml')),
    run: () => {
      const rc = bootstrapVenv();
      if (rc !== 0) {
        const esc = venvProblem.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
        writeFileSync(path.join(results, 'pytest.xml'),
          `<testsuite name="pytest"><testcase classname="pytest" name="training/.venv"><failure message="${esc}"/></testcase></testsuite>\n`);
        return rc;
      }
      return sh(venvPython(), ['-m', 'pytest', path.join('training', 'tests'), '-q', '-p', 'no:cacheprovider',
        `--junitxml=${path.join(results, 'pytest.xml')}`]);
    },
  },
];

const argv = process.argv.slice(2);
if (argv.includes('--list')) {
  for (const s of suites) process.stdout.write(`${s.name.padEnd(16)}${s.about}\n`);
  process.exit(0);
}
const onlyArg = argv.find((a) => a.startsWith('--only='));
const only = onlyArg ? new Set(onlyArg.slice('--only='.length).split(',')) : undefined;

rmSync(results, { recursive: true, force: true });
mkdirSync(results, { recursive: true });

// The harness venv before any suite: besides pytest, tap's tests use its Python packages as real peers
// (pydicom, highdicom, pynetdicom's tools, pyigtl); a failure is reported here and again by pytest.
if ((!only || only.has('tap') || only.has('pytest')) && existsSync(path.join(root, 'training', 'pyproject.toml'))) {
  if (bootstrapVenv() !== 0) process.stdout.write(`\n${venvProblem}: the tests that need it skip, saying so, and pytest fails\n`);
}

const summary = [];
const total = { passed: 0, failed: 0, skipped: 0 };
const failures = [];
for (const suite of suites) {
  if (only && !only.has(suite.name)) continue;
  if (suite.when && !suite.when()) continue;
  process.stdout.write(`\n==== ${suite.name}: ${suite.about}\n`);
  const before = new Set(readdirSync(results));
  const started = Date.now();
  const rc = suite.run();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const files = readdirSync(results).filter((f) => f.endsWith('.xml') && !before.has(f));
  const c = { passed: 0, failed: 0, skipped: 0 };
  for (const f of files) {
    const r = countJUnit(readFileSync(path.join(results, f), 'utf8'));
    c.passed += r.passed;
    c.failed += r.failed;
    c.skipped += r.skipped;
    failures.push(...r.failures.map((x) => `[${suite.name}] ${x}`));
  }
  let note = '';
  if (rc === 3 && suite.missingOk && !CI) {
    c.skipped += 1;
    note = ' (toolchain missing; .ci/run installs it)';
  } else if (rc !== 0 && c.failed === 0) {
    c.failed += 1;
    failures.push(`[${suite.name}] exited with status ${rc}${files.length === 0 ? ' without writing test results' : ''}`);
  }
  total.passed += c.passed;
  total.failed += c.failed;
  total.skipped += c.skipped;
  summary.push(`  ${suite.name.padEnd(16)}${String(c.passed).padStart(5)} passed ${String(c.failed).padStart(4)} failed ${String(c.skipped).padStart(4)} skipped  ${seconds.padStart(6)} s${note}`);
}

process.stdout.write(`\n==== summary\n${summary.join('\n')}\n`);
if (failures.length > 0) process.stdout.write(`\nfailures:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
process.stdout.write(`\n${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}\n`);
process.exitCode = total.failed > 0 ? 1 : 0;
