// The configuration of `sonoedge serve`: a YAML or JSON file, validated once
// against src/config/serve-schema.ts, with every default filled in and every
// path made absolute, so the runtime never looks at a raw config value.
// A mistake is one ConfigError naming the file, the line and the key:
//   serve.yaml:12: socket.mdoe: unknown key; did you mean "mode"?
// Both formats go through the yaml package (JSON is YAML 1.2): one parser,
// one LineCounter, one way to find a key's line.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Ajv2020Module from 'ajv/dist/2020.js';
import { isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { resolveEngineOptions, type EngineOptions } from '../engine/options.js';
import { bundledPaths, type TrustStore } from '../model/package.js';
import type { PipelineOptions } from '../pipeline/index.js';
import type { DicomServiceConfig } from '../dicom/service.js';
import type { IgtlOptions } from '../transport/igtl/options.js';
import { MAX_SOCKET_PATH_BYTES } from '../transport/types.js';
import { studyProblem } from '../dicom/study.js';
import { hostExpected, type HostUse } from '../util/host.js';
import { isLoopback } from '../util/is.js';
import { ConfigError, lineOf, schemaError } from './diagnose.js';
import { serveSchema, type LogLevel, type Variant } from './serve-schema.js';

export { ConfigError } from './diagnose.js';
export { serveSchema, LOG_LEVELS, BAUD_RATES, VARIANTS, type LogLevel, type Variant } from './serve-schema.js';

/** SocketServerOptions less the handler and model control. */
export interface SocketConfig {
  path: string;
  mode: number;
  /** host: 127.x.x.x, ::1 or localhost (isLoopback). */
  tcp: false | { port: number; host: string };
  maxClients: number;
  maxStreams: number;
  maxMessageSize: number;
  resultQueueLength: number;
  maxPendingWriteBytes: number;
  maxErrorsPerClient: number;
}

/** SerialLinkOptions less the runtime callbacks. */
export interface SerialConfig {
  path: string;
  baudRate: number;
  resultRate: number;
  heartbeatMs: number;
  /** The longest wait between two tries to open the path again (lost or absent device). */
  reopenMaxMs: number;
}

export interface ModelsConfig {
  viewQuality: string;
  /** null: no segmentation package, so no LV area and no EF. */
  segmentation: string | null;
  /** Model sets 1, 2, ... for the serial CMD_SELECT_MODEL_SET (set 0 is the two packages above). */
  sets: { viewQuality: string; segmentation?: string }[];
  variant: Variant;
  trustStore: string[];
  allowUnsigned: boolean;
}

/** EngineOptions as a file can give them (no log callback), with the engine's top-level defaults filled in. */
export type EngineConfig = Omit<EngineOptions, 'log'> & Required<Pick<EngineOptions,
  'providers' | 'intraOpThreads' | 'interOpThreads' | 'graphOptimization' | 'deterministic' | 'warmupRuns' | 'logSeverity'>>;

export interface PipelineConfig {
  segmentationStride: number;
  segmentationViews: string[];
  /** Absent: the view package's postprocessing.quality.thresholds.diagnostic, 0.5 without one (qualityBar). */
  qualityThreshold?: number;
  qualityHysteresis: number;
  qualityHold: number;
  maxBeamAngleDeg: number;
  contourEpsilon: number;
  engine: EngineConfig;
}

export interface LoggingConfig {
  level: LogLevel;
  /** null: standard output. */
  file: string | null;
  pretty: boolean;
}

/** The whole serve configuration, every default applied and every path absolute. */
export interface ServeConfig {
  socket: SocketConfig;
  /** null: no serial link. */
  serial: SerialConfig | null;
  models: ModelsConfig;
  pipeline: PipelineConfig;
  logging: LoggingConfig;
  /** null: no DICOM capture or PACS (src/dicom/service.ts). */
  dicom: DicomServiceConfig | null;
  /** null: no metrics endpoint (src/telemetry/metrics.ts). */
  metrics: MetricsConfig | null;
  /** null: no OpenIGTLink bridge (src/transport/igtl, docs/OPENIGTLINK.md). */
  igtl: IgtlConfig | null;
  /** null: no live viewer page (src/viewer). */
  viewer: ViewerConfig | null;
}

/** The live viewer page (src/viewer/server.ts): loopback unless a token guards it. */
export interface ViewerConfig {
  port: number;
  host: string;
  /** null: no token (loopback only). */
  token: string | null;
  rate: number;
  seconds: number;
  quality: number;
}

/** The OpenIGTLink bridge: IgtlOptions (src/transport/igtl/options.ts), every default filled in. */
export type IgtlConfig = IgtlOptions;

/** The Prometheus endpoint: loopback only. */
export interface MetricsConfig {
  port: number;
  /** 127.x.x.x, ::1 or localhost (isLoopback). */
  host: string;
}

// ajv is CommonJS: under Node's ESM interop the class sits on .default.
type Ajv2020Class = typeof Ajv2020Module.default;
const Ajv2020: Ajv2020Class = (Ajv2020Module as unknown as { default?: Ajv2020Class }).default ?? (Ajv2020Module as unknown as Ajv2020Class);
let validator: ReturnType<InstanceType<Ajv2020Class>['compile']> | undefined;
function validate(value: unknown) {
  if (validator === undefined) {
    // allErrors: the error reported is the first in the file, not the first in the schema.
    const ajv = new Ajv2020({ allErrors: true, verbose: true, useDefaults: true, allowUnionTypes: true, strict: true });
    ajv.addKeyword('x-expected');
    validator = ajv.compile(serveSchema as object);
  }
  return { ok: validator(value), errors: validator.errors ?? [] };
}

const EXTENSIONS = ['.yaml', '.yml', '.json'];
const FILE_ERRORS: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'a folder' };

