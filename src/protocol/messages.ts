// The bodies of the socket messages: what each carries, the encoders that
// build them in the documented key order, and the parsers that check a
// received body (unknown keys are ignored; wrong or missing fields are a
// BAD_FIELD error naming the field).
import { PixelFormat, type PixelFormatName } from '../preprocess/types.js';
import { FLIPS, type Flip } from '../preprocess/flip.js';
import { Flag, MessageType, ResultState, Ring, RuntimeState, type ResultStateName, type RuntimeStateName } from './constants.js';
import { type EncodeInput } from './codec.js';
import { Fields } from './fields.js';
import { ProtocolError, WireError, fieldError, wireErrorName } from './errors.js';
import { RING_NAME, checkSlotFits, ringBytes, type RingInfo } from './ring.js';
import { studyProblem } from '../dicom/study.js';
import { SPACING_RANGE_MM, spacingInRange } from '../io/types.js';
import { isObject } from '../util/is.js';

export type { RingInfo } from './ring.js';

const U16 = 0xffff;
const MAX_DIM = 16384;

export interface HelloRequest { versions: number[]; client: string; features?: string[] }
export interface HelloReply { version: number; server: string; maxMessageSize: number; features: string[] }

export interface Roi { x: number; y: number; width: number; height: number }
export interface Sector { angleStart: number; angleEnd: number; depthStart: number; depthEnd: number }
export interface ConfigureStream {
  stream: number;
  width: number;
  height: number;
  format: PixelFormatName;
  /** Bytes per row; default packed. */
  stride?: number;
  /** NV12 only: offset of the UV plane; default stride * height. */
  uvOffset?: number;
  /** Millimetres per pixel, [x, y], each in SPACING_RANGE_MM (1e-6..1000). */
  spacing: [number, number];
  roi?: Roi;
  sector?: Sector;
  fps: number;
  /** Frames through shared memory (FRAME_READY): a ring the firmware made, or one the runtime is to make. */
  ring?: RingRequest;
  /** No `roi`: the runtime finds the image region itself, from the stream's first `frames` frames. */
  autoSector?: { frames: number };
  /** How the scanner shows the image against the models' orientation (apex at the top, LV on the right); default none. */
  flip?: Flip;
  /**
   * Patient and study attributes (DICOM keywords: PatientID, PatientName, StudyInstanceUID...; src/dicom/study.ts)
   * that the stream's DICOM captures are filed under, in place of the serve config's `dicom.study`.
   */
  study?: Record<string, string>;
}
/** CONFIGURE_STREAM.ring: `{name, slots, slotBytes}` names an existing ring; `{create: true, slots, slotBytes?}` asks the runtime for one. */
export type RingRequest = (RingInfo & { create?: false }) | { create: true; slots: number; slotBytes?: number };
export interface ConfigureReply {
  stream: number;
  frameBytes: number;
  /** The stream's ring, when it has one (for a created ring, the name to shm_open). */
  ring?: RingInfo;
}

export interface FrameBody { stream: number; seq: number; t: number }
export interface FrameReady { stream: number; seq: number; t: number; slot: number }
export interface SlotRelease { stream: number; slot: number; seq: number }

export const RESULT_KINDS = ['view', 'quality', 'lv', 'ef'] as const;
export type ResultKind = (typeof RESULT_KINDS)[number];
export interface Subscribe { streams: number[]; results: ResultKind[]; masks: boolean; contours: boolean }

export interface Latency { queueMs: number; totalMs: number; stages: Record<string, number> }
export interface ResultBody {
  stream: number;
  seq: number;
  t: number;
  view: string | null;
  confidence: number | null;
  quality: number | null;
  /** The in-distribution state (always sent, whatever the subscription): ok, uncertain or unknown. */
  state: ResultStateName;
  /** The smoothed in-distribution score 0..1; null when the view model has none. */
  idScore: number | null;
  lvAreaMm2: number | null;
  ef: number | null;
  /** 95% interval of ef, [lo, hi] percent; null without ef. */
  efCi: [number, number] | null;
  /** The frame this result confirms as end-diastole (flag ED) / end-systole (flag ES); null otherwise. */
  edSeq: number | null;
  esSeq: number | null;
  flags: number;
  latency: Latency;
  mask?: { width: number; height: number; data: Uint8Array };
  contour?: number[];
  /** autoSector streams, once found: the image region the runtime found and crops. */
  roi?: Roi;
}

