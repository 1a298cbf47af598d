// ONNX Runtime 1.29 and later send telemetry on Linux: a device id and an event
// cache under ~/.cache/Microsoft/DeveloperTools/.onnxruntime, uploaded when a
// network answers. sonoedge turns it off before the library starts
// (native/engine/engine.cc) unless ORT_DISABLE_TELEMETRY says otherwise. A real
// CLI process that opens ONNX Runtime, with a fresh HOME: nothing written
// there; the control with ORT_DISABLE_TELEMETRY=0 shows the library does write
// (if a later ONNX Runtime stops, the control fails and this test is revisited).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const cache = ['.cache', 'Microsoft', 'DeveloperTools', '.onnxruntime'];
const CI_VARIABLES = ['CI', 'TF_BUILD', 'GITHUB_ACTIONS', 'GITLAB_CI', 'CIRCLECI', 'TRAVIS', 'JENKINS_URL',
  'CODEBUILD_BUILD_ID', 'BUILDKITE', 'TEAMCITY_VERSION', 'APPVEYOR', 'BITBUCKET_BUILD_NUMBER'];

async function runWithHome(telemetry: string | undefined) {
  const home = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-home-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  // ONNX Runtime sends nothing when it sees a CI service (these variables, read from the library): without them,
  // as on a cart, so that the first test means something in CI too
  for (const v of CI_VARIABLES) delete env[v];
  delete env.XDG_CACHE_HOME;
  delete env.ORT_DISABLE_TELEMETRY;
  if (telemetry !== undefined) env.ORT_DISABLE_TELEMETRY = telemetry;
  // models verify checks each manifest against its graph in a real engine session
  const r = spawnSync(process.execPath, [cli, 'models', 'verify', path.join('models', 'view_quality')],
    { encoding: 'utf8', cwd: root, env });
  return { r, home, files: await readdir(home, { recursive: true }) };
}

t.test('the runtime leaves ONNX Runtime telemetry off: nothing written to HOME', async (t) => {
  const { r, home, files } = await runWithHome(undefined);
  t.teardown(() => rm(home, { recursive: true, force: true }));
  t.equal(r.status, 0, r.stderr);
  t.same(files, []);
});

t.test('control: ORT_DISABLE_TELEMETRY=0 is respected, and the library then writes its device id', async (t) => {
  const { r, home } = await runWithHome('0');
  t.teardown(() => rm(home, { recursive: true, force: true }));
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(path.join(home, ...cache, 'deviceid')), 'the device id file exists');
});
