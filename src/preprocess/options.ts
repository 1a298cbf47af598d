// Validates the public preprocessing options once and resolves every default
// into the flat object the native plan and the reference are compiled from.
import { invalidType, invalidValue, rangeError } from '../errors.js';
import { isBoolean, isFiniteNumber, isInteger, isNumber, isString } from '../util/is.js';
import { checkKeys, closest } from '../util/options.js';
import {
  ChannelOrder, DType, Layout, PixelFormat, ResizeMode, SimdLevel, YuvMatrix, YuvRange,
  type ChannelOrderName, type DTypeName, type LayoutName, type PixelFormatName,
  type ResizeModeName, type ResolvedPlanOptions, type SimdLevelName, type YuvMatrixName, type YuvRangeName,
} from './types.js';

export const MAX_DIMENSION = 16384;
export const MAX_BATCH = 1024;
/** Largest output tensor one plan writes, in elements. */
export const MAX_OUTPUT_ELEMENTS = 2 ** 30;

export interface InputGeometry {
  width: number;
  height: number;
  format: PixelFormatName;
  /** Bytes per row; default packed. NV12: the Y plane's and the UV plane's. */
  stride?: number;
  /** NV12 only: byte offset of the UV plane; default stride * height. */
  uvOffset?: number;
  /** YUYV and NV12 only; default 'limited' (video range). */
  yuvRange?: YuvRangeName;
  /** YUYV and NV12 only: the YUV to RGB matrix; default 'bt601'. */
  yuvMatrix?: YuvMatrixName;
}

export interface Roi { x: number; y: number; width: number; height: number }

export interface ScanConversion {
  /** Radians from the probe axis, positive to image right. */
  angleStart: number;
  angleEnd: number;
  /** Millimetres along the beam. */
  depthStart: number;
  depthEnd: number;
}

export interface OutputSpec {
  width: number;
  height: number;
  channels?: 1 | 3;
  channelOrder?: ChannelOrderName;
  dtype?: DTypeName;
  layout?: LayoutName;
  batchSize?: number;
}

export type Normalize =
  | { scale?: number; offset?: number }
  | { mean: number | readonly number[]; std: number | readonly number[]; scale?: number };

export interface PreprocessOptions {
  input: InputGeometry;
  output: OutputSpec;
  roi?: Roi;
  scanConversion?: ScanConversion;
  resize?: ResizeModeName;
  letterbox?: boolean;
  /** Value of letterbox and outside-sector pixels, in source units. */
  padValue?: number;
  normalize?: Normalize;
  /** Force a kernel family (tests and benchmarks); default 'auto'. */
  simd?: SimdLevelName;
}

const TOP_KEYS = ['input', 'output', 'roi', 'scanConversion', 'resize', 'letterbox', 'padValue', 'normalize', 'simd'] as const;
const INPUT_KEYS = ['width', 'height', 'format', 'stride', 'uvOffset', 'yuvRange', 'yuvMatrix'] as const;
const OUTPUT_KEYS = ['width', 'height', 'channels', 'channelOrder', 'dtype', 'layout', 'batchSize'] as const;
const ROI_KEYS = ['x', 'y', 'width', 'height'] as const;
const SECTOR_KEYS = ['angleStart', 'angleEnd', 'depthStart', 'depthEnd'] as const;
const NORMALIZE_KEYS = ['scale', 'offset', 'mean', 'std'] as const;

const BYTES_PER_PIXEL: Record<PixelFormatName, number> = {
  GRAY8: 1, GRAY16: 2, RGB8: 3, BGR8: 3, RGBA8: 4, BGRA8: 4, YUYV: 2, NV12: 1,
};

function dimension(value: unknown, name: string, max = MAX_DIMENSION): number {
  if (!isNumber(value)) throw invalidType('ERR_SONOEDGE_DIMENSION', `integer between 1 and ${max}`, name, value);
  if (!isInteger(value) || value < 1 || value > max) {
    throw invalidValue('ERR_SONOEDGE_DIMENSION', `integer between 1 and ${max}`, name, value);
  }
  return value;
}