/**
 * STATUS.outbox: the PACS outbox (serve's dicom.pacs) as the firmware shows it. `pending` counts the held ones too;
 * `failed` counts the objects moved into failed/ since the runtime started (a counter, 0 after a restart); `inFailed`
 * the objects in failed/ now, whenever they went there (0 once an operator has removed them; read as 0 from a runtime
 * that predates it); `lastErrorCode` is the last try's error code while it failed (ERR_SONOEDGE_PACS for the PACS, the
 * file system's for a local file error), else null.
 */
export interface OutboxStatus { pending: number; held: number; failed: number; inFailed: number; lastTryFailed: boolean; lastErrorCode: string | null }
/** `outbox`: null when serve has no PACS. */
export interface StatusReply { state: RuntimeStateName; stateCode: number; uptimeS: number; model: string | null; streams: number[]; outbox: OutboxStatus | null }
export interface StatsReply {
  clients: number; framesIn: number; framesProcessed: number; framesDropped: number; framesFailed: number;
  resultsSent: number; resultsDropped: number; rejected: number; errorsSent: number;
}
/** `task`, when given: the package must be of that task (the slot it is meant for), checked before anything loads. */
export interface LoadModel { path: string; id?: string; task?: 'view_quality' | 'lv_segmentation' }
export interface ModelReply { id: string; previous: string | null }
export interface Swap { id: string }
export interface ErrorBody { code: number; name: string; message: string; fatal: boolean }
export interface CloseStream { stream: number }

/** Bytes of one frame of this geometry (what FRAME.payloadLength must be). */
export function frameBytes(c: Pick<ConfigureStream, 'width' | 'height' | 'format' | 'stride' | 'uvOffset'>): number {
  const bpp = { GRAY8: 1, GRAY16: 2, RGB8: 3, BGR8: 3, RGBA8: 4, BGRA8: 4, YUYV: 2, NV12: 1 }[c.format];
  const stride = c.stride ?? c.width * bpp;
  if (c.format === 'NV12') return (c.uvOffset ?? stride * c.height) + stride * Math.ceil(c.height / 2);
  return stride * c.height;
}

type X = { seq?: number; type?: number };
const PIXEL_FORMATS = Object.keys(PixelFormat) as PixelFormatName[];
const STATES = Object.keys(RuntimeState) as RuntimeStateName[];
const RESULT_STATES = Object.keys(ResultState) as ResultStateName[];

export function parseHello(body: unknown, x: X = {}): HelloRequest {
  const f = new Fields(body, 'HELLO', x);
  return { versions: f.uintArray('versions', 255, 16), client: f.str('client', 256), features: f.has('features') ? f.strArray('features') : [] };
}
export function parseHelloReply(body: unknown, x: X = {}): HelloReply {
  const f = new Fields(body, 'HELLO', x);
  return { version: f.uint('version', 255), server: f.str('server'), maxMessageSize: f.uint('maxMessageSize'), features: f.strArray('features') };
}

