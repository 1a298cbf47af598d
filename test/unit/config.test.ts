// The serve configuration: defaults, path resolution, and every kind of bad
// file as one ConfigError naming the file, the line and the key.
import t, { type Test } from 'tap';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadServeConfig, parseServeConfig, pipelineOptions, type ServeConfig } from '../../src/config/index.js';
import { configReference, REFERENCE_END, REFERENCE_START, schemaKeys } from '../../src/config/docs.js';
import { MODELS_DIR, loadTrustStore } from '../../src/model/package.js';
import { IGTL_DEFAULTS } from '../../src/transport/igtl/options.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const DEFAULTS: ServeConfig = {
  socket: {
    path: path.join(os.tmpdir(), 'sonoedge.sock'), mode: 0o660, tcp: false, maxClients: 16, maxStreams: 16,
    maxMessageSize: 32 * 1024 * 1024, resultQueueLength: 8, maxPendingWriteBytes: 1024 * 1024, maxErrorsPerClient: 64,
  },
  serial: null,
  models: {
    viewQuality: path.join(MODELS_DIR, 'view_quality'), segmentation: path.join(MODELS_DIR, 'lv_segmentation'),
    sets: [], variant: 'fp32', trustStore: [path.join(MODELS_DIR, 'trust')], allowUnsigned: false,
  },
  pipeline: {
    segmentationStride: 1, segmentationViews: ['A4C', 'A2C'], qualityHysteresis: 0.1, qualityHold: 16, maxBeamAngleDeg: 30, contourEpsilon: 0.75,
    engine: { providers: ['cpu'], intraOpThreads: 0, interOpThreads: 0, graphOptimization: 'all', deterministic: false, warmupRuns: 1, logSeverity: 'error' },
  },
  logging: { level: 'info', file: null, pretty: false },
  dicom: null,
  metrics: null,
  viewer: null,
  igtl: null,
};

/** The ConfigError that parsing `text` as `file` throws, checked field by field. */
function fails(t: Test, text: string, file: string, line: number | undefined, key: string | undefined, message: string): void {
  t.throws(() => parseServeConfig(text, file), { name: 'ConfigError', code: 'ERR_SONOEDGE_CONFIG', file, line, key, message });
}

t.test('an empty file, or one of comments only, is every default', async (t) => {
  t.same(parseServeConfig('', 'serve.yaml'), DEFAULTS);
  t.same(parseServeConfig('# nothing to change\n', 'serve.yml'), DEFAULTS);
  t.same(parseServeConfig('{}', 'serve.json'), DEFAULTS);
  t.same(parseServeConfig('socket: {}\nmodels: {}\npipeline: {engine: {}}\nlogging: {}\n', 'serve.yaml'), DEFAULTS);
});

t.test('sections given fill in the rest of their own defaults', async (t) => {
  const c = parseServeConfig('serial:\n  path: /dev/ttyUSB0\nsocket:\n  tcp: {port: 7411}\n', 'serve.yaml');
  t.same(c.serial, { path: '/dev/ttyUSB0', baudRate: 115200, resultRate: 30, heartbeatMs: 500, reopenMaxMs: 5000 });
  t.same(c.socket.tcp, { port: 7411, host: '127.0.0.1' });
  t.equal(c.socket.maxClients, 16);
  t.equal(parseServeConfig('serial:\n', 'serve.yaml').serial, null, 'an empty serial section is no serial link');
  t.equal(parseServeConfig('models: {segmentation: null}', 'serve.yaml').models.segmentation, null);
});

t.test('every schema default is stated in its description', async (t) => {
  for (const [key, s] of schemaKeys()) {
    if (!('default' in s) || typeof s.default === 'object' && !Array.isArray(s.default)) continue;
    const shown = JSON.stringify(s.default).replace(/","/g, '", "');
    t.match(String(s.description), `Default: ${shown}`, key);
  }
});