function enumName<T extends Record<string, number>>(table: T, value: unknown, name: string, code: 'ERR_SONOEDGE_PIXEL_FORMAT' | 'ERR_SONOEDGE_PLAN_OPTION'): number {
  const names = Object.keys(table);
  if (!isString(value)) throw invalidType(code, `one of ${names.join(', ')}`, name, value);
  if (!Object.prototype.hasOwnProperty.call(table, value)) {
    const hint = closest(value, names);
    const err = invalidValue(code, `one of ${names.join(', ')}`, name, value);
    if (hint) err.message += `; did you mean ${JSON.stringify(hint)}?`;
    throw err;
  }
  return table[value as keyof T];
}

function finite(value: unknown, name: string, code: 'ERR_SONOEDGE_NORMALIZE' | 'ERR_SONOEDGE_SECTOR' | 'ERR_SONOEDGE_PLAN_OPTION'): number {
  if (typeof value !== 'number') throw invalidType(code, 'finite number', name, value);
  if (!Number.isFinite(value)) throw invalidValue(code, 'finite number', name, value);
  return value;
}

function perChannel(value: unknown, name: string, channels: number): number[] {
  if (Array.isArray(value)) {
    if (value.length !== channels) {
      throw invalidValue('ERR_SONOEDGE_NORMALIZE', `a number or an array of ${channels} numbers`, name, value);
    }
    return value.map((v, i) => finite(v, `${name}[${i}]`, 'ERR_SONOEDGE_NORMALIZE'));
  }
  const v = finite(value, name, 'ERR_SONOEDGE_NORMALIZE');
  return new Array<number>(channels).fill(v);
}

