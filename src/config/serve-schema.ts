// The JSON Schema (draft 2020-12) of `sonoedge serve --config FILE`. It is the
// one source of the config's keys, types, ranges and defaults: src/config
// validates with it (ajv fills the static `default`s in), and the reference
// table in docs/DEPLOYMENT.md is generated from its descriptions
// (scripts/gen-config-docs.ts). Every description ends with "Default: ..."
// where the key has one; a test keeps that in step with `default`.
//
// Names mirror the options the runtime parts take (SocketServerOptions,
// SerialLinkOptions, PipelineOptions, EngineOptions), so a section can be
// handed to its part as it is.
//
// `x-expected` is an annotation: how an error message names what the key
// takes where the schema's own words would read badly.
import { GraphOptimization, LogSeverity, PROVIDERS } from '../engine/options.js';
import { IGTL_DEFAULTS, IGTL_RANGES, OUTPUT_TYPES, type IgtlOptions } from '../transport/igtl/options.js';
import { FLIPS } from '../preprocess/flip.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const BAUD_RATES = [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600] as const;
export const VARIANTS = ['fp32', 'int8', 'fp16'] as const;
export type Variant = (typeof VARIANTS)[number];

const path = (what: string) => ({ type: 'string', minLength: 1, 'x-expected': what });
const int = (minimum: number, maximum: number, def: number | undefined, description: string) => ({
  type: 'integer', minimum, maximum, ...(def === undefined ? {} : { default: def }), description,
});
const deviceId = int(0, 63, undefined, 'GPU index. Default: 0.');

const socket = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'The local socket firmware and viewers connect to (docs/PROTOCOL.md).',
  properties: {
    path: { ...path('socket file path'), description: 'Unix domain socket path. Default: sonoedge.sock in the system\'s temporary folder (os.tmpdir()).' },
    mode: {
      anyOf: [
        { type: 'integer', minimum: 0, maximum: 0o777 },
        { type: 'string', pattern: '^(0o?)?[0-7]{1,3}$' },
      ],
      'x-expected': 'permission bits as an octal string like "0660" or an integer 0..511',
      default: '0660',
      description: 'Permission bits of the socket file; an octal string ("0660"), or an unquoted 0660 in YAML, read as octal like chmod. Default: "0660".',
    },
    tcp: {
      anyOf: [
        { const: false },
        {
          type: 'object',
          additionalProperties: false,
          required: ['port'],
          properties: {
            port: int(0, 65535, undefined, 'TCP port; 0 picks a free one.'),
            host: { type: 'string', minLength: 1, description: 'Loopback address to listen on: 127.x.x.x, ::1 or localhost. Default: "127.0.0.1".' },
          },
        },
      ],
      'x-expected': 'false or an object {port, host}',
      default: false,
      description: 'Also listen on TCP, on loopback only: {port, host}. Default: false.',
    },
    maxClients: int(1, 1024, 16, 'Connections served at once. Default: 16.'),
    maxStreams: int(1, 1024, 16, 'Streams configured at once, over all clients. Default: 16.'),
    maxMessageSize: int(1024, 2 ** 32 - 1, 32 * 1024 * 1024, 'Largest body plus payload of one message, in bytes. Default: 33554432 (32 MiB).'),
    resultQueueLength: int(1, 4096, 8, 'Results waiting per client while its socket is full; the oldest is dropped. Default: 8.'),
    maxPendingWriteBytes: int(4096, 2 ** 31 - 1, 1024 * 1024, 'Bytes buffered per client before results are queued instead. Default: 1048576.'),
    maxErrorsPerClient: int(1, 1_000_000, 64, 'Protocol errors a client may cause before it is disconnected. Default: 64.'),
  },
};