function checkExtension(fileName: string): string {
  const ext = path.extname(fileName).toLowerCase();
  if (!EXTENSIONS.includes(ext)) {
    throw new ConfigError(fileName, undefined, undefined,
      `expected a .yaml, .yml or .json file but received ${ext === '' ? 'no extension' : JSON.stringify(ext)}`);
  }
  return ext;
}

const lineAt = (text: string, offset: number): number => text.slice(0, offset).split('\n').length;

/** Reads and validates a config file. Throws ConfigError (code ERR_SONOEDGE_CONFIG). */
export async function loadServeConfig(file: string): Promise<ServeConfig> {
  checkExtension(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'an unreadable file';
    const why = FILE_ERRORS[code];
    throw new ConfigError(file, undefined, undefined, `expected a readable config file but received ${code}${why ? ` (${why})` : ''}`, { cause: err });
  }
  return parseServeConfig(text, file);
}

/**
 * Parses and validates config text. `fileName` picks the format by extension,
 * names the file in errors, and anchors relative paths (its folder).
 */
export function parseServeConfig(text: string, fileName: string): ServeConfig {
  const ext = checkExtension(fileName);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const syntax = doc.errors[0];
  if (ext === '.json') {
    // YAML reads a superset of JSON (trailing commas, comments): JSON.parse keeps a .json file JSON.
    try {
      JSON.parse(text);
    } catch (err) {
      const msg = (err as Error).message;
      const pos = /at position (\d+)/.exec(msg);
      const line = pos ? lineAt(text, Number(pos[1])) : syntax ? lines.linePos(syntax.pos[0]).line : 1;
      const why = msg.replace(/ in JSON at position \d+.*$/s, '').replace(/, ".*" is not valid JSON$/s, '');
      throw new ConfigError(fileName, line, undefined, `invalid JSON: ${why}`, { cause: err });
    }
  }
  if (syntax) {
    const pos = lines.linePos(syntax.pos[0]);
    throw new ConfigError(fileName, pos.line, undefined,
      `invalid ${ext === '.json' ? 'JSON' : 'YAML'}: ${syntax.message} (column ${pos.col})`, { cause: syntax });
  }
  let value: unknown;
  try {
    // An empty file (or one of comments only) is all defaults.
    value = doc.contents === null ? {} : doc.toJS();
  } catch (err) {
    throw new ConfigError(fileName, 1, undefined, `invalid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`, { cause: err });
  }
  readModeAsOctal(doc, value);
  const { ok, errors } = validate(value);
  if (!ok) throw schemaError(fileName, errors, doc, lines);
  const config = resolve(value as RawConfig, path.dirname(path.resolve(fileName)));
  checkEngine(config, fileName, doc, lines);
  checkStudy(config, fileName, doc, lines);
  checkSocket(config, fileName, doc, lines);
  checkViewer(config, fileName, doc, lines);
  checkMetrics(config, fileName, doc, lines);
  checkIgtl(config, fileName, doc, lines);
  checkPacs(config, fileName, doc, lines);
  return config;
}

/**
 * A host key (its path) whose value breaks the rule for its use (hostExpected, the rule the code's own checks apply,
 * worded the same): ConfigError at its line, '<key>: expected <rule> but received "<host>"'.
 */
function expectHost(host: string, use: HostUse, keyPath: string[], fileName: string, doc: Document, lines: LineCounter,
  whose?: string): void {
  const expected = hostExpected(host, use, whose);
  if (expected === undefined) return;
  throw new ConfigError(fileName, lineOf(doc, lines, keyPath), keyPath.join('.'), `expected ${expected} but received ${JSON.stringify(host)}`);
}