/** Validates `options` and fills in every default. Throws TypeError/RangeError with a code. */
export function resolveOptions(options: PreprocessOptions): ResolvedPlanOptions {
  const top = checkKeys(options, 'options', TOP_KEYS);
  const input = checkKeys(top.input, 'input', INPUT_KEYS);
  const width = dimension(input.width, 'input.width');
  const height = dimension(input.height, 'input.height');
  const format = enumName(PixelFormat, input.format, 'input.format', 'ERR_SONOEDGE_PIXEL_FORMAT');
  const formatName = input.format as PixelFormatName;
  if ((formatName === 'YUYV' || formatName === 'NV12') && width % 2 !== 0) {
    throw invalidValue('ERR_SONOEDGE_DIMENSION', `even width for ${formatName}`, 'input.width', width);
  }
  if (formatName === 'NV12' && height % 2 !== 0) {
    throw invalidValue('ERR_SONOEDGE_DIMENSION', 'even height for NV12', 'input.height', height);
  }
  const rowBytes = width * BYTES_PER_PIXEL[formatName];
  let stride = rowBytes;
  if (input.stride !== undefined && input.stride !== 0) {
    if (!isNumber(input.stride)) throw invalidType('ERR_SONOEDGE_STRIDE', `integer of at least ${rowBytes}`, 'input.stride', input.stride);
    if (!isInteger(input.stride) || input.stride < rowBytes || input.stride > MAX_DIMENSION * 16) {
      throw invalidValue('ERR_SONOEDGE_STRIDE', `integer between ${rowBytes} (one ${width}-pixel ${formatName} row) and ${MAX_DIMENSION * 16}`, 'input.stride', input.stride);
    }
    stride = input.stride;
  }
  let uvOffset = 0;
  if (formatName === 'NV12') {
    uvOffset = stride * height;
    if (input.uvOffset !== undefined) {
      if (!isInteger(input.uvOffset) || (input.uvOffset as number) < stride * height) {
        throw invalidValue('ERR_SONOEDGE_STRIDE', `integer of at least ${stride * height} (after the Y plane)`, 'input.uvOffset', input.uvOffset);
      }
      uvOffset = input.uvOffset as number;
    }
  } else if (input.uvOffset !== undefined) {
    throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'no uvOffset (only NV12 has a UV plane)', 'input.uvOffset', input.uvOffset);
  }
  const yuvRange = input.yuvRange === undefined ? YuvRange.limited
    : enumName(YuvRange, input.yuvRange, 'input.yuvRange', 'ERR_SONOEDGE_PLAN_OPTION');
  const yuvMatrix = input.yuvMatrix === undefined ? YuvMatrix.bt601
    : enumName(YuvMatrix, input.yuvMatrix, 'input.yuvMatrix', 'ERR_SONOEDGE_PLAN_OPTION');

  let roi = { x: 0, y: 0, width, height };
  if (top.roi !== undefined) {
    const r = checkKeys(top.roi, 'roi', ROI_KEYS);
    for (const k of ROI_KEYS) {
      if (!isInteger(r[k])) throw invalidType('ERR_SONOEDGE_ROI', 'integer', `roi.${k}`, r[k]);
    }
    roi = { x: r.x as number, y: r.y as number, width: r.width as number, height: r.height as number };
    if (roi.x < 0 || roi.y < 0 || roi.width < 1 || roi.height < 1 || roi.x + roi.width > width || roi.y + roi.height > height) {
      throw rangeError('ERR_SONOEDGE_ROI',
        `Expected roi inside the ${width}x${height} frame but received roi {x: ${roi.x}, y: ${roi.y}, width: ${roi.width}, height: ${roi.height}}`);
    }
  }

  let scanConvert = false;
  let sector = { angleStart: 0, angleEnd: 0, depthStart: 0, depthEnd: 0 };
  if (top.scanConversion !== undefined) {
    const s = checkKeys(top.scanConversion, 'scanConversion', SECTOR_KEYS);
    sector = {
      angleStart: finite(s.angleStart, 'scanConversion.angleStart', 'ERR_SONOEDGE_SECTOR'),
      angleEnd: finite(s.angleEnd, 'scanConversion.angleEnd', 'ERR_SONOEDGE_SECTOR'),
      depthStart: finite(s.depthStart, 'scanConversion.depthStart', 'ERR_SONOEDGE_SECTOR'),
      depthEnd: finite(s.depthEnd, 'scanConversion.depthEnd', 'ERR_SONOEDGE_SECTOR'),
    };
    const half = Math.PI / 2;
    if (!(sector.angleStart > -half && sector.angleStart < sector.angleEnd && sector.angleEnd < half)) {
      throw rangeError('ERR_SONOEDGE_SECTOR',
        `Expected -pi/2 < scanConversion.angleStart < scanConversion.angleEnd < pi/2 but received angleStart ${sector.angleStart}, angleEnd ${sector.angleEnd}`);
    }
    if (!(sector.depthStart >= 0 && sector.depthStart < sector.depthEnd)) {
      throw rangeError('ERR_SONOEDGE_SECTOR',
        `Expected 0 <= scanConversion.depthStart < scanConversion.depthEnd but received depthStart ${sector.depthStart}, depthEnd ${sector.depthEnd}`);
    }
    if (roi.width < 2 || roi.height < 2) {
      throw rangeError('ERR_SONOEDGE_SECTOR',
        `Expected at least 2 scan lines and 2 samples for scan conversion but received ${roi.width}x${roi.height}`);
    }
    scanConvert = true;
  }

  const output = checkKeys(top.output, 'output', OUTPUT_KEYS);
  const outWidth = dimension(output.width, 'output.width');
  const outHeight = dimension(output.height, 'output.height');
  let channels: 1 | 3 = 1;
  if (output.channels !== undefined) {
    if (output.channels !== 1 && output.channels !== 3) {
      const make = isNumber(output.channels) ? invalidValue : invalidType;
      throw make('ERR_SONOEDGE_PLAN_OPTION', '1 or 3', 'output.channels', output.channels);
    }
    channels = output.channels;
  }
  const channelOrder = output.channelOrder === undefined ? ChannelOrder.rgb
    : enumName(ChannelOrder, output.channelOrder, 'output.channelOrder', 'ERR_SONOEDGE_PLAN_OPTION');
  const dtype = output.dtype === undefined ? DType.float32
    : enumName(DType, output.dtype, 'output.dtype', 'ERR_SONOEDGE_PLAN_OPTION');
  const layout = output.layout === undefined ? Layout.NCHW
    : enumName(Layout, output.layout, 'output.layout', 'ERR_SONOEDGE_PLAN_OPTION');
  const batchSize = output.batchSize === undefined ? 1 : dimension(output.batchSize, 'output.batchSize', MAX_BATCH);
  const elements = batchSize * channels * outWidth * outHeight;
  if (elements > MAX_OUTPUT_ELEMENTS) {
    throw rangeError('ERR_SONOEDGE_DIMENSION',
      `Expected an output of at most ${MAX_OUTPUT_ELEMENTS} elements but received ${batchSize}x${channels}x${outHeight}x${outWidth} = ${elements}`);
  }

  const resize = top.resize === undefined ? ResizeMode.bilinear
    : enumName(ResizeMode, top.resize, 'resize', 'ERR_SONOEDGE_PLAN_OPTION');
  let letterbox = false;
  if (top.letterbox !== undefined) {
    if (!isBoolean(top.letterbox)) throw invalidType('ERR_SONOEDGE_PLAN_OPTION', 'boolean', 'letterbox', top.letterbox);
    letterbox = top.letterbox;
  }
  const padValue = top.padValue === undefined ? 0 : finite(top.padValue, 'padValue', 'ERR_SONOEDGE_PLAN_OPTION');

  const defaultScale = formatName === 'GRAY16' ? 1 / 65535 : 1 / 255;
  let alpha: number[];
  let beta: number[];
  if (top.normalize === undefined) {
    alpha = [defaultScale, defaultScale, defaultScale];
    beta = [0, 0, 0];
  } else {
    const n = checkKeys(top.normalize, 'normalize', NORMALIZE_KEYS);
    const scale = n.scale === undefined ? defaultScale : finite(n.scale, 'normalize.scale', 'ERR_SONOEDGE_NORMALIZE');
    if (n.mean !== undefined || n.std !== undefined) {
      if (n.offset !== undefined) {
        throw invalidValue('ERR_SONOEDGE_NORMALIZE', 'either offset or mean and std, not both', 'normalize.offset', n.offset);
      }
      const mean = perChannel(n.mean, 'normalize.mean', channels);
      const std = perChannel(n.std, 'normalize.std', channels);
      std.forEach((s, i) => {
        if (s === 0) throw invalidValue('ERR_SONOEDGE_NORMALIZE', 'non-zero number', channels === 1 ? 'normalize.std' : `normalize.std[${i}]`, s);
      });
      alpha = std.map((s) => scale / s);
      beta = mean.map((m, i) => -m / std[i]);
    } else {
      const offset = n.offset === undefined ? 0 : finite(n.offset, 'normalize.offset', 'ERR_SONOEDGE_NORMALIZE');
      alpha = new Array<number>(channels).fill(scale);
      beta = new Array<number>(channels).fill(offset);
    }
    while (alpha.length < 3) {
      alpha.push(alpha[0]);
      beta.push(beta[0]);
    }
    [...alpha, ...beta].forEach((v) => {
      if (!isFiniteNumber(Math.fround(v))) {
        throw invalidValue('ERR_SONOEDGE_NORMALIZE', 'scale/std and mean/std representable as float32', 'normalize', top.normalize);
      }
    });
  }
  const simd = top.simd === undefined ? SimdLevel.auto : enumName(SimdLevel, top.simd, 'simd', 'ERR_SONOEDGE_PLAN_OPTION');

  return {
    width, height, stride, uvOffset, format, yuvRange, yuvMatrix,
    roi, scanConvert, sector,
    outWidth, outHeight, channels, channelOrder, resize, letterbox, padValue,
    alpha: [alpha[0], alpha[1], alpha[2]], beta: [beta[0], beta[1], beta[2]],
    dtype, layout, batchSize, simd,
  };
}