t.test('socket.tcp.host: any loopback address the socket server takes; a malformed address fails here, not at listen', async (t) => {
  const host = (h: string) => parseServeConfig(`socket:\n  tcp:\n    port: 7411\n    host: "${h}"\n`, 'serve.yaml').socket.tcp;
  for (const h of ['127.0.0.1', '127.0.0.2', '127.255.255.255', '::1', 'localhost']) t.same(host(h), { port: 7411, host: h }, h);
  for (const h of ['LOCALHOST', 'localhost.', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) t.same(host(h), { port: 7411, host: h }, `${h}, another spelling`);
  for (const h of ['127.300.0.1', '127.0.0.256', '127.0.0.01', '127.0.0', '127.0.0.1.1', '10.0.0.1', '::', '::ffff:10.0.0.1', 'localhost.localdomain']) {
    const err = (() => { try { host(h); return undefined; } catch (e) { return e; } })();
    t.ok(err instanceof ConfigError, `${h}: a ConfigError`);
    t.match(err, {
      code: 'ERR_SONOEDGE_CONFIG', file: 'serve.yaml', line: 4, key: 'socket.tcp.host',
      message: `serve.yaml:4: socket.tcp.host: expected a loopback address (127.x.x.x, ::1 or localhost) but received "${h}"`,
    }, h);
  }
});

t.test('socket.mode reads octal the way chmod does', async (t) => {
  const mode = (v: string) => parseServeConfig(`socket:\n  mode: ${v}\n`, 'serve.yaml').socket.mode;
  t.equal(mode('0660'), 0o660, 'unquoted 0660 is octal, not YAML 1.2 decimal 660');
  t.equal(mode('"0640"'), 0o640);
  t.equal(mode('"0o600"'), 0o600);
  t.equal(mode('"600"'), 0o600);
  t.equal(mode('384'), 0o600, 'a plain integer is the number itself');
  t.equal(mode('0o640'), 0o640, 'YAML 1.2 octal');
  t.equal(parseServeConfig('{"socket": {"mode": "0600"}}', 'serve.json').socket.mode, 0o600);
  fails(t, 'socket:\n  mode: 0999\n', 'serve.yaml', 2, 'socket.mode',
    'serve.yaml:2: socket.mode: expected permission bits as an octal string like "0660" or an integer 0..511 but received 999');
  fails(t, 'socket:\n  mode: "rw-rw----"\n', 'serve.yaml', 2, 'socket.mode',
    'serve.yaml:2: socket.mode: expected permission bits as an octal string like "0660" or an integer 0..511 but received "rw-rw----"');
});

t.test('relative paths resolve against the config file\'s folder; absolute ones stay', async (t) => {
  const dir = path.join(os.tmpdir(), `sonoedge-config-${process.pid}`);
  const text = [
    'socket: {path: run/s.sock}',
    'models:',
    '  viewQuality: pkgs/vq',
    '  segmentation: /opt/models/seg',
    '  trustStore: [trust, /etc/sonoedge/trust]',
    '  sets:',
    '    - {viewQuality: sets/b/vq, segmentation: /opt/b/seg}',
    '    - {viewQuality: sets/c/vq}',
    'pipeline:',
    '  engine:',
    '    providers: [tensorrt, cpu]',
    '    libraryPath: ort/libonnxruntime.so',
    '    optimizedModelPath: cache/opt.onnx',
    '    tensorrt: {cacheDir: cache/trt}',
    'logging: {file: logs/serve.log}',
  ].join('\n');
  const c = parseServeConfig(text, path.join(dir, 'etc', 'serve.yaml'));
  const at = (p: string) => path.join(dir, 'etc', p);
  t.equal(c.socket.path, at('run/s.sock'));
  t.same(c.models, {
    viewQuality: at('pkgs/vq'), segmentation: '/opt/models/seg', variant: 'fp32', trustStore: [at('trust'), '/etc/sonoedge/trust'], allowUnsigned: false,
    sets: [{ viewQuality: at('sets/b/vq'), segmentation: '/opt/b/seg' }, { viewQuality: at('sets/c/vq') }],
  });
  t.throws(() => parseServeConfig('models:\n  sets:\n    - {segmentation: x}\n', path.join(dir, 'etc', 'serve.yaml')), { code: 'ERR_SONOEDGE_CONFIG', line: 3 });
  t.equal(c.pipeline.engine.libraryPath, at('ort/libonnxruntime.so'));
  t.equal(c.pipeline.engine.optimizedModelPath, at('cache/opt.onnx'));
  t.same(c.pipeline.engine.tensorrt, { cacheDir: at('cache/trt') });
  t.equal(c.logging.file, at('logs/serve.log'));
  // A bare file name resolves against the working directory's view of it.
  t.equal(parseServeConfig('models: {trustStore: keys}', 'serve.yaml').models.trustStore[0], path.resolve('keys'));
});

t.test('an unknown key names the line and suggests the closest', async (t) => {
  const text = '# cart 3\nsocket:\n  path: /run/sonoedge/s.sock\n\n  mdoe: "0660"\n';
  fails(t, text, 'serve.yaml', 5, 'socket.mdoe', 'serve.yaml:5: socket.mdoe: unknown key; did you mean "mode"?');
  fails(t, 'sokcet: {}\n', 'serve.yaml', 1, 'sokcet', 'serve.yaml:1: sokcet: unknown key; did you mean "socket"?');
  fails(t, 'logging:\n  level: info\n  colour: true\n', 'serve.yaml', 3, 'logging.colour',
    'serve.yaml:3: logging.colour: unknown key; expected one of level, file, pretty');
  fails(t, 'socket:\n  tcp:\n    prot: 80\n', 'serve.yaml', 3, 'socket.tcp.prot', 'serve.yaml:3: socket.tcp.prot: unknown key; did you mean "port"?');
  fails(t, 'pipeline:\n  engine:\n    tensorrt:\n      fp61: true\n', 'serve.yaml', 4, 'pipeline.engine.tensorrt.fp61',
    'serve.yaml:4: pipeline.engine.tensorrt.fp61: unknown key; did you mean "fp16"?');
});

t.test('a wrong type, a value out of range and a bad enum name what the key takes', async (t) => {
  fails(t, 'socket:\n  maxClients: many\n', 'serve.yaml', 2, 'socket.maxClients',
    'serve.yaml:2: socket.maxClients: expected integer between 1 and 1024 but received "many"');
  fails(t, 'socket:\n  maxClients: 0\n', 'serve.yaml', 2, 'socket.maxClients',
    'serve.yaml:2: socket.maxClients: expected integer between 1 and 1024 but received 0');
  fails(t, 'socket:\n  maxClients: 2.5\n', 'serve.yaml', 2, 'socket.maxClients',
    'serve.yaml:2: socket.maxClients: expected integer between 1 and 1024 but received 2.5');
  fails(t, 'models:\n  viewQuality: ./vq\n\n  variant: fp64\n', 'serve.yaml', 4, 'models.variant',
    'serve.yaml:4: models.variant: expected one of fp32, int8, fp16 but received "fp64"');
  fails(t, 'serial:\n  path: /dev/ttyS0\n  resultRate: 0\n', 'serve.yaml', 3, 'serial.resultRate',
    'serve.yaml:3: serial.resultRate: expected number between 4.656612875245797e-7 and 1000 but received 0');
  // Below 1000/(2^31-1) the link's result timer (1000/resultRate ms) overflows to 1 ms; SerialLink refuses it, serve
  // refused it only there, after the config was taken.
  fails(t, 'serial:\n  path: /dev/ttyS0\n  resultRate: 4.6e-7\n', 'serve.yaml', 3, 'serial.resultRate',
    'serve.yaml:3: serial.resultRate: expected number between 4.656612875245797e-7 and 1000 but received 4.6e-7');
  fails(t, 'serial:\n  path: /dev/ttyS0\n  baudRate: 100000\n', 'serve.yaml', 3, 'serial.baudRate',
    'serve.yaml:3: serial.baudRate: expected one of 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600 but received 100000');
  fails(t, 'serial:\n  path: ttyUSB0\n', 'serve.yaml', 2, 'serial.path',
    'serve.yaml:2: serial.path: expected an absolute device path like /dev/ttyUSB0 but received "ttyUSB0"');
  fails(t, 'socket: 3\n', 'serve.yaml', 1, 'socket', 'serve.yaml:1: socket: expected object but received 3');
  fails(t, '- socket\n', 'serve.yaml', 1, '(top level)', 'serve.yaml:1: (top level): expected object but received a list of 1');
  fails(t, 'pipeline:\n  segmentationViews: [A4C, A4C]\n', 'serve.yaml', 2, 'pipeline.segmentationViews',
    'serve.yaml:2: pipeline.segmentationViews: expected non-empty list of distinct values, each non-empty string but received a list of 2');
  fails(t, 'pipeline:\n  engine:\n    providers:\n      - cpu\n      - gpu\n', 'serve.yaml', 5, 'pipeline.engine.providers[1]',
    'serve.yaml:5: pipeline.engine.providers[1]: expected one of tensorrt, cuda, cpu but received "gpu"');
  fails(t, 'pipeline:\n  engine:\n    sessionConfig:\n      session.intra_op.allow_spinning: 0\n', 'serve.yaml', 4,
    'pipeline.engine.sessionConfig["session.intra_op.allow_spinning"]',
    'serve.yaml:4: pipeline.engine.sessionConfig["session.intra_op.allow_spinning"]: expected string but received 0');
  fails(t, 'pipeline:\n  engine:\n    inlineRunMaxMs: -1\n', 'serve.yaml', 3, 'pipeline.engine.inlineRunMaxMs',
    'serve.yaml:3: pipeline.engine.inlineRunMaxMs: expected number between 0 and 1000 but received -1');
  fails(t, 'pipeline:\n  engine:\n    spinning: true\n    sessionConfig:\n      session.intra_op.allow_spinning: "1"\n', 'serve.yaml', 2, 'pipeline.engine',
    'serve.yaml:2: pipeline.engine: expected spinning or sessionConfig["session.intra_op.allow_spinning"] but received both');
  // Longer than a Unix socket address holds: the kernel cut it short, and serve failed at chmod and hung.
  const long = `/run/${'s'.repeat(120)}.sock`;
  fails(t, `socket:\n  path: ${long}\n`, 'serve.yaml', 2, 'socket.path',
    `serve.yaml:2: socket.path: expected a path of at most 107 bytes (what a Unix socket address holds) but received 130 bytes: ${long}`);
  // YAML's non-finite numbers are named as such, not as the null JSON would write for them.
  fails(t, 'serial:\n  path: /dev/ttyS0\n  resultRate: .nan\n', 'serve.yaml', 3, 'serial.resultRate',
    'serve.yaml:3: serial.resultRate: expected number between 4.656612875245797e-7 and 1000 but received NaN');
  fails(t, 'pipeline:\n  contourEpsilon: -.inf\n', 'serve.yaml', 2, 'pipeline.contourEpsilon',
    'serve.yaml:2: pipeline.contourEpsilon: expected number between 0 and 100 but received -Infinity');
  fails(t, 'socket:\n  maxMessageSize: 1e400\n', 'serve.yaml', 2, 'socket.maxMessageSize',
    'serve.yaml:2: socket.maxMessageSize: expected integer between 1024 and 4294967295 but received Infinity');
});

t.test('a key that takes alternatives names them all, or the deeper mistake', async (t) => {
  fails(t, 'socket:\n  tcp: true\n', 'serve.yaml', 2, 'socket.tcp',
    'serve.yaml:2: socket.tcp: expected false or an object {port, host} but received true');
  fails(t, 'socket:\n  tcp:\n    host: 127.0.0.1\n    port: 99999\n', 'serve.yaml', 4, 'socket.tcp.port',
    'serve.yaml:4: socket.tcp.port: expected integer between 0 and 65535 but received 99999');
  fails(t, 'socket:\n  tcp:\n    port: 80\n    host: 0.0.0.0\n', 'serve.yaml', 4, 'socket.tcp.host',
    'serve.yaml:4: socket.tcp.host: expected a loopback address (127.x.x.x, ::1 or localhost) but received "0.0.0.0"');
  fails(t, 'models:\n  trustStore: 3\n', 'serve.yaml', 2, 'models.trustStore',
    'serve.yaml:2: models.trustStore: expected folder path or non-empty list of folder paths but received 3');
  fails(t, 'models:\n  trustStore: [a, 3]\n', 'serve.yaml', 2, 'models.trustStore[1]',
    'serve.yaml:2: models.trustStore[1]: expected non-empty string but received 3');
});

t.test('a missing required key is reported on its section\'s line', async (t) => {
  fails(t, 'socket: {}\nserial:\n  baudRate: 9600\n', 'serve.yaml', 2, 'serial.path',
    'serve.yaml:2: serial.path: expected an absolute device path like /dev/ttyUSB0 but received nothing');
});

t.test('of several mistakes, the first in the file is reported', async (t) => {
  const text = 'logging:\n  level: loud\nsocket:\n  maxClients: 0\n  mdoe: 1\n';
  fails(t, text, 'serve.yaml', 2, 'logging.level',
    'serve.yaml:2: logging.level: expected one of trace, debug, info, warn, error, fatal, silent but received "loud"');
});

t.test('the engine\'s own cross-field rules are checked at load, with their line', async (t) => {
  fails(t, 'pipeline:\n  engine:\n    providers: [cpu]\n    tensorrt: {fp16: true}\n', 'serve.yaml', 4, 'pipeline.engine.tensorrt',
    'serve.yaml:4: pipeline.engine.tensorrt: options for tensorrt given but tensorrt is not in providers (cpu)');
});

t.test('a YAML syntax error names its line', async (t) => {
  fails(t, 'socket:\n  path: /tmp/s.sock\n  mode: : 0660\n', 'serve.yaml', 3, undefined,
    'serve.yaml:3: invalid YAML: Nested mappings are not allowed in compact mappings (column 9)');
  fails(t, 'socket:\n  path: a\n  path: b\n', 'serve.yaml', 3, undefined,
    'serve.yaml:3: invalid YAML: Map keys must be unique (column 3)');
  fails(t, 'socket:\n\tpath: a\n', 'serve.yml', 2, undefined, 'serve.yml:2: invalid YAML: Tabs are not allowed as indentation (column 1)');
  fails(t, 'models:\n  variant: fp32\n trustStore: x\n', 'serve.yaml', 3, undefined,
    'serve.yaml:3: invalid YAML: All mapping items must start at the same column (column 1)');
});

t.test('a JSON file: its mistakes on their lines, and nothing but JSON', async (t) => {
  const json = '{\n  "socket": {\n    "path": "/run/sonoedge/s.sock",\n    "maxStreams": -1\n  }\n}\n';
  fails(t, json, 'serve.json', 4, 'socket.maxStreams', 'serve.json:4: socket.maxStreams: expected integer between 1 and 1024 but received -1');
  fails(t, '{\n  "models": {\n    "variant": "fp32",\n  }\n}\n', 'serve.json', 4, undefined,
    'serve.json:4: invalid JSON: Expected double-quoted property name');
  fails(t, '{\n  "socket": {},\n  "socket": {}\n}\n', 'serve.json', 3, undefined,
    'serve.json:3: invalid JSON: Map keys must be unique (column 3)');
  fails(t, 'socket: {}\n', 'serve.json', 1, undefined, 'serve.json:1: invalid JSON: Unexpected token \'s\'');
  t.same(parseServeConfig('{\n\t"logging": {"level": "debug"}\n}', 'SERVE.JSON').logging, { level: 'debug', file: null, pretty: false });
});

t.test('an unsupported extension and a missing file are ConfigErrors without a line', async (t) => {
  fails(t, 'socket = {}', 'serve.toml', undefined, undefined, 'serve.toml: expected a .yaml, .yml or .json file but received ".toml"');
  fails(t, '', 'serve', undefined, undefined, 'serve: expected a .yaml, .yml or .json file but received no extension');
  const missing = path.join(os.tmpdir(), `sonoedge-no-such-${process.pid}`, 'serve.yaml');
  await t.rejects(loadServeConfig(missing), {
    name: 'ConfigError', code: 'ERR_SONOEDGE_CONFIG', file: missing, line: undefined, key: undefined,
    message: `${missing}: expected a readable config file but received ENOENT (no such file)`,
  });
  await t.rejects(loadServeConfig(root), { code: 'ERR_SONOEDGE_CONFIG', message: `${root}: expected a .yaml, .yml or .json file but received no extension` });
  const err = await loadServeConfig(missing).catch((e: unknown) => e);
  t.ok(err instanceof ConfigError);
  t.equal(((err as Error).cause as NodeJS.ErrnoException).code, 'ENOENT');
});

t.test('loadServeConfig reads a file and resolves against its folder', async (t) => {
  const dir = path.join(os.tmpdir(), `sonoedge-config-load-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'serve.json');
  writeFileSync(file, JSON.stringify({ models: { trustStore: 'keys' }, logging: { file: 'serve.log' } }, null, 2));
  const c = await loadServeConfig(file);
  t.same(c.models.trustStore, [path.join(dir, 'keys')]);
  t.equal(c.logging.file, path.join(dir, 'serve.log'));
});

t.test('examples/serve.yaml loads: every section, the bundled models', async (t) => {
  const c = await loadServeConfig(path.join(root, 'examples', 'serve.yaml'));
  t.same(c.socket, {
    path: '/run/sonoedge/sonoedge.sock', mode: 0o660, tcp: { port: 7411, host: '127.0.0.1' }, maxClients: 8, maxStreams: 4,
    maxMessageSize: 33554432, resultQueueLength: 8, maxPendingWriteBytes: 1048576, maxErrorsPerClient: 64,
  });
  t.same(c.serial, { path: '/dev/ttyUSB0', baudRate: 115200, resultRate: 30, heartbeatMs: 500, reopenMaxMs: 5000 });
  t.same(c.models, { ...DEFAULTS.models });
  t.equal(c.pipeline.segmentationStride, 2);
  t.same(c.pipeline.engine, { ...DEFAULTS.pipeline.engine, intraOpThreads: 2 });
  t.same(c.logging, DEFAULTS.logging);
});

t.test('pipelineOptions hands the models and graph to Pipeline.create', async (t) => {
  const c = parseServeConfig('models: {segmentation: null}\npipeline: {qualityThreshold: 0.6}\n', 'serve.yaml');
  const trustStore = await loadTrustStore(c.models.trustStore);
  t.same(pipelineOptions(c, trustStore), {
    viewQuality: DEFAULTS.models.viewQuality, variant: 'fp32', trustStore, allowUnsigned: false, engine: DEFAULTS.pipeline.engine,
    segmentationStride: 1, segmentationViews: ['A4C', 'A2C'], qualityThreshold: 0.6, qualityHysteresis: 0.1, qualityHold: 16, maxBeamAngleDeg: 30, contourEpsilon: 0.75,
  });
  t.equal(pipelineOptions(DEFAULTS, trustStore).segmentation, DEFAULTS.models.segmentation);
  t.equal(pipelineOptions(parseServeConfig('pipeline: {maxBeamAngleDeg: 90}\n', 'serve.yaml'), trustStore).maxBeamAngleDeg, 90, 'the beam rule off');
  for (const bad of ['0', '91']) {
    t.throws(() => parseServeConfig(`pipeline:\n  maxBeamAngleDeg: ${bad}\n`, 'serve.yaml'),
      { name: 'ConfigError', code: 'ERR_SONOEDGE_CONFIG', line: 2, key: 'pipeline.maxBeamAngleDeg' }, bad);
  }
});

t.test('docs/DEPLOYMENT.md holds the reference table generated from the schema', async (t) => {
  const page = readFileSync(path.join(root, 'docs', 'DEPLOYMENT.md'), 'utf8');
  t.ok(page.includes(`${REFERENCE_START}\n${configReference()}\n${REFERENCE_END}`),
    'the table is current (regenerate: npx tsx scripts/gen-config-docs.ts)');
  for (const [key] of schemaKeys()) t.ok(page.includes(`| \`${key}\` |`), key);
  t.ok(page.includes('## Running as a service'));
});