export function parseConfigure(body: unknown, x: X = {}): ConfigureStream {
  const f = new Fields(body, 'CONFIGURE_STREAM', x);
  const c: ConfigureStream = {
    stream: f.uint('stream', U16),
    width: f.uint('width', MAX_DIM, 1),
    height: f.uint('height', MAX_DIM, 1),
    format: f.oneOf('format', PIXEL_FORMATS),
    stride: f.optUint('stride', MAX_DIM * 8, 1),
    uvOffset: f.optUint('uvOffset'),
    spacing: f.numArray('spacing', 2) as [number, number],
    fps: f.num('fps', 0.1, 1000),
  };
  // As replay bounds a file's spacing and --pixel-spacing: past SPACING_RANGE_MM LV areas underflow to 0 or overflow to Infinity (an EF of NaN).
  c.spacing.forEach((v, i) => {
    if (!spacingInRange(v)) {
      throw fieldError('BAD_FIELD', `number in [${SPACING_RANGE_MM.min}, ${SPACING_RANGE_MM.max}] (mm per pixel)`, `CONFIGURE_STREAM.spacing[${i}]`, v, x);
    }
  });
  const bpp = { GRAY8: 1, GRAY16: 2, RGB8: 3, BGR8: 3, RGBA8: 4, BGRA8: 4, YUYV: 2, NV12: 1 }[c.format];
  if (c.stride !== undefined && c.stride < c.width * bpp) {
    throw fieldError('BAD_FIELD', `integer >= ${c.width * bpp} (width * bytes per pixel)`, 'CONFIGURE_STREAM.stride', c.stride, x);
  }
  if (f.has('roi')) {
    const r = f.map('roi');
    c.roi = { x: r.uint('x', MAX_DIM), y: r.uint('y', MAX_DIM), width: r.uint('width', MAX_DIM, 1), height: r.uint('height', MAX_DIM, 1) };
    if (c.roi.x + c.roi.width > c.width || c.roi.y + c.roi.height > c.height) {
      throw new ProtocolError('BAD_FIELD',
        `Expected CONFIGURE_STREAM.roi inside the ${c.width}x${c.height} frame but received x ${c.roi.x}, y ${c.roi.y}, width ${c.roi.width}, height ${c.roi.height}`, x);
    }
  }
  if (f.has('sector')) {
    const s = f.map('sector');
    const half = Math.PI / 2;
    c.sector = {
      angleStart: s.num('angleStart', -half, half), angleEnd: s.num('angleEnd', -half, half),
      depthStart: s.num('depthStart', 0), depthEnd: s.num('depthEnd', 0),
    };
    if (!(c.sector.angleStart < c.sector.angleEnd && c.sector.depthStart < c.sector.depthEnd)) {
      throw new ProtocolError('BAD_FIELD',
        `Expected CONFIGURE_STREAM.sector with angleStart < angleEnd and depthStart < depthEnd but received ${JSON.stringify(c.sector)}`, x);
    }
  }
  if (f.has('ring')) c.ring = parseRingRequest(f.map('ring'), frameBytes(c), x);
  if (f.has('autoSector')) {
    const a = f.map('autoSector');
    c.autoSector = { frames: a.optUint('frames', MAX_SECTOR_FRAMES, 1) ?? DEFAULT_SECTOR_FRAMES };
    if (c.roi) throw new ProtocolError('BAD_FIELD', 'Expected either CONFIGURE_STREAM.roi or CONFIGURE_STREAM.autoSector but received both', x);
    if (c.sector) throw new ProtocolError('BAD_FIELD', 'Expected CONFIGURE_STREAM.autoSector without sector (the finder reads screen frames, not a polar image) but received both', x);
    const bpp = { GRAY8: 1, RGB8: 3, BGR8: 3, RGBA8: 4, BGRA8: 4 }[c.format as 'GRAY8'];
    if (bpp === undefined) {
      throw fieldError('BAD_FIELD', 'GRAY8, RGB8, BGR8, RGBA8 or BGRA8 with autoSector (the formats the sector finder reads)', 'CONFIGURE_STREAM.format', c.format, x);
    }
    if (c.stride !== undefined && c.stride !== c.width * bpp) {
      throw fieldError('BAD_FIELD', `no stride or ${c.width * bpp} (packed rows) with autoSector`, 'CONFIGURE_STREAM.stride', c.stride, x);
    }
  }
  if (f.has('flip')) {
    c.flip = f.oneOf('flip', FLIPS);
    if (c.sector && c.flip !== 'none') {
      throw new ProtocolError('BAD_FIELD', `Expected CONFIGURE_STREAM.flip none with sector (polar frames are drawn apex up by their angles) but received ${JSON.stringify(c.flip)}`, x);
    }
  }
  if (f.has('study')) c.study = parseStudy((body as Record<string, unknown>).study, x);
  return c;
}