const serial = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['path'],
  description: 'The serial line to the firmware: compact results and a heartbeat (docs/PROTOCOL.md, "Serial link"). Default: off.',
  properties: {
    path: { type: 'string', pattern: '^/', 'x-expected': 'an absolute device path like /dev/ttyUSB0', description: 'Serial device, e.g. /dev/ttyUSB0.' },
    baudRate: { enum: [...BAUD_RATES], default: 115200, description: 'Line speed. Default: 115200.' },
    resultRate: {
      // At least 1000/(2^31-1): the link's timer waits 1000/resultRate ms, and a longer wait fires after 1 ms (SerialLink refuses it too).
      type: 'number', minimum: 1000 / (2 ** 31 - 1), maximum: 1000, default: 30,
      description: 'Result records per second at most; the newest result wins between sends. Default: 30.',
    },
    heartbeatMs: int(10, 60_000, 500, 'Heartbeat period in milliseconds; the heartbeat stops while the runtime is faulted. Default: 500.'),
    reopenMaxMs: int(250, 600_000, 5000,
      'When the device goes away (an adapter unplugged) or is not there at start, serve keeps serving and opens the path again: first after 250 ms, then doubling up to this many milliseconds between tries. Default: 5000.'),
  },
};

const models = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'The model packages; relative paths resolve against the config file\'s folder.',
  properties: {
    viewQuality: { ...path('folder path'), description: 'View and quality package folder. Default: the bundled models/view_quality.' },
    segmentation: {
      type: ['string', 'null'], minLength: 1, 'x-expected': 'folder path or null',
      description: 'LV segmentation package folder; null for none (no LV area, no EF). Default: the bundled models/lv_segmentation.',
    },
    variant: { enum: [...VARIANTS], default: 'fp32', description: 'Model variant to load from each package. Default: "fp32".' },
    trustStore: {
      anyOf: [
        { type: 'string', minLength: 1 },
        { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
      ],
      'x-expected': 'folder path or non-empty list of folder paths',
      description: 'Trust store folder(s) of ed25519 public keys that packages must be signed with. Default: the bundled models/trust.',
    },
    allowUnsigned: { type: 'boolean', default: false, description: 'Load packages without a signature (development only). Default: false.' },
    sets: {
      type: 'array', maxItems: 255, default: [],
      items: {
        type: 'object', additionalProperties: false, required: ['viewQuality'],
        properties: {
          viewQuality: { ...path('folder path'), description: 'View and quality package folder of this set.' },
          segmentation: { ...path('folder path'), description: 'LV segmentation package folder of this set (optional).' },
        },
      },
      'x-expected': 'list of {viewQuality, segmentation} package folders',
      description: 'Model sets 1, 2, ... that the serial CMD_SELECT_MODEL_SET picks (set 0 is viewQuality and segmentation above); each is verified, loaded and swapped in like LOAD_MODEL + SWAP. Default: [].',
    },
  },
};