t.test('dicom: paths resolve against the config file, capture defaults fill in, bad keys are named', async (t) => {
  const c = parseServeConfig('dicom:\n  dir: out\n  pacs: {host: 127.0.0.1, port: 4242, calledAet: ORTHANC, tls: {ca: ca.pem}}\n', '/etc/sonoedge/serve.yaml');
  t.same(c.dicom, {
    dir: '/etc/sonoedge/out',
    capture: { mode: 'seconds', seconds: 2, beats: 1, views: ['A4C', 'A2C', 'PLAX', 'PSAX'], maxFrames: 300 },
    secondaryCapture: false,
    pacs: { host: '127.0.0.1', port: 4242, calledAet: 'ORTHANC', tls: { ca: '/etc/sonoedge/ca.pem' } },
  });
  t.throws(() => parseServeConfig('dicom:\n  dir: out\n  capture: {secnds: 3}\n', 'serve.yaml'), { name: 'ConfigError', code: 'ERR_SONOEDGE_CONFIG', line: 3, key: 'dicom.capture.secnds' });
  t.throws(() => parseServeConfig('dicom:\n  pacs: {host: x, port: 104, calledAet: PACS}\n', 'serve.yaml'), { name: 'ConfigError', code: 'ERR_SONOEDGE_CONFIG' });
});