/** CONFIGURE_STREAM.study: a map of DICOM keyword to string, each value valid for its VR (src/dicom/study.ts). */
function parseStudy(v: unknown, x: X): Record<string, string> {
  if (!isObject(v)) throw fieldError('BAD_FIELD', 'a map of DICOM keyword to string', 'CONFIGURE_STREAM.study', v, x);
  const problem = studyProblem(v, 'CONFIGURE_STREAM.study');
  if (problem) throw new ProtocolError('BAD_FIELD', problem.message, x);
  return { ...(v as Record<string, string>) };
}

const MAX_SLOT_BYTES = Ring.MAX_BYTES - Ring.HEADER_BYTES;
/** CONFIGURE_STREAM.autoSector.frames: default and largest. */
export const DEFAULT_SECTOR_FRAMES = 4;
const MAX_SECTOR_FRAMES = 64;

/** CONFIGURE_STREAM.ring: the message's own consistency (BAD_FIELD); whether the object is usable is the server's check (RING). */
function parseRingRequest(r: Fields, bytes: number, x: X): RingRequest {
  const create = r.bool('create', false);
  if (create && r.has('name')) {
    throw new ProtocolError('BAD_FIELD', 'Expected either CONFIGURE_STREAM.ring.name or CONFIGURE_STREAM.ring.create but received both', x);
  }
  const slots = r.uint('slots', Ring.MAX_SLOTS, Ring.MIN_SLOTS);
  const slotBytes = create ? r.optUint('slotBytes', MAX_SLOT_BYTES, 1) : r.uint('slotBytes', MAX_SLOT_BYTES, 1);
  if (slotBytes !== undefined) {
    if (slotBytes % Ring.ALIGN !== 0) throw fieldError('BAD_FIELD', `a multiple of ${Ring.ALIGN}`, 'CONFIGURE_STREAM.ring.slotBytes', slotBytes, x);
    checkSlotFits(bytes, slotBytes, x);
  }
  const need = ringBytes(slots, slotBytes ?? Math.ceil(bytes / Ring.ALIGN) * Ring.ALIGN);
  if (need > Ring.MAX_BYTES) {
    throw new ProtocolError('BAD_FIELD',
      `Expected a ring of at most ${Ring.MAX_BYTES} bytes (4096 + slots x slotBytes) for CONFIGURE_STREAM.ring but received ${slots} slots of ${slotBytes ?? bytes} bytes (${need})`, x);
  }
  if (create) return { create: true, slots, slotBytes };
  const name = r.str('name', 201);
  if (!RING_NAME.test(name)) {
    throw fieldError('BAD_FIELD', 'a shared-memory name "/" + 1..200 of [A-Za-z0-9._-] with no other slash', 'CONFIGURE_STREAM.ring.name', name, x);
  }
  return { name, slots, slotBytes: slotBytes! };
}
export function parseConfigureReply(body: unknown, x: X = {}): ConfigureReply {
  const f = new Fields(body, 'CONFIGURE_STREAM', x);
  const reply: ConfigureReply = { stream: f.uint('stream', U16), frameBytes: f.uint('frameBytes') };
  if (f.has('ring')) {
    const r = f.map('ring');
    reply.ring = { name: r.str('name', 201), slots: r.uint('slots', Ring.MAX_SLOTS, Ring.MIN_SLOTS), slotBytes: r.uint('slotBytes') };
  }
  return reply;
}

