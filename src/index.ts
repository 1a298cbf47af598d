// sonoedge public API.
export {
  Preprocessor, bestSimdLevel, resolveOptions,
  PixelFormat, ResizeMode, DType, Layout, ChannelOrder, YuvRange, SimdLevel,
} from './preprocess/index.js';
export type {
  PreprocessOptions, InputGeometry, OutputSpec, Roi, ScanConversion, Normalize, FrameData,
  OutputArray, ResolvedPlanOptions, PixelFormatName, ResizeModeName, DTypeName, LayoutName,
} from './preprocess/index.js';
export { preprocessReference, requiredInputBytes, float16BitsToNumber } from './preprocess/reference.js';
export type { CodedError, ErrorCode } from './errors.js';
export { VERSION } from './version.js';