const engine = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'ONNX Runtime options, as EngineOptions (src/engine/options.ts and "Execution providers" above).',
  properties: {
    providers: {
      type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...PROVIDERS] }, default: ['cpu'],
      description: 'Execution providers in priority order. Default: ["cpu"].',
    },
    tensorrt: {
      type: 'object',
      additionalProperties: false,
      description: 'TensorRT options; needs tensorrt in providers.',
      properties: {
        deviceId,
        fp16: { type: 'boolean', description: 'Build fp16 engines.' },
        int8: { type: 'boolean', description: 'Build int8 engines. Default: false.' },
        int8CalibrationTable: { type: 'string', minLength: 1, description: 'Calibration table file name, inside the cache folder; needs int8 and cacheDir.' },
        int8UseNativeCalibrationTable: { type: 'boolean', description: 'The table is TensorRT\'s native format rather than ORT\'s.' },
        cacheDir: { ...path('folder path'), description: 'Engine and timing cache root; engines are kept per model, GPU and TensorRT version.' },
        gpu: { type: 'string', minLength: 1, description: 'GPU part of the cache key. Default: read from the driver.' },
        tensorrtVersion: { type: 'string', minLength: 1, description: 'TensorRT part of the cache key. Default: from libnvinfer.so.X.Y.Z.' },
        timingCache: { type: 'boolean', description: 'Keep a timing cache beside the engine cache. Default: true when cacheDir is set.' },
        workspaceSize: { type: 'integer', minimum: 1 << 20, maximum: Number.MAX_SAFE_INTEGER, description: 'Builder workspace in bytes.' },
        builderOptimizationLevel: int(0, 5, undefined, 'TensorRT builder optimisation level.'),
      },
    },
    cuda: {
      type: 'object',
      additionalProperties: false,
      description: 'CUDA options; needs cuda in providers.',
      properties: {
        deviceId,
        arenaExtendStrategy: { enum: ['nextPowerOfTwo', 'sameAsRequested'], description: 'How the CUDA memory arena grows.' },
        cudnnConvAlgoSearch: { enum: ['exhaustive', 'heuristic', 'default'], description: 'cuDNN convolution algorithm search.' },
        gpuMemLimit: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Bytes; 0 for no limit. Default: 0.' },
      },
    },
    cpu: {
      type: 'object',
      additionalProperties: false,
      description: 'CPU provider options.',
      properties: { arena: { type: 'boolean', description: 'ONNX Runtime\'s CPU memory arena. Default: true.' } },
    },
    intraOpThreads: int(0, 1024, 0, 'Threads inside one operator; 0 is ONNX Runtime\'s choice (one per core). Default: 0.'),
    interOpThreads: int(0, 1024, 0, 'Threads across operators; 0 is sequential execution. Default: 0.'),
    graphOptimization: { enum: Object.keys(GraphOptimization), default: 'all', description: 'Graph optimisation level. Default: "all".' },
    optimizedModelPath: { ...path('file path'), description: 'Where ONNX Runtime writes the optimised model at load.' },
    freeDimensions: {
      type: 'object', additionalProperties: { type: 'integer', minimum: 1, maximum: 2 ** 31 - 1 }, 'x-expected': 'object of dimension name: integer >= 1',
      description: 'Values for named free (symbolic) dimensions, e.g. {N: 1}.',
    },
    deterministic: { type: 'boolean', default: false, description: 'Deterministic kernels and sequential execution. Default: false.' },
    warmupRuns: int(0, 1000, 1, 'Runs on zero inputs at load, before the first frame. Default: 1.'),
    libraryPath: { ...path('file path'), description: 'libonnxruntime to load. Default: ORT_ROOT/lib\'s, else onnxruntime-node\'s.' },
    logSeverity: { enum: Object.keys(LogSeverity), default: 'error', description: 'ONNX Runtime\'s own log level. Default: "error".' },
    // No schema defaults for these two: the engine fills them, and a filled-in spinning would clash with
    // the same keys given in sessionConfig.
    spinning: {
      type: 'boolean',
      description: 'ONNX Runtime\'s pool threads spin waiting for work before they sleep (both allow_spinning keys; not together with them in sessionConfig); for cores reserved for inference. Default: false.',
    },
    inlineRunMaxMs: {
      type: 'number', minimum: 0, maximum: 1000,
      description: 'Runs expected to take at most this many milliseconds run inline on the JavaScript thread, without the hop to the session thread and back; 0: never (see "Threads and the event loop"). Default: 0.5.',
    },
    sessionConfig: {
      type: 'object', additionalProperties: { type: 'string' }, 'x-expected': 'object of key: string',
      description: 'ONNX Runtime session config entries, passed as they are.',
    },
  },
};

const pipeline = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'The model graph (PipelineOptions, src/pipeline/index.ts).',
  properties: {
    segmentationStride: int(1, 1000, 1, 'Run segmentation every Nth eligible frame. Default: 1.'),
    segmentationViews: {
      type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1 }, default: ['A4C', 'A2C'],
      description: 'Views on which segmentation runs. Default: ["A4C", "A2C"].',
    },
    qualityThreshold: { type: 'number', minimum: 0, maximum: 1, description: "Smoothed quality needed for segmentation and for a good quality state. Default: the view package's postprocessing.quality.thresholds.diagnostic (0.5 without one), segmentation starting at its thresholds.segmentation when it has one." },
    qualityHysteresis: {
      type: 'number', minimum: 0, maximum: 1, default: 0.1,
      description: 'Once segmenting, go on while the smoothed quality stays at or above qualityThreshold minus this; 0: each frame on qualityThreshold alone. Default: 0.1.',
    },
    qualityHold: int(0, 1000, 16, 'Frames of a quality dip the segmentation gate holds open once it has been open this many frames in a row, while the view stays apical; frames measured in a dip make the EF quality low; 0: none. Default: 16.'),
    maxBeamAngleDeg: {
      type: 'number', exclusiveMinimum: 0, maximum: 90, default: 30,
      description: 'On a frame shown as an apical view, the most degrees the LV long axis may lie across the beam through it and still be shown and measured; 90: no limit. Default: 30.',
    },
    contourEpsilon: {
      type: 'number', minimum: 0, maximum: 100, default: 0.75,
      description: 'Contour simplification tolerance in model pixels; 0 keeps every point. Default: 0.75.',
    },
    engine,
  },
};