export function parseFrame(body: unknown, x: X = {}): FrameBody {
  const f = new Fields(body, 'FRAME', x);
  return { stream: f.uint('stream', U16), seq: f.uint('seq'), t: f.num('t') };
}
export function parseFrameReady(body: unknown, x: X = {}): FrameReady {
  const f = new Fields(body, 'FRAME_READY', x);
  // Any u32 slot parses: one outside the ring is the server's SLOT error, not a malformed message.
  return { stream: f.uint('stream', U16), seq: f.uint('seq'), t: f.num('t'), slot: f.uint('slot') };
}
export function parseSlotRelease(body: unknown, x: X = {}): SlotRelease {
  const f = new Fields(body, 'SLOT_RELEASE', x);
  return { stream: f.uint('stream', U16), slot: f.uint('slot', Ring.MAX_SLOTS - 1), seq: f.uint('seq') };
}
export function parseSubscribe(body: unknown, x: X = {}): Subscribe {
  const f = new Fields(body, 'SUBSCRIBE', x);
  return {
    streams: f.has('streams') ? f.uintArray('streams', U16) : [],
    results: f.has('results') ? f.strArray('results', RESULT_KINDS) : [...RESULT_KINDS],
    masks: f.bool('masks', false),
    contours: f.bool('contours', false),
  };
}

export function parseResult(body: unknown, x: X = {}): ResultBody {
  const f = new Fields(body, 'RESULT', x);
  const lat = f.map('latency');
  const r: ResultBody = {
    stream: f.uint('stream', U16), seq: f.uint('seq'), t: f.num('t'),
    view: f.has('view') ? f.str('view', 64) : null,
    confidence: f.has('confidence') ? f.num('confidence', 0, 1) : null,
    quality: f.has('quality') ? f.num('quality', 0, 1) : null,
    state: f.oneOf('state', RESULT_STATES),
    idScore: f.has('idScore') ? f.num('idScore', 0, 1) : null,
    lvAreaMm2: f.has('lvAreaMm2') ? f.num('lvAreaMm2', 0) : null,
    ef: f.has('ef') ? f.num('ef') : null,
    efCi: f.has('efCi') ? f.numArray('efCi', 2) as [number, number] : null,
    edSeq: f.has('edSeq') ? f.uint('edSeq') : null,
    esSeq: f.has('esSeq') ? f.uint('esSeq') : null,
    flags: f.uint('flags', U16),
    latency: { queueMs: lat.num('queueMs', 0), totalMs: lat.num('totalMs', 0), stages: lat.numMap('stages') },
  };
  if (f.has('mask')) {
    const m = f.map('mask');
    r.mask = { width: m.uint('width', MAX_DIM, 1), height: m.uint('height', MAX_DIM, 1), data: m.bytes('data') };
    if (r.mask.data.length !== r.mask.width * r.mask.height) {
      throw new ProtocolError('BAD_FIELD', `Expected RESULT.mask.data of ${r.mask.width * r.mask.height} bytes but received ${r.mask.data.length}`, x);
    }
  }
  if (f.has('contour')) r.contour = f.numArray('contour');
  if (f.has('roi')) {
    const b = f.map('roi');
    r.roi = { x: b.uint('x', MAX_DIM), y: b.uint('y', MAX_DIM), width: b.uint('width', MAX_DIM, 1), height: b.uint('height', MAX_DIM, 1) };
  }
  if (r.efCi && !(r.efCi[0] <= r.efCi[1])) throw fieldError('BAD_FIELD', '[lo, hi] with lo <= hi', 'RESULT.efCi', r.efCi, x);
  return r;
}

