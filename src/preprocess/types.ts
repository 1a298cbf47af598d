// The resolved, flat options a plan is compiled from. Every field is filled in
// by resolveOptions() in TypeScript; the native side copies it into
// sonoedge::PlanOptions (native/core/preprocess.h) without validating again.
// Enum values are the numeric values of the C++ enums.

export const PixelFormat = {
  GRAY8: 0, GRAY16: 1, RGB8: 2, BGR8: 3, RGBA8: 4, BGRA8: 5, YUYV: 6, NV12: 7,
} as const;
export type PixelFormatName = keyof typeof PixelFormat;

export const ResizeMode = { nearest: 0, bilinear: 1, area: 2 } as const;
export type ResizeModeName = keyof typeof ResizeMode;

export const DType = { float32: 0, float16: 1, uint8: 2, int8: 3 } as const;
export type DTypeName = keyof typeof DType;

export const Layout = { NCHW: 0, NHWC: 1 } as const;
export type LayoutName = keyof typeof Layout;

export const ChannelOrder = { rgb: 0, bgr: 1 } as const;
export type ChannelOrderName = keyof typeof ChannelOrder;

export const YuvRange = { limited: 0, full: 1 } as const;
export type YuvRangeName = keyof typeof YuvRange;

/** The YUV to RGB matrix: ITU-R BT.601 (SD video) or BT.709 (HD video). */
export const YuvMatrix = { bt601: 0, bt709: 1 } as const;
export type YuvMatrixName = keyof typeof YuvMatrix;

export const SimdLevel = { auto: 0, scalar: 1, sse41: 2, avx2: 3, neon: 4 } as const;
export type SimdLevelName = keyof typeof SimdLevel;

export interface ResolvedRoi { x: number; y: number; width: number; height: number }
export interface ResolvedSector { angleStart: number; angleEnd: number; depthStart: number; depthEnd: number }

export interface ResolvedPlanOptions {
  width: number;
  height: number;
  stride: number;        // bytes per row, resolved (never 0)
  uvOffset: number;      // NV12 UV plane offset, resolved (stride*height by default); 0 for other formats
  format: number;        // PixelFormat value
  yuvRange: number;      // YuvRange value
  yuvMatrix: number;     // YuvMatrix value
  roi: ResolvedRoi;      // resolved (never 0-sized)
  scanConvert: boolean;
  sector: ResolvedSector;
  outWidth: number;
  outHeight: number;
  channels: 1 | 3;
  channelOrder: number;  // ChannelOrder value
  resize: number;        // ResizeMode value
  letterbox: boolean;
  padValue: number;
  alpha: [number, number, number];
  beta: [number, number, number];
  dtype: number;         // DType value
  layout: number;        // Layout value
  batchSize: number;
  simd: number;          // SimdLevel value
}

/** Typed array for each output dtype (float16 as raw binary16 bits). */
export type OutputArray = Float32Array | Uint16Array | Uint8Array | Int8Array;
