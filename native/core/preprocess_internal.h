// sonoedge native core: the compiled form of a preprocessing plan, shared by
// the plan compiler (preprocess.cc) and the kernels (preprocess_scalar.cc and
// the SIMD translation units). Private to native/core.
//
// Only plain data and declarations live here. The SIMD translation units are
// compiled with other instruction-set flags, so no inline function they call
// may be defined in a header shared with the portable code (the linker would
// keep one copy of it, possibly the AVX2 one). See preprocess_rows.inc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "preprocess.h"

namespace sonoedge {
namespace detail {

// Source samples that one output index (per axis) reads: indices
// start .. start+n-1 (relative to the ROI) with weights w[woff ..].
struct Taps {
  int32_t start;
  int32_t n;
  int32_t woff;
};

// Output columns [i0, i1) of the content, reading ROI columns [k0, k1).
struct Chunk {
  int32_t i0, i1, k0, k1;
};

// One content pixel of a scan-converted plan: ROI sample (k, l) and the
// bilinear weights towards k+1 / l+1 (zero in nearest mode). k == kOutside
// marks a pixel outside the sector (it takes the pad value).
struct LutEntry {
  uint16_t k, l;
  float wx, wy;
};
constexpr uint16_t kOutside = 0xFFFF;

// The row pipeline's capacity: source columns per chunk and output columns
// per chunk. Its buffers live on the stack of run().
constexpr int32_t kSpanCap = 2048;
constexpr int32_t kOutCap = 1024;

enum class Path : int32_t {
  kRows = 0,    // separable row pipeline (nearest, bilinear, area)
  kDirect = 1,  // per-pixel definition (a single output reads more than kSpanCap columns)
  kLut = 2,     // scan conversion through the lookup table
};

struct PlanData {
  // Frame.
  PixelFormat format;
  int32_t width, height, bpp;
  size_t stride;
  size_t uvOffset;  // NV12 only
  bool yuvFull;
  // YUV to RGB: R = y + k[0] e, G = y - k[1] d - k[2] e, B = y + k[3] d
  // (docs/PREPROCESSING.md section 2), for the plan's matrix and range.
  float yuvK[4];
  // ROI (resolved).
  int32_t rx, ry, rw, rh;
  // Output.
  int32_t outW, outH, channels, batchSize;
  DType dtype;
  Layout layout;
  // Content rectangle inside the output.
  int32_t ox, oy, cw, ch;
  // For output channel c, which of the source value planes (R, G, B order;
  // plane 0 for one channel) it reads.
  int32_t perm[3];
  // Source value planes a pixel yields: 1 (gray formats, or luma when one
  // output channel) or 3 (R, G, B).
  int32_t planes;
  float alpha[3], beta[3];
  float padOut[3];  // padValue * alpha[c] + beta[c]
  ResizeMode resize;

  Path path;
  // Separable tables (kRows, kDirect).
  std::vector<Taps> xt, yt;
  std::vector<float> xw, yw;
  std::vector<Chunk> chunks;
  // Integer-factor area: box sums of fx x fy, scaled by 1/(fx*fy). 0 if not.
  int32_t boxX, boxY;
  // When every x tap list has at most 8 samples (bilinear, nearest, area up
  // to about 7x): the taps padded to xuN each, as structure of arrays for
  // gathers: sample t of content column i is xuIdx[t*cw + i] with weight
  // xuW[t*cw + i] (padding repeats the first sample with weight 0). 0 if not.
  int32_t xuN;
  // Content columns [0, gatherSafe) whose first sample and the three bytes
  // after it lie inside the frame row (GRAY8 gathers read 4 bytes).
  int32_t gatherSafe;
  std::vector<int32_t> xuIdx;
  std::vector<float> xuW;
  // When every x tap list has at most kContigMax samples: the weights of
  // content column i padded with zeros to xcN (4, or a multiple of 8) at
  // xcW[i*xcN ..], so that the SIMD levels reduce xcN contiguous values from
  // the column's first sample with whole-vector loads (the row buffers hold
  // finite values, zeros, up to xcN past their span). 0 if not.
  int32_t xcN;
  std::vector<float> xcW;
  // Area plans: the vertical taps of content row j past the first and before
  // the last all carry one weight, so a format whose source values are linear
  // in its bytes (GRAY8, the RGB family) may sum those rows in integers.
  bool yInteriorEqual;
  // Scan conversion.
  std::vector<LutEntry> lut;

  // Raw views of the tables above, for the SIMD translation units (which
  // must not call inline std:: functions: see the top of this file).
  const Taps* xtp = nullptr;
  const Taps* ytp = nullptr;
  const float* xwp = nullptr;
  const float* ywp = nullptr;
  const Chunk* chunkp = nullptr;
  int32_t chunkCount = 0;
  const int32_t* xuIdxp = nullptr;
  const float* xuWp = nullptr;
  const float* xcWp = nullptr;
};

// The most x taps the contiguous horizontal kernels take (area down to 1/31).
constexpr int32_t kContigMax = 32;

// One SIMD level's entry point: preprocesses one frame into batch slot n.
using RunFn = void (*)(const PlanData& p, const uint8_t* src, void* dst, int32_t n);

// Portable helpers (preprocess_scalar.cc), callable from every level.
void runScalar(const PlanData& p, const uint8_t* src, void* dst, int32_t n);
void runDirect(const PlanData& p, const uint8_t* src, void* dst, int32_t n);
void runLut(const PlanData& p, const uint8_t* src, void* dst, int32_t n);
void fillPad(const PlanData& p, void* dst, int32_t n);
// Writes count mapped float values of output channel c, row y, starting at
// column x, converting to the plan's dtype and layout.
void storeValues(const PlanData& p, void* dst, int32_t n, int32_t c, int32_t y, int32_t x,
                 const float* values, int32_t count);
uint16_t floatToHalf(float f);

// SIMD entry points; nullptr when this build or CPU lacks them.
RunFn runSse41Fn();
RunFn runAvx2Fn();
RunFn runNeonFn();

}  // namespace detail
}  // namespace sonoedge