export function parseStatusReply(body: unknown, x: X = {}): StatusReply {
  const f = new Fields(body, 'STATUS', x);
  return {
    state: f.oneOf('state', STATES), stateCode: f.uint('stateCode', 255), uptimeS: f.num('uptimeS', 0),
    model: f.has('model') ? f.str('model') : null, streams: f.uintArray('streams', U16),
    outbox: f.has('outbox') ? parseOutboxStatus(f.map('outbox')) : null,
  };
}
function parseOutboxStatus(o: Fields): OutboxStatus {
  return {
    pending: o.uint('pending'), held: o.uint('held'), failed: o.uint('failed'), inFailed: o.optUint('inFailed') ?? 0, lastTryFailed: o.bool('lastTryFailed', false),
    lastErrorCode: o.has('lastErrorCode') ? o.str('lastErrorCode', 64) : null,
  };
}
export function parseStatsReply(body: unknown, x: X = {}): StatsReply {
  const f = new Fields(body, 'STATS', x);
  const k = ['clients', 'framesIn', 'framesProcessed', 'framesDropped', 'framesFailed', 'resultsSent', 'resultsDropped', 'rejected', 'errorsSent'] as const;
  return Object.fromEntries(k.map((key) => [key, f.uint(key)])) as unknown as StatsReply;
}
export function parseLoadModel(body: unknown, x: X = {}): LoadModel {
  const f = new Fields(body, 'LOAD_MODEL', x);
  return { path: f.str('path', 4096), id: f.optStr('id', 128), ...(f.has('task') ? { task: f.oneOf('task', ['view_quality', 'lv_segmentation'] as const) } : {}) };
}
export function parseSwap(body: unknown, x: X = {}): Swap {
  return { id: new Fields(body, 'SWAP', x).str('id', 128) };
}
export function parseModelReply(body: unknown, x: X = {}): ModelReply {
  const f = new Fields(body, 'MODEL', x);
  return { id: f.str('id', 128), previous: f.has('previous') ? f.str('previous', 128) : null };
}
export function parseError(body: unknown, x: X = {}): ErrorBody {
  const f = new Fields(body, 'ERROR', x);
  return { code: f.uint('code', U16), name: f.str('name', 64), message: f.str('message', 4096), fatal: f.bool('fatal', false) };
}
export function parseCloseStream(body: unknown, x: X = {}): CloseStream {
  return { stream: new Fields(body, 'CLOSE_STREAM', x).uint('stream', U16) };
}

// Encoders: each returns the input of encodeMessage(), keys in documented order.
const req = (type: number, seq: number, body: unknown): EncodeInput => ({ type, seq, flags: 0, body });
const rep = (type: number, seq: number, body: unknown): EncodeInput => ({ type, seq, flags: Flag.REPLY, body });

