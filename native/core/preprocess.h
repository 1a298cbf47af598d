// sonoedge native core: frame preprocessing.
//
// Pure C++17, no Node-API. A Plan is compiled once per (input geometry, model
// input spec) and then run on every frame: it reads the frame where it lies
// and writes the model input tensor in one pass, allocating nothing.
// The exact semantics (coordinates, colour conversion, rounding) are defined
// in docs/PREPROCESSING.md; the TypeScript reference in
// src/preprocess/reference.ts implements the same definition.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sonoedge {

// The numeric values are part of the binding's ABI (src/native.ts maps them).
enum class PixelFormat : int32_t {
  kGray8 = 0,
  kGray16 = 1,  // little-endian
  kRgb8 = 2,
  kBgr8 = 3,
  kRgba8 = 4,
  kBgra8 = 5,
  kYuyv = 6,  // 4:2:2 packed, Y0 U Y1 V
  kNv12 = 7,  // Y plane, then interleaved UV plane at half resolution
};

enum class ResizeMode : int32_t { kNearest = 0, kBilinear = 1, kArea = 2 };
enum class DType : int32_t { kFloat32 = 0, kFloat16 = 1, kUint8 = 2, kInt8 = 3 };
enum class Layout : int32_t { kNCHW = 0, kNHWC = 1 };
enum class ChannelOrder : int32_t { kRgb = 0, kBgr = 1 };
enum class YuvRange : int32_t { kLimited = 0, kFull = 1 };
// The YUV to RGB matrix: ITU-R BT.601 (SD video, most capture cards' default)
// or BT.709 (HD video).
enum class YuvMatrix : int32_t { kBt601 = 0, kBt709 = 1 };
// Which kernel family runs. kAuto picks the best the CPU supports; the others
// force a path (tests compare every path against the portable one).
enum class SimdLevel : int32_t { kAuto = 0, kScalar = 1, kSse41 = 2, kAvx2 = 3, kNeon = 4 };

// Error codes; the binding maps them to RangeError/TypeError with the message.
enum class Status : int32_t {
  kOk = 0,
  kInvalidArgument = 1,  // a bad option value (message names it)
  kBufferTooSmall = 2,   // input shorter than the declared geometry
  kOutputMismatch = 3,   // output buffer of the wrong size
  kUnsupported = 4,      // e.g. a SIMD level this CPU or build lacks
};

struct Roi {
  int32_t x = 0, y = 0, width = 0, height = 0;  // width/height 0 = full frame
};

struct SectorGeometry {
  // Angles in radians from the probe axis, positive towards image right.
  double angleStart = 0, angleEnd = 0;
  // Depth along the beam in millimetres.
  double depthStart = 0, depthEnd = 0;
};

struct PlanOptions {
  // Input frame geometry.
  int32_t width = 0, height = 0;
  int32_t stride = 0;       // bytes per row (Y plane for NV12); 0 = packed
  int64_t uvOffset = -1;    // NV12: byte offset of the UV plane; -1 = stride*height
  PixelFormat format = PixelFormat::kGray8;
  YuvRange yuvRange = YuvRange::kLimited;
  YuvMatrix yuvMatrix = YuvMatrix::kBt601;
  Roi roi;

  // Optional polar-to-Cartesian scan conversion of the ROI, whose columns are
  // scan lines and whose rows are samples along depth.
  bool scanConvert = false;
  SectorGeometry sector;

  // Output tensor.
  int32_t outWidth = 0, outHeight = 0;
  int32_t channels = 1;  // 1 or 3
  ChannelOrder channelOrder = ChannelOrder::kRgb;
  ResizeMode resize = ResizeMode::kBilinear;
  bool letterbox = false;
  float padValue = 0.0f;  // in source intensity units, mapped like any pixel
  // out[c] = v * alpha[c] + beta[c], v in source units (0..255, or 0..65535).
  float alpha[3] = {1.0f / 255.0f, 1.0f / 255.0f, 1.0f / 255.0f};
  float beta[3] = {0.0f, 0.0f, 0.0f};
  DType dtype = DType::kFloat32;
  Layout layout = Layout::kNCHW;
  int32_t batchSize = 1;

  SimdLevel simd = SimdLevel::kAuto;
};

constexpr int32_t kMaxDimension = 16384;

// Bytes per element of an output dtype.
size_t dtypeSize(DType dtype);
// Bytes per pixel of a packed format (NV12: 1, the Y plane).
int32_t bytesPerPixel(PixelFormat format);
// The SIMD level kAuto resolves to on this CPU and build.
SimdLevel bestSimdLevel();
const char* simdLevelName(SimdLevel level);

class Plan {
 public:
  // Validates options and builds every table. On failure returns nullptr and
  // sets *status and *message (message names the option, what was expected
  // and what was received).
  static std::unique_ptr<Plan> compile(const PlanOptions& options, Status* status,
                                       std::string* message);

  const PlanOptions& options() const { return opts_; }
  // Minimum input size in bytes for the declared geometry.
  size_t requiredInputBytes() const { return requiredInput_; }
  // Output size of the whole batch in elements and in bytes.
  size_t outputElements() const { return outElements_; }
  size_t outputBytes() const { return outElements_ * dtypeSize(opts_.dtype); }
  SimdLevel simdLevel() const { return simd_; }

  // Preprocesses one frame into batch slot batchIndex of dst. Thread-safe for
  // distinct dst ranges (const, no scratch). Never reads outside
  // [src, src+srcBytes) nor writes outside [dst, dst+dstBytes): checks sizes
  // first and returns an error status instead.
  Status run(const uint8_t* src, size_t srcBytes, void* dst, size_t dstBytes,
             int32_t batchIndex, std::string* message) const;

  ~Plan();

 private:
  Plan() = default;
  PlanOptions opts_;
  size_t requiredInput_ = 0;
  size_t outElements_ = 0;
  SimdLevel simd_ = SimdLevel::kScalar;
  struct Tables;
  std::unique_ptr<Tables> tables_;
};

}  // namespace sonoedge
