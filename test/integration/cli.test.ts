// The sonoedge command line, run as a real process from dist/ (what `npm start` runs).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: root });

t.test('selfcheck passes and says what it checked', async (t) => {
  const r = run('selfcheck');
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^sonoedge \d+\.\d+\.\d+ self-check on linux-/);
  t.match(r.stdout, /native addon {6}loaded, best kernels: (scalar|sse41|avx2|neon)\n/);
  t.match(r.stdout, /reference check {3}max \|native - reference\| = \S+ \(ok\)\n/);
  t.match(r.stdout, /async run {9}identical to sync \(ok\)\n/);
  t.match(r.stdout, /onnxruntime-node {2}1\.30\.0, libonnxruntime present\n/);
  t.match(r.stdout, /self-check passed\n$/);
});

t.test('an unknown command suggests the closest and exits 2', async (t) => {
  const r = run('selfchek');
  t.equal(r.status, 2);
  t.equal(r.stdout, '');
  t.equal(r.stderr, 'sonoedge: unknown command "selfchek"; did you mean "selfcheck"? (see sonoedge --help)\n');
});

t.test('an unexpected argument is one clear line', async (t) => {
  const r = run('selfcheck', '--fast');
  t.equal(r.status, 2);
  t.equal(r.stderr, 'sonoedge selfcheck: unexpected argument "--fast"\n');
});

t.test('--help lists the commands; no command prints usage and exits 1', async (t) => {
  const help = run('--help');
  t.equal(help.status, 0);
  t.match(help.stdout, /Usage: sonoedge <command> \[options\]/);
  t.match(help.stdout, /selfcheck {3}load the native addon/);
  const none = run();
  t.equal(none.status, 1);
  t.match(none.stdout, /Usage: sonoedge/);
});

t.test('--version prints the package version', async (t) => {
  const { version } = (await import('../../package.json', { with: { type: 'json' } })).default as { version: string };
  const r = run('--version');
  t.equal(r.status, 0);
  t.equal(r.stdout, `${version}\n`);
});
