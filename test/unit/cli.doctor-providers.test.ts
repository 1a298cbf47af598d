// The provider lines of `sonoedge doctor` from an engine's provider report. This machine has no GPU, so
// the reports with a GPU provider in use are the ones ONNX Runtime 1.31.1 gave on an NVIDIA H200 (the
// device run of 2026-12-04, docs/BENCHMARKS.md "GPU"): there cpu stood by behind cuda and doctor called
// it a failure, exit 1.
import t from 'tap';
import { providerChecks } from '../../src/cli/doctor.js';

const standBy = (p: string) => `not needed: ${p} has a higher priority (it still runs the nodes ${p} cannot)`;
const trtMissing = 'Failed to load library /x/lib/libonnxruntime_providers_tensorrt.so: cannot open shared object file: No such file or directory';

t.test('cuda in use: cpu standing by is ok, tensorrt unavailable is a warning with the causes', async (t) => {
  const checks = providerChecks([
    { provider: 'tensorrt', used: false, reason: trtMissing },
    { provider: 'cuda', used: true, reason: '' },
    { provider: 'cpu', used: false, reason: standBy('cuda') },
  ], { tensorrt: ['', 'libnvinfer not found via ldconfig -p'], cuda: ['', ''] });
  t.same(checks, [
    { name: 'provider tensorrt', status: 'warn', detail: `not available (libnvinfer not found via ldconfig -p): ${trtMissing}` },
    { name: 'provider cuda', status: 'ok', detail: 'available (runs the models)' },
    { name: 'provider cpu', status: 'ok', detail: 'available (runs the nodes cuda cannot; cuda runs the models)' },
  ]);
});

t.test('tensorrt in use: cuda and cpu standing by are both ok', async (t) => {
  const checks = providerChecks([
    { provider: 'tensorrt', used: true, reason: '' },
    { provider: 'cuda', used: false, reason: standBy('tensorrt') },
    { provider: 'cpu', used: false, reason: standBy('tensorrt') },
  ], {});
  t.same(checks.map((c) => [c.name, c.status, c.detail]), [
    ['provider tensorrt', 'ok', 'available (runs the models)'],
    ['provider cuda', 'ok', 'available (runs the nodes tensorrt cannot; tensorrt runs the models)'],
    ['provider cpu', 'ok', 'available (runs the nodes tensorrt cannot; tensorrt runs the models)'],
  ]);
});

t.test('cpu alone in use (no GPU): the GPU providers are warnings, cpu ok', async (t) => {
  const checks = providerChecks([
    { provider: 'tensorrt', used: false, reason: trtMissing },
    { provider: 'cuda', used: false, reason: 'Failed to load library libonnxruntime_providers_cuda.so' },
    { provider: 'cpu', used: true, reason: '' },
  ], { cuda: ['no /dev/nvidia*', 'libcudart not found via ldconfig -p'] });
  t.same(checks.map((c) => c.status), ['warn', 'warn', 'ok']);
  t.equal(checks[1].detail, 'not available (no /dev/nvidia*; libcudart not found via ldconfig -p): Failed to load library libonnxruntime_providers_cuda.so');
});

t.test('cpu unusable with nothing in use is a failure with its reason', async (t) => {
  const checks = providerChecks([{ provider: 'cpu', used: false, reason: 'model has an unsupported operator' }], {});
  t.same(checks, [{ name: 'provider cpu', status: 'fail', detail: 'model has an unsupported operator' }]);
});