export const msg = {
  hello: (seq: number, b: HelloRequest) => req(MessageType.HELLO, seq, { versions: b.versions, client: b.client, features: b.features }),
  helloReply: (seq: number, b: HelloReply) => rep(MessageType.HELLO, seq, { version: b.version, server: b.server, maxMessageSize: b.maxMessageSize, features: b.features }),
  configure: (seq: number, c: ConfigureStream) => req(MessageType.CONFIGURE_STREAM, seq, {
    stream: c.stream, width: c.width, height: c.height, format: c.format, stride: c.stride, uvOffset: c.uvOffset,
    spacing: c.spacing, roi: c.roi && { x: c.roi.x, y: c.roi.y, width: c.roi.width, height: c.roi.height },
    sector: c.sector && { angleStart: c.sector.angleStart, angleEnd: c.sector.angleEnd, depthStart: c.sector.depthStart, depthEnd: c.sector.depthEnd },
    fps: c.fps,
    ring: c.ring && (c.ring.create
      ? { create: true, slots: c.ring.slots, slotBytes: c.ring.slotBytes }
      : { name: c.ring.name, slots: c.ring.slots, slotBytes: c.ring.slotBytes }),
    autoSector: c.autoSector && { frames: c.autoSector.frames },
    flip: c.flip,
    study: c.study && { ...c.study },
  }),
  configureReply: (seq: number, b: ConfigureReply) => rep(MessageType.CONFIGURE_STREAM, seq, {
    stream: b.stream, frameBytes: b.frameBytes, ring: b.ring && { name: b.ring.name, slots: b.ring.slots, slotBytes: b.ring.slotBytes },
  }),
  frame: (seq: number, b: FrameBody, pixels: Uint8Array): EncodeInput => ({ ...req(MessageType.FRAME, seq, { stream: b.stream, seq: b.seq, t: b.t }), payload: pixels }),
  frameReady: (seq: number, b: FrameReady) => req(MessageType.FRAME_READY, seq, { stream: b.stream, seq: b.seq, t: b.t, slot: b.slot }),
  /** Not a reply: `seq` is the runtime's own counter; `b.seq` is the frame's. */
  slotRelease: (seq: number, b: SlotRelease) => req(MessageType.SLOT_RELEASE, seq, { stream: b.stream, slot: b.slot, seq: b.seq }),
  subscribe: (seq: number, b: Partial<Subscribe>) => req(MessageType.SUBSCRIBE, seq, { streams: b.streams, results: b.results, masks: b.masks, contours: b.contours }),
  subscribeReply: (seq: number, b: Subscribe) => rep(MessageType.SUBSCRIBE, seq, { streams: b.streams, results: b.results, masks: b.masks, contours: b.contours }),
  result: (seq: number, r: ResultBody) => req(MessageType.RESULT, seq, {
    stream: r.stream, seq: r.seq, t: r.t, view: r.view, confidence: r.confidence, quality: r.quality,
    state: r.state, idScore: r.idScore, lvAreaMm2: r.lvAreaMm2, ef: r.ef, efCi: r.efCi && [r.efCi[0], r.efCi[1]],
    edSeq: r.edSeq, esSeq: r.esSeq, flags: r.flags,
    latency: { queueMs: r.latency.queueMs, totalMs: r.latency.totalMs, stages: r.latency.stages },
    mask: r.mask && { width: r.mask.width, height: r.mask.height, data: r.mask.data }, contour: r.contour,
    roi: r.roi && { x: r.roi.x, y: r.roi.y, width: r.roi.width, height: r.roi.height },
  }),
  status: (seq: number) => req(MessageType.STATUS, seq, {}),
  statusReply: (seq: number, s: StatusReply) => rep(MessageType.STATUS, seq, {
    state: s.state, stateCode: s.stateCode, uptimeS: s.uptimeS, model: s.model, streams: s.streams,
    outbox: s.outbox && {
      pending: s.outbox.pending, held: s.outbox.held, failed: s.outbox.failed, inFailed: s.outbox.inFailed, lastTryFailed: s.outbox.lastTryFailed, lastErrorCode: s.outbox.lastErrorCode,
    },
  }),
  stats: (seq: number) => req(MessageType.STATS, seq, {}),
  statsReply: (seq: number, s: StatsReply) => rep(MessageType.STATS, seq, {
    clients: s.clients, framesIn: s.framesIn, framesProcessed: s.framesProcessed, framesDropped: s.framesDropped, framesFailed: s.framesFailed,
    resultsSent: s.resultsSent, resultsDropped: s.resultsDropped, rejected: s.rejected, errorsSent: s.errorsSent,
  }),
  loadModel: (seq: number, b: LoadModel) => req(MessageType.LOAD_MODEL, seq, { path: b.path, id: b.id, task: b.task }),
  loadModelReply: (seq: number, b: ModelReply) => rep(MessageType.LOAD_MODEL, seq, { id: b.id, previous: b.previous }),
  swap: (seq: number, b: Swap) => req(MessageType.SWAP, seq, { id: b.id }),
  swapReply: (seq: number, b: ModelReply) => rep(MessageType.SWAP, seq, { id: b.id, previous: b.previous }),
  closeStream: (seq: number, b: CloseStream) => req(MessageType.CLOSE_STREAM, seq, { stream: b.stream }),
  closeStreamReply: (seq: number, b: CloseStream) => rep(MessageType.CLOSE_STREAM, seq, { stream: b.stream }),
  /** An ERROR; `seq` is the offending message's (REPLY set) or undefined when unknown (seq 0, no REPLY). */
  error: (seq: number | undefined, code: number, message: string, fatal = false): EncodeInput => ({
    type: MessageType.ERROR, seq: seq ?? 0, flags: seq === undefined ? 0 : Flag.REPLY,
    body: { code, name: wireErrorName(code), message, fatal },
  }),
  ping: (seq: number, t?: number) => req(MessageType.PING, seq, { t }),
  pong: (seq: number, body: unknown) => rep(MessageType.PONG, seq, body),
};

export { WireError };