t.test('dicom.pacs.maxReadFailures and maxMoveFailures: integers 1..1000, passed as given; absent, the outbox\'s default (3)', async (t) => {
  const pacs = (extra: string) => parseServeConfig(`dicom:\n  dir: out\n  pacs:\n    host: 127.0.0.1\n    port: 104\n    calledAet: PACS\n${extra}`, 'serve.yaml').dicom?.pacs;
  t.match(pacs('    maxReadFailures: 5\n    maxMoveFailures: 1\n'), { maxReadFailures: 5, maxMoveFailures: 1 });
  const none = pacs('');
  t.same(['maxReadFailures' in none!, 'maxMoveFailures' in none!], [false, false]);
  const bad = (key: string, value: string, received: string) => fails(t, `dicom:\n  dir: out\n  pacs:\n    host: 127.0.0.1\n    port: 104\n    calledAet: PACS\n    ${key}: ${value}\n`, 'serve.yaml', 7, `dicom.pacs.${key}`,
    `serve.yaml:7: dicom.pacs.${key}: expected integer between 1 and 1000 but received ${received}`);
  for (const key of ['maxReadFailures', 'maxMoveFailures']) {
    bad(key, '0', '0');
    bad(key, '2.5', '2.5');
    bad(key, 'often', '"often"');
    bad(key, '1001', '1001');
  }
});

