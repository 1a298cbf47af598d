// sonoedge public API.
export {
  Preprocessor, bestSimdLevel, resolveOptions,
  PixelFormat, ResizeMode, DType, Layout, ChannelOrder, YuvRange, YuvMatrix, SimdLevel,
} from './preprocess/index.js';
export type {
  PreprocessOptions, InputGeometry, OutputSpec, Roi, ScanConversion, Normalize, FrameData,
  OutputArray, ResolvedPlanOptions, PixelFormatName, ResizeModeName, DTypeName, LayoutName,
} from './preprocess/index.js';
export { preprocessReference, requiredInputBytes, float16BitsToNumber } from './preprocess/reference.js';
export { findSector } from './preprocess/sector.js';
export type { FindSectorOptions, SectorFrameFormat, SectorResult, SectorFound, SectorNotFound, SectorNotFoundReason, SectorShape, SectorFan } from './preprocess/sector.js';
export type { CodedError, ErrorCode } from './errors.js';
export { VERSION } from './version.js';
export { ModelPackageError, loadTrustStore, verifyModelPackage, MODELS_DIR } from './model/package.js';
export type { ModelManifest, TrustStore, VerifiedPackage, VerifyOptions, PackageErrorCode, VariantEntry } from './model/package.js';
export { Engine, BoundRun } from './engine/index.js';
export type { EngineOptions, ProviderName, TensorMeta, ProviderOutcome, RunTimings, TensorBuffer, ModelSource } from './engine/index.js';
export { Pipeline, Stream, ModelRunner } from './pipeline/index.js';
export type { PipelineOptions, PipelineResult, LvSkip, StreamGeometry, FrameInfo, Processed, SchedulerStats, Timing } from './pipeline/index.js';
export * as postprocess from './pipeline/postprocess.js';