/** socket.path: no longer than a socket address holds; socket.tcp: loopback only, by the rules the socket server itself applies. */
function checkSocket(config: ServeConfig, fileName: string, doc: Document, lines: LineCounter): void {
  // The socket server's own rule: a longer path was cut short by the kernel, and serve failed at chmod and hung.
  const bytes = Buffer.byteLength(config.socket.path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new ConfigError(fileName, lineOf(doc, lines, ['socket', 'path']), 'socket.path',
      `expected a path of at most ${MAX_SOCKET_PATH_BYTES} bytes (what a Unix socket address holds) but received ${bytes} bytes: ${config.socket.path}`);
  }
  const tcp = config.socket.tcp;
  if (tcp) expectHost(tcp.host, 'loopback', ['socket', 'tcp', 'host'], fileName, doc, lines);
}

/**
 * viewer: host is an address or a host name (isHost), so that a malformed address such as 127.300.0.1 or 10.300.0.1
 * fails here as such rather than at listen, or as a non-loopback host without a token; a page reachable from other
 * machines must be guarded by a token.
 */
function checkViewer(config: ServeConfig, fileName: string, doc: Document, lines: LineCounter): void {
  const v = config.viewer;
  if (!v) return;
  expectHost(v.host, 'any', ['viewer', 'host'], fileName, doc, lines);
  if (v.token !== null || isLoopback(v.host)) return;
  throw new ConfigError(fileName, lineOf(doc, lines, ['viewer', 'host']), 'viewer.token',
    `expected a token when viewer.host is not loopback but received host ${JSON.stringify(v.host)} and no token`);
}

/** metrics: loopback only, by the same rule as the viewer's (isLoopback). */
function checkMetrics(config: ServeConfig, fileName: string, doc: Document, lines: LineCounter): void {
  const m = config.metrics;
  if (m) expectHost(m.host, 'loopback', ['metrics', 'host'], fileName, doc, lines);
}

/**
 * igtl.host: in server mode the address to listen on, in client mode the peer's; either way an address or a host
 * name (isHost), so that a malformed one fails here, not at listen or at every reconnect. A peer is never the
 * unspecified address (0.0.0.0, ::), which only a server listens on (isUnspecified), and igtl.port is never 0 (a free
 * port to listen on). The bridge's constructor applies the same rules to code that builds it directly.
 */
function checkIgtl(config: ServeConfig, fileName: string, doc: Document, lines: LineCounter): void {
  const g = config.igtl;
  if (!g) return;
  expectHost(g.host, g.mode === 'client' ? 'peer' : 'any', ['igtl', 'host'], fileName, doc, lines);
  if (g.mode !== 'client') return;
  // Port 0 picks a free port to listen on; a client would connect to port 0 and retry for ever.
  if (g.port === 0) {
    throw new ConfigError(fileName, lineOf(doc, lines, ['igtl', 'port']), 'igtl.port', `expected the peer's port (1..65535) in client mode but received ${g.port}`);
  }
}

/**
 * dicom.pacs.host: the PACS's address or host name (isHost), by the rules of PacsClient's own check, so that a
 * malformed one fails here rather than at every send from the outbox; a peer, so never the unspecified address.
 */
function checkPacs(config: ServeConfig, fileName: string, doc: Document, lines: LineCounter): void {
  const host = config.dicom?.pacs?.host;
  if (host === undefined) return;
  expectHost(host, 'peer', ['dicom', 'pacs', 'host'], fileName, doc, lines, "the PACS's");
}

/**
 * YAML 1.2 reads an unquoted 0660 as the decimal 660; every admin means chmod's
 * octal. Keep the digits as written and let the schema's octal string take them.
 */
function readModeAsOctal(doc: Document, value: unknown): void {
  const node = doc.getIn(['socket', 'mode'], true);
  if (isScalar(node) && typeof node.value === 'number' && /^0[0-7]+$/.test(node.source ?? '')) {
    ((value as { socket: Record<string, unknown> }).socket).mode = node.source;
  }
}

/** The validated value before paths and dynamic defaults. */
interface RawConfig {
  socket: Omit<SocketConfig, 'path' | 'mode' | 'tcp'> & { path?: string; mode: number | string; tcp: false | { port: number; host?: string } };
  serial?: SerialConfig | null;
  models: Omit<ModelsConfig, 'viewQuality' | 'segmentation' | 'trustStore' | 'sets'> & {
    viewQuality?: string; segmentation?: string | null; trustStore?: string | string[];
    sets?: { viewQuality: string; segmentation?: string }[];
  };
  pipeline: PipelineConfig;
  logging: Omit<LoggingConfig, 'file'> & { file?: string };
  dicom?: DicomServiceConfig | null;
  metrics?: MetricsConfig | null;
  igtl?: IgtlConfig | null;
  viewer?: (Omit<ViewerConfig, 'token'> & { token?: string }) | null;
}