const logging = {
  type: 'object',
  additionalProperties: false,
  default: {},
  description: 'Structured logs (pino), one JSON object a line.',
  properties: {
    level: { enum: [...LOG_LEVELS], default: 'info', description: 'Lowest level written. Default: "info".' },
    file: { ...path('file path'), description: 'Log file, appended to (its folder is created); relative to the config file. Default: standard output.' },
    pretty: { type: 'boolean', default: false, description: 'One human-readable line per entry instead of JSON. Default: false.' },
  },
};

const dicom = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['dir'],
  description: 'DICOM out (docs/DICOM.md, "What is written"): the best clip per view of each stream as a US multi-frame image with an SR of its measurements, into dir/captures, or with pacs into the outbox dir/outbox that is sent by C-STORE. Default: off.',
  properties: {
    dir: { ...path('folder path'), description: 'Folder of the captures or the outbox; relative to the config file.' },
    capture: {
      type: 'object', additionalProperties: false, default: {},
      description: 'What makes a clip (src/dicom/capture.ts): frames in state ok, above the quality gate, of one view.',
      properties: {
        mode: { enum: ['seconds', 'beats'], default: 'seconds', description: 'A clip is a number of seconds or of whole beats (ED to ED). Default: "seconds".' },
        seconds: { type: 'number', exclusiveMinimum: 0, maximum: 60, default: 2, description: 'Clip length in seconds. Default: 2.' },
        beats: int(1, 10, 1, 'Clip length in beats (mode beats). Default: 1.'),
        views: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1 }, default: ['A4C', 'A2C', 'PLAX', 'PSAX'], description: 'Views captured. Default: ["A4C", "A2C", "PLAX", "PSAX"].' },
        minQuality: { type: 'number', minimum: 0, maximum: 1, description: 'Smoothed quality a frame needs. Default: the pipeline\'s quality bar (quality.good).' },
        maxFrames: int(2, 10000, 300, 'Longest clip in frames (bounds the memory a stream holds). Default: 300.'),
      },
    },
    secondaryCapture: { type: 'boolean', default: false, description: 'Also a Secondary Capture with the LV outline drawn in. Default: false.' },
    stationName: { type: 'string', minLength: 1, maxLength: 16, description: 'Station Name of the objects, and the SR\'s device observer name. Default: the host name.' },
    institutionName: { type: 'string', minLength: 1, maxLength: 64, description: 'Institution Name of the objects.' },
    study: {
      type: 'object', additionalProperties: { type: 'string' }, 'x-expected': 'object of DICOM keyword: string',
      description: 'Patient and study attributes by DICOM keyword (PatientID, PatientName, PatientBirthDate, PatientSex, AccessionNumber, StudyInstanceUID, StudyID, StudyDate, StudyTime, StudyDescription, ReferringPhysicianName, OperatorsName), each checked against its VR, for streams whose CONFIGURE_STREAM sends no study block. Default: a new study per stream.',
    },
    pacs: {
      type: 'object', additionalProperties: false, required: ['host', 'port', 'calledAet'],
      description: 'The PACS objects are sent to by C-STORE, from a durable outbox (retried with backoff; kept across restarts).',
      properties: {
        host: { type: 'string', minLength: 1, description: 'The PACS\'s IPv4 or IPv6 address or host name (not 0.0.0.0 or ::).' },
        port: int(1, 65535, undefined, 'PACS DICOM port.'),
        calledAet: { type: 'string', minLength: 1, maxLength: 16, description: 'The PACS\'s AE title.' },
        callingAet: { type: 'string', minLength: 1, maxLength: 16, description: 'sonoedge\'s AE title, as the PACS knows it. Default: "SONOEDGE".' },
        connectTimeoutMs: int(100, 600000, undefined, 'Connect timeout. Default: 5000.'),
        associationTimeoutMs: int(100, 600000, undefined, 'Association timeout. Default: 10000.'),
        pduTimeoutMs: int(100, 600000, undefined, 'Timeout waiting for a PDU. Default: 30000.'),
        tls: {
          type: 'object', additionalProperties: false,
          description: 'DICOM over TLS: PEM files, relative to the config file.',
          properties: {
            key: { ...path('file path'), description: 'Client private key (when the PACS checks clients).' },
            cert: { ...path('file path'), description: 'Client certificate.' },
            ca: { ...path('file path'), description: 'CA certificate(s) the PACS\'s certificate must verify against.' },
            rejectUnauthorized: { type: 'boolean', description: 'Refuse a PACS whose certificate does not verify. Default: true.' },
          },
        },
        batch: int(1, 1000, undefined, 'Objects sent per association. Default: 16.'),
        retryMinMs: int(10, 3600000, undefined, 'First retry delay after a failed send; doubles per failure. Default: 1000.'),
        retryMaxMs: int(10, 3600000, undefined, 'Longest retry delay. Default: 60000.'),
        keepSent: { type: 'boolean', description: 'Keep stored objects in outbox/sent/ instead of deleting them. Default: false.' },
        maxReadFailures: int(1, 1000, undefined, 'Tries in a row that could not read a pending object before it is moved to outbox/failed/ with the reason (never deleted, not tried again). Default: 3.'),
        maxMoveFailures: int(1, 1000, undefined, 'Tries in a row whose move after the PACS answered an object (into outbox/sent/ or failed/, or its removal) failed before it is held back: left in outbox/pending/, not sent again while serve runs (a restart sends it again), its move tried again every heldRetryMs. Default: 3.'),
        heldRetryMs: int(10, 86400000, undefined, 'How often the move of an object held back (see maxMoveFailures) is tried again, without sending it again (the PACS has answered it); once it succeeds the object is counted as sent or failed. Default: 600000 (10 minutes).'),
      },
    },
  },
};