t.test('dicom.pacs.heldRetryMs: an integer 10..86400000, passed as given; absent, the outbox\'s default (600000)', async (t) => {
  const pacs = (extra: string) => parseServeConfig(`dicom:\n  dir: out\n  pacs:\n    host: 127.0.0.1\n    port: 104\n    calledAet: PACS\n${extra}`, 'serve.yaml').dicom?.pacs;
  t.match(pacs('    heldRetryMs: 30000\n'), { heldRetryMs: 30000 });
  t.equal('heldRetryMs' in pacs('')!, false);
  const bad = (value: string, received: string) => fails(t, `dicom:\n  dir: out\n  pacs:\n    host: 127.0.0.1\n    port: 104\n    calledAet: PACS\n    heldRetryMs: ${value}\n`, 'serve.yaml', 7,
    'dicom.pacs.heldRetryMs', `serve.yaml:7: dicom.pacs.heldRetryMs: expected integer between 10 and 86400000 but received ${received}`);
  bad('9', '9');
  bad('1.5', '1.5');
  bad('often', '"often"');
  bad('86400001', '86400001');
});

t.test('dicom.pacs.host: the PACS\'s address or host name; never a malformed address or 0.0.0.0 / ::', async (t) => {
  const pacs = (h: string) => parseServeConfig(`dicom:\n  dir: out\n  pacs:\n    port: 104\n    host: "${h}"\n    calledAet: PACS\n`, 'serve.yaml').dicom?.pacs?.host;
  for (const h of ['127.0.0.1', '::1', '192.168.1.20', 'fe80::1%eth0', 'pacs', 'pacs.hospital.example', 'orthanc_1']) t.equal(pacs(h), h, h);
  const refused = [
    ...['10.300.0.1', '127.300.0.1', '10.0.0', '10.0.0.01', '1.2.3.4.5', '[::1]', 'pacs host', 'pacs:104', '-pacs'].map((h) => [h, 'an IPv4 or IPv6 address or a host name'] as const),
    ...['0.0.0.0', '::', '::0', '::ffff:0.0.0.0'].map((h) => [h, 'the PACS\'s address or host name (not an address to listen on)'] as const),
  ];
  for (const [h, expected] of refused) {
    const err = (() => { try { pacs(h); return undefined; } catch (e) { return e; } })();
    t.ok(err instanceof ConfigError, `${h}: a ConfigError`);
    t.match(err, { code: 'ERR_SONOEDGE_CONFIG', file: 'serve.yaml', line: 5, key: 'dicom.pacs.host' }, `${h}: code, line, key`);
    t.equal((err as Error | undefined)?.message, `serve.yaml:5: dicom.pacs.host: expected ${expected} but received "${h}"`, h);
  }
  fails(t, 'dicom:\n  dir: out\n  pacs: {host: 10.300.0.1, port: 104, calledAet: PACS}\n', 'serve.yaml', 3, 'dicom.pacs.host',
    'serve.yaml:3: dicom.pacs.host: expected an IPv4 or IPv6 address or a host name but received "10.300.0.1"');
});

