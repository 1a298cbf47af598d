// A process that exits with engines still open (no close()): the addon stops
// each session's worker at environment teardown, a run in flight included,
// and the process exits with its own code. Before the fix, two open engines
// were enough for SIGABRT at exit (exit 134): the session wrappers were
// finalized after Node had deleted their thread-safe functions, and released
// them again.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const model = path.join(root, 'test', 'fixtures', 'model-packages', 'valid-signed', 'model.fp32.onnx');

function child(body: string) {
  const code = `import { Engine } from ${JSON.stringify(path.join(root, 'src', 'engine', 'index.ts'))};
const keep = [];
for (let i = 0; i < 3; i++) {
  const e = await Engine.load(${JSON.stringify(model)}, { log: false, intraOpThreads: 1 });
  const a = e.allocate();
  keep.push(e, e.bind(a.inputs, a.outputs));
}
${body}`;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', timeout: 60000 });
}

t.test('three engines never closed: the process ends normally with exit 0', async (t) => {
  const r = child('console.log("leaving them open");');
  t.equal(r.signal, null);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, 'leaving them open\n');
  t.equal(r.stderr, '');
});

t.test('process.exit with runs in flight and a close() pending: exit code kept, no abort', async (t) => {
  const r = child('for (let i = 1; i < 6; i += 2) { void keep[i].run(); void keep[i].run(); }\nvoid keep[0].close();\nprocess.exit(7);');
  t.equal(r.signal, null);
  t.equal(r.status, 7, r.stderr);
  t.equal(r.stderr, '');
});