const metrics = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['port'],
  description: 'A Prometheus endpoint (GET /metrics; GET /health) on loopback only, read by `sonoedge status` (docs/DEPLOYMENT.md, "Metrics and health"). Default: off.',
  properties: {
    port: int(0, 65535, undefined, 'TCP port; 0 picks a free one (logged).'),
    host: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Loopback address to listen on: 127.x.x.x, ::1 or localhost. Default: "127.0.0.1".' },
  },
};

const viewer = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['port'],
  description: 'The live viewer page (docs/VIEWER.md): each stream\'s frame with the LV outline, view and quality against the gate, state, LV area curve and EF with ED/ES, latency and drops; pause and step through the last seconds. Pictures are made only while a page is open. Default: off.',
  properties: {
    port: int(0, 65535, undefined, 'TCP port of the page and its WebSocket; 0 picks a free one (logged with the page\'s URL).'),
    host: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'IPv4 or IPv6 address or host name to listen on; any but loopback (127.x.x.x, ::1, localhost) needs token. Default: "127.0.0.1".' },
    token: {
      type: 'string', minLength: 16, 'x-expected': 'a string of at least 16 characters',
      description: 'When set, every request and the WebSocket must carry it (the URL\'s ?token=, or Authorization: Bearer): none is 401, a wrong one 403. Needed when host is not loopback.',
    },
    rate: { type: 'number', minimum: 0.1, maximum: 240, default: 30, description: 'Pictures per second per stream at most (the display\'s rate). Default: 30.' },
    seconds: { type: 'number', minimum: 1, maximum: 120, default: 10, description: 'Seconds the page keeps for the area curve and for pause and step. Default: 10.' },
    quality: int(1, 100, 70, 'JPEG quality of the pictures. Default: 70.'),
  },
};

const D = IGTL_DEFAULTS;
/** The ranges IgtlBridge checks too (IGTL_RANGES): the one place they are written. */
const R = IGTL_RANGES.integers;
const igtlDevice = (key: keyof IgtlOptions['devices'], what: string) => ({
  type: 'string', minLength: IGTL_RANGES.deviceNameChars[0], maxLength: IGTL_RANGES.deviceNameChars[1], default: D.devices[key],
  description: `Device name of the ${what}; {device} is replaced by the input image's device name, and the result cut to 20 bytes (at a character boundary). Default: "${D.devices[key]}".`,
});