t.test('metrics: off by default; a loopback port when given; nothing else', async (t) => {
  t.same(parseServeConfig('metrics:\n  port: 9464\n', 'serve.yaml').metrics, { port: 9464, host: '127.0.0.1' });
  t.same(parseServeConfig('metrics:\n  port: 0\n  host: "::1"\n', 'serve.yaml').metrics, { port: 0, host: '::1' });
  t.same(parseServeConfig('metrics:\n  port: 0\n  host: 127.0.0.2\n', 'serve.yaml').metrics, { port: 0, host: '127.0.0.2' }, 'all of 127/8 is loopback');
  t.same(parseServeConfig('metrics: null\n', 'serve.yaml').metrics, null);
  t.throws(() => parseServeConfig('metrics:\n  port: 9464\n  host: 0.0.0.0\n', 'serve.yaml'), {
    name: 'ConfigError', code: 'ERR_SONOEDGE_CONFIG', line: 3, key: 'metrics.host',
    message: 'serve.yaml:3: metrics.host: expected a loopback address (127.x.x.x, ::1 or localhost) but received "0.0.0.0"',
  });
  t.throws(() => parseServeConfig('metrics:\n  port: 9464\n  host: 128.0.0.1\n', 'serve.yaml'), {
    code: 'ERR_SONOEDGE_CONFIG', message: 'serve.yaml:3: metrics.host: expected a loopback address (127.x.x.x, ::1 or localhost) but received "128.0.0.1"',
  });
  t.throws(() => parseServeConfig('metrics:\n  port: 9464\n  host: 127.300.0.1\n', 'serve.yaml'), {
    code: 'ERR_SONOEDGE_CONFIG', message: 'serve.yaml:3: metrics.host: expected a loopback address (127.x.x.x, ::1 or localhost) but received "127.300.0.1"',
  }, 'a malformed 127 address is none');
  for (const h of ['LOCALHOST', 'localhost.', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
    t.same(parseServeConfig(`metrics:\n  port: 0\n  host: "${h}"\n`, 'serve.yaml').metrics, { port: 0, host: h }, `${h} is loopback`);
  }
  t.throws(() => parseServeConfig('metrics:\n  host: 127.0.0.1\n', 'serve.yaml'), { code: 'ERR_SONOEDGE_CONFIG' });
});

t.test('igtl: off by default; a section fills in its defaults; bad values are named', async (t) => {
  t.equal(parseServeConfig('igtl: null\n', 'serve.yaml').igtl, null);
  t.same(parseServeConfig('igtl:\n  port: 0\n  devices: {label: "{device}_LV"}\n', 'serve.yaml').igtl, {
    mode: 'server', host: '127.0.0.1', port: 0, headerVersion: 2, results: ['IMAGE', 'STRING', 'POLYDATA'],
    devices: { label: '{device}_LV', summary: 'Summary', contour: 'LVContour' }, labelValue: 1, fps: 30, maxClients: 8, maxStreams: 4, streamBase: 1000,
    maxBodyBytes: 64 * 1024 * 1024, checkCrc: true, maxErrorsPerClient: 64, resultQueueLength: 4, maxPendingWriteBytes: 4 * 1024 * 1024, reconnectMs: 1000, flip: 'none',
  });
  t.equal(parseServeConfig('igtl:\n  mode: client\n  host: plus.local\n', 'serve.yaml').igtl?.mode, 'client');
  t.throws(() => parseServeConfig('igtl:\n  results: [IMAGE, VIDEO]\n', 'serve.yaml'), {
    code: 'ERR_SONOEDGE_CONFIG', message: 'serve.yaml:2: igtl.results[1]: expected one of IMAGE, STRING, POINT, POLYDATA but received "VIDEO"',
  });
  t.throws(() => parseServeConfig('igtl:\n  headerVersion: 3\n', 'serve.yaml'), { code: 'ERR_SONOEDGE_CONFIG', key: 'igtl.headerVersion' });
  t.equal(parseServeConfig('igtl:\n  flip: horizontal\n', 'serve.yaml').igtl?.flip, 'horizontal');
  t.throws(() => parseServeConfig('igtl:\n  flip: mirrored\n', 'serve.yaml'), {
    code: 'ERR_SONOEDGE_CONFIG', message: 'serve.yaml:2: igtl.flip: expected one of none, horizontal, vertical, both but received "mirrored"',
  });
  t.throws(() => parseServeConfig('igtl:\n  prot: 1\n', 'serve.yaml'), { code: 'ERR_SONOEDGE_CONFIG', line: 2 });
  t.equal(parseServeConfig('igtl:\n  labelValue: 255\n', 'serve.yaml').igtl?.labelValue, 255);
  t.throws(() => parseServeConfig('igtl:\n  labelValue: 0\n', 'serve.yaml'), { code: 'ERR_SONOEDGE_CONFIG', line: 2, key: 'igtl.labelValue' });
  t.throws(() => parseServeConfig('igtl:\n  labelValue: 256\n', 'serve.yaml'), { code: 'ERR_SONOEDGE_CONFIG', line: 2, key: 'igtl.labelValue' });
});

t.test('igtl.host: an address or a host name to listen on (server) or connect to (client); a peer is never 0.0.0.0 or ::', async (t) => {
  const igtl = (mode: string, h: string) => parseServeConfig(`igtl:\n  mode: ${mode}\n  host: "${h}"\n`, 'serve.yaml').igtl;
  const refusal = (mode: string, h: string) => { try { igtl(mode, h); return undefined; } catch (e) { return e; } };
  for (const h of ['127.0.0.1', '0.0.0.0', '::', '10.0.0.7', 'fe80::1%eth0', 'localhost', 'cart7.example.org']) t.equal(igtl('server', h)?.host, h, `server, ${h}`);
  for (const h of ['127.0.0.1', '::1', '192.168.1.20', 'fe80::1%eth0', 'plus.local', 'plus-server', 'plus_server']) t.equal(igtl('client', h)?.host, h, `client, ${h}`);
  for (const mode of ['server', 'client']) {
    for (const h of ['10.300.0.1', '127.300.0.1', '10.0.0', '10.0.0.01', '1.2.3.4.5', '[::1]', 'plus local', 'plus.local:18944', '-plus']) {
      const err = refusal(mode, h);
      t.ok(err instanceof ConfigError, `${mode}, ${h}: a ConfigError`);
      t.match(err, {
        code: 'ERR_SONOEDGE_CONFIG', file: 'serve.yaml', line: 3, key: 'igtl.host',
        message: `serve.yaml:3: igtl.host: expected an IPv4 or IPv6 address or a host name but received "${h}"`,
      }, `${mode}, ${h}`);
    }
  }
  for (const h of ['0.0.0.0', '::', '::0', '0:0::0', '::ffff:0.0.0.0']) {
    const err = refusal('client', h);
    t.ok(err instanceof ConfigError, `client, ${h}: a ConfigError`);
    t.match(err, {
      code: 'ERR_SONOEDGE_CONFIG', file: 'serve.yaml', line: 3, key: 'igtl.host',
      message: `serve.yaml:3: igtl.host: expected the peer's address or host name (not an address to listen on) but received "${h}"`,
    }, `client, ${h}`);
  }
  fails(t, 'igtl:\n  port: 18944\n  host: 10.300.0.1\n  mode: client\n', 'serve.yaml', 3, 'igtl.host',
    'serve.yaml:3: igtl.host: expected an IPv4 or IPv6 address or a host name but received "10.300.0.1"');
});

t.test('igtl.port: 0 (a free port) for a server only; a client\'s peer port is 1..65535', async (t) => {
  const igtl = (text: string) => parseServeConfig(text, 'serve.yaml').igtl;
  t.equal(igtl('igtl:\n  port: 0\n')?.port, 0, 'server, 0');
  t.equal(igtl('igtl:\n  mode: server\n  port: 0\n')?.port, 0, 'server, 0, mode given');
  for (const p of [1, 18944, 65535]) t.equal(igtl(`igtl:\n  mode: client\n  port: ${p}\n`)?.port, p, `client, ${p}`);
  t.equal(igtl('igtl:\n  mode: client\n')?.port, 18944, 'client, the default');
  for (const text of ['igtl:\n  mode: client\n  port: 0\n', 'igtl:\n  host: plus.local\n  port: 0\n  mode: client\n']) {
    const err = (() => { try { igtl(text); return undefined; } catch (e) { return e; } })();
    t.ok(err instanceof ConfigError, `${JSON.stringify(text)}: a ConfigError`);
    t.match(err, { code: 'ERR_SONOEDGE_CONFIG', file: 'serve.yaml', line: 3, key: 'igtl.port' }, JSON.stringify(text));
    t.equal((err as Error | undefined)?.message, "serve.yaml:3: igtl.port: expected the peer's port (1..65535) in client mode but received 0", JSON.stringify(text));
  }
});

t.test('igtl: the section\'s defaults are the bridge\'s own (IGTL_DEFAULTS), every option among them', async (t) => {
  t.same(parseServeConfig('igtl: {}\n', 'serve.yaml').igtl, IGTL_DEFAULTS);
});