function resolveDicom(d: DicomServiceConfig, abs: (p: string) => string): DicomServiceConfig {
  const tls = d.pacs?.tls;
  return {
    ...d,
    dir: abs(d.dir),
    ...(d.pacs ? {
      pacs: {
        ...d.pacs,
        ...(tls ? { tls: { ...tls, ...(tls.key ? { key: abs(tls.key) } : {}), ...(tls.cert ? { cert: abs(tls.cert) } : {}), ...(tls.ca ? { ca: abs(tls.ca) } : {}) } } : {}),
      },
    } : {}),
  };
}

function resolve(raw: RawConfig, dir: string): ServeConfig {
  const abs = (p: string): string => path.resolve(dir, p);
  const s = raw.socket;
  const mode = typeof s.mode === 'number' ? s.mode : parseInt(s.mode.replace(/^0o/, ''), 8);
  const tcp: SocketConfig['tcp'] = s.tcp === false ? false
    : { port: s.tcp.port, host: s.tcp.host ?? '127.0.0.1' };
  const m = raw.models;
  const trust = m.trustStore === undefined ? [bundledPaths().trust] : typeof m.trustStore === 'string' ? [m.trustStore] : m.trustStore;
  const engine = { ...raw.pipeline.engine };
  if (engine.libraryPath !== undefined) engine.libraryPath = abs(engine.libraryPath);
  if (engine.optimizedModelPath !== undefined) engine.optimizedModelPath = abs(engine.optimizedModelPath);
  if (engine.tensorrt?.cacheDir !== undefined) engine.tensorrt = { ...engine.tensorrt, cacheDir: abs(engine.tensorrt.cacheDir) };
  return {
    socket: { ...s, path: s.path === undefined ? path.join(os.tmpdir(), 'sonoedge.sock') : abs(s.path), mode, tcp },
    serial: raw.serial ?? null,
    models: {
      viewQuality: abs(m.viewQuality ?? bundledPaths().viewQuality),
      segmentation: m.segmentation === null ? null : abs(m.segmentation ?? bundledPaths().segmentation),
      sets: (m.sets ?? []).map((x) => ({ viewQuality: abs(x.viewQuality), ...(x.segmentation !== undefined ? { segmentation: abs(x.segmentation) } : {}) })),
      variant: m.variant,
      trustStore: trust.map(abs),
      allowUnsigned: m.allowUnsigned,
    },
    pipeline: { ...raw.pipeline, engine },
    logging: { ...raw.logging, file: raw.logging.file === undefined ? null : abs(raw.logging.file) },
    dicom: raw.dicom ? resolveDicom(raw.dicom, abs) : null,
    metrics: raw.metrics ?? null,
    igtl: raw.igtl ?? null,
    viewer: raw.viewer ? { ...raw.viewer, token: raw.viewer.token ?? null } : null,
  };
}

/** dicom.study: DICOM keywords with values valid for their VR (src/dicom/study.ts), as CONFIGURE_STREAM.study. */
function checkStudy(config: ServeConfig, fileName: string, doc: Document, lines: LineCounter): void {
  const study = config.dicom?.study;
  const problem = study ? studyProblem(study, 'dicom.study') : undefined;
  if (!problem) return;
  throw new ConfigError(fileName, lineOf(doc, lines, problem.field.split('.')), problem.field, problem.text);
}

/**
 * The engine's cross-field rules (tensorrt options without tensorrt in
 * providers, a calibration table without int8...) are its own; run them now,
 * so that a bad engine section fails at start-up with its line, not at the
 * first stream. Nothing is loaded: only the options are resolved.
 */
function checkEngine(config: ServeConfig, fileName: string, doc: Document, lines: LineCounter): void {
  try {
    resolveEngineOptions('model.onnx', config.pipeline.engine, () => '0'.repeat(64));
  } catch (err) {
    const msg = (err as Error).message;
    const named = /^Options for (\w+) given/.exec(msg)?.[1] ?? / for ([\w.]+) but /.exec(msg)?.[1];
    const segments = ['pipeline', 'engine', ...(named ? named.split('.') : [])];
    const line = lineOf(doc, lines, segments);
    throw new ConfigError(fileName, line, segments.join('.'), msg.charAt(0).toLowerCase() + msg.slice(1), { cause: err });
  }
}

/** PipelineOptions for Pipeline.create from a config and its loaded trust store (loadTrustStore(config.models.trustStore)). */
export function pipelineOptions(config: ServeConfig, trustStore: TrustStore): PipelineOptions {
  const { engine, ...graph } = config.pipeline;
  return {
    viewQuality: config.models.viewQuality,
    ...(config.models.segmentation === null ? {} : { segmentation: config.models.segmentation }),
    variant: config.models.variant,
    trustStore,
    allowUnsigned: config.models.allowUnsigned,
    engine,
    ...graph,
    segmentationViews: [...graph.segmentationViews],
  };
}