// Every default here is IGTL_DEFAULTS's (src/transport/igtl/options.ts), the bridge's own.
const igtl = {
  type: ['object', 'null'],
  additionalProperties: false,
  description: 'OpenIGTLink (docs/OPENIGTLINK.md): IMAGE messages from PLUS, 3D Slicer or any peer become streams; each result goes back as a label map IMAGE in the input\'s geometry, a STRING summary and the LV contour (POINT, POLYDATA). Default: off.',
  properties: {
    mode: { enum: ['server', 'client'], default: D.mode, description: `Listen for peers (server) or connect to one, reconnecting when the connection is lost (client; PLUS's OpenIGTLink server, say). Default: "${D.mode}".` },
    host: { type: 'string', minLength: 1, default: D.host, description: `IPv4 or IPv6 address or host name. Server: the one to listen on (0.0.0.0 or :: for every interface); client: the peer's (not 0.0.0.0 or ::). Default: "${D.host}".` },
    port: int(0, 65535, D.port, `Server: the port to listen on (0 picks a free one, logged); client: the peer's port (not 0). Default: ${D.port}.`),
    headerVersion: { enum: [1, 2], default: D.headerVersion, description: `Header version of messages sent before the peer has sent one (after that, the peer's): 1 (OpenIGTLink 1, 2) or 2 (OpenIGTLink 3, with metadata). Default: ${D.headerVersion}.` },
    results: {
      type: 'array', uniqueItems: true, items: { enum: [...OUTPUT_TYPES] }, default: [...D.results],
      description: `What each result is sent as, to every connection until it sends STP_<type>: IMAGE (the LV label map), STRING (a JSON summary), POINT and POLYDATA (the LV contour in millimetres). Default: ${JSON.stringify(D.results).replaceAll(',', ', ')}.`,
    },
    devices: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Output device names.',
      properties: { label: igtlDevice('label', 'label map IMAGE'), summary: igtlDevice('summary', 'STRING summary'), contour: igtlDevice('contour', 'contour POINT and POLYDATA') },
    },
    flip: { enum: [...FLIPS], default: D.flip, description: `How the peer's images show the heart against the models' orientation (apex at the top, in apical views the LV on the right): "horizontal" when mirrored, "vertical" when apex down, "both" when turned 180 degrees; every image device gets it, and the label map and contour come back as the image shows them (docs/PREPROCESSING.md, section 10). Default: "${D.flip}".` },
    labelValue: int(...R.labelValue, D.labelValue, `The label map's (8-bit) value inside the LV; 0 outside. Default: ${D.labelValue}.`),
    fps: { type: 'number', minimum: IGTL_RANGES.fps[0], maximum: IGTL_RANGES.fps[1], default: D.fps, description: `Frame rate the streams are configured with. Default: ${D.fps}.` },
    maxClients: int(...R.maxClients, D.maxClients, `Connections served at once (server). Default: ${D.maxClients}.`),
    maxStreams: int(...R.maxStreams, D.maxStreams, `Image devices (one stream each) at once, over all connections. Default: ${D.maxStreams}.`),
    streamBase: int(...R.streamBase, D.streamBase, `Streams take the lowest free id from this one up. Default: ${D.streamBase}.`),
    maxBodyBytes: int(...R.maxBodyBytes, D.maxBodyBytes, `Largest message body taken; a larger declared size is refused before anything is allocated, and the connection closed. Default: ${D.maxBodyBytes} (${D.maxBodyBytes / 2 ** 20} MiB).`),
    checkCrc: { type: 'boolean', default: D.checkCrc, description: `Check every body's CRC-64 and discard a message whose CRC is wrong. Default: ${D.checkCrc}.` },
    maxErrorsPerClient: int(...R.maxErrorsPerClient, D.maxErrorsPerClient, `Bad messages a connection may send before it is closed. Default: ${D.maxErrorsPerClient}.`),
    resultQueueLength: int(...R.resultQueueLength, D.resultQueueLength, `Results waiting per connection while its socket is full; the oldest is dropped. Default: ${D.resultQueueLength}.`),
    maxPendingWriteBytes: int(...R.maxPendingWriteBytes, D.maxPendingWriteBytes, `Bytes buffered per connection before results wait in its queue. Default: ${D.maxPendingWriteBytes}.`),
    reconnectMs: int(...R.reconnectMs, D.reconnectMs, `Client: delay before connecting again after the connection was refused or lost. Default: ${D.reconnectMs}.`),
  },
};

export const serveSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://sonoedge.dev/schema/serve.schema.json',
  title: 'sonoedge serve configuration',
  type: 'object',
  additionalProperties: false,
  properties: { socket, serial, models, pipeline, logging, dicom, metrics, viewer, igtl },
} as const;
