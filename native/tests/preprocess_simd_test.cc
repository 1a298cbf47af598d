// Every SIMD level this CPU supports agrees with the scalar level: within
// 1 LSB for integer outputs, one binary16 step for float16 and 1e-5
// (relative to max(1, |x|)) for float32, over many random geometries,
// including the fast paths' own shapes (integer-factor area, bilinear).
#include "random_options.h"
#include "reference.h"
#include "test_util.h"

namespace sonoedge {
namespace testing {
namespace {

// With input (its size the plan's requiredInputBytes) the frame, otherwise random bytes.
void compareLevels(PlanOptions o, std::mt19937& rng, const std::string& what,
                   const std::vector<uint8_t>* input = nullptr) {
  o.simd = SimdLevel::kScalar;
  auto scalar = mustCompile(o);
  ASSERT_TRUE(scalar) << what;
  const auto src = input ? *input : randomBytes(rng, scalar->requiredInputBytes());
  const int32_t n = static_cast<int32_t>(rng() % static_cast<uint32_t>(o.batchSize));
  const auto want = runInto(*scalar, src, n);
  for (SimdLevel l : availableLevels()) {
    if (l == SimdLevel::kScalar) continue;
    o.simd = l;
    auto plan = mustCompile(o);
    ASSERT_TRUE(plan);
    // An odd output offset exercises the unaligned store path too.
    const bool misalign = rng() % 4 == 0;
    std::vector<uint8_t> buf(plan->outputBytes() + 1, 0xAB);
    uint8_t* dst = buf.data() + (misalign ? 1 : 0);
    std::string msg;
    ASSERT_EQ(plan->run(src.data(), src.size(), dst, plan->outputBytes(), n, &msg), Status::kOk)
        << msg;
    std::string first;
    const size_t bad = compareOutputs(o.dtype, dst, want.data(), plan->outputElements(), &first);
    ASSERT_EQ(bad, 0u) << what << " at " << simdLevelName(l) << ": " << first;
  }
}

TEST(PreprocessSimd, LevelsAreAvailable) {
  const auto levels = availableLevels();
  std::string names;
  for (SimdLevel l : levels) names += std::string(simdLevelName(l)) + " ";
  std::printf("SIMD levels: %s(auto = %s)\n", names.c_str(), simdLevelName(bestSimdLevel()));
  EXPECT_EQ(levels.front(), SimdLevel::kScalar);
#if defined(__aarch64__)
  EXPECT_EQ(bestSimdLevel(), SimdLevel::kNeon);
#endif
}

TEST(PreprocessSimd, RandomGeometriesAgreeWithScalar) {
  std::mt19937 rng(2024);
  for (int i = 0; i < 600; ++i) {
    PlanOptions o = randomOptions(rng, i % 4 == 0 ? 300 : 60);
    compareLevels(o, rng, "case " + std::to_string(i));
    if (HasFatalFailure()) return;
  }
}

TEST(PreprocessSimd, FastPathShapesAgreeWithScalar) {
  std::mt19937 rng(31);
  const PixelFormat formats[] = {PixelFormat::kGray8, PixelFormat::kRgb8, PixelFormat::kBgr8,
                                 PixelFormat::kYuyv, PixelFormat::kRgba8, PixelFormat::kNv12,
                                 PixelFormat::kGray16};
  for (PixelFormat f : formats) {
    for (int fx : {1, 2, 3, 4, 5}) {
      for (ResizeMode m : {ResizeMode::kArea, ResizeMode::kBilinear, ResizeMode::kNearest}) {
        PlanOptions o;
        o.format = f;
        o.outWidth = 8 + static_cast<int>(rng() % 40);
        o.outHeight = 3 + static_cast<int>(rng() % 9);
        o.width = o.outWidth * fx;
        o.height = o.outHeight * (1 + static_cast<int>(rng() % 3));
        if (o.width % 2) o.width += 0;  // keep integer factors; YUYV needs even below
        if ((f == PixelFormat::kYuyv || f == PixelFormat::kNv12) && o.width % 2) {
          o.outWidth += 1;
          o.width = o.outWidth * fx;
          if (o.width % 2) o.width += fx;
          o.outWidth = o.width / fx;
        }
        if (f == PixelFormat::kNv12 && o.height % 2) o.height += 1;
        o.resize = m;
        o.channels = rng() % 2 ? 3 : 1;
        o.roi = {};
        o.alpha[0] = o.alpha[1] = o.alpha[2] = 1.0f / 255;
        o.beta[0] = -0.5f;
        compareLevels(o, rng, "fx " + std::to_string(fx));
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(PreprocessSimd, KernelShapesOfEveryFormatAgreeWithScalar) {
  // The SIMD kernels of every format (deinterleave, YUYV and NV12 to RGB,
  // integer row sums, the row cache, contiguous horizontal taps) on their own
  // shapes, against the scalar level.
  std::mt19937 rng(1602);
  for (int f = 0; f < 8; ++f) {
    for (int c : {1, 3}) {
      for (int i = 0; i < 15; ++i) {
        PlanOptions o = simdShapeOptions(rng, static_cast<PixelFormat>(f), c);
        o.batchSize = 1 + static_cast<int32_t>(rng() % 2);
        compareLevels(o, rng, "format " + std::to_string(f) + " " + std::to_string(c) + "ch case " +
                                  std::to_string(i));
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(PreprocessSimd, CaptureSizesOfEveryFormat) {
  // 1920x1080 capture frames to 224x224 (area 8.6 x 4.8) as the benchmark
  // runs them, limited and full range.
  std::mt19937 rng(1603);
  for (PixelFormat f : {PixelFormat::kRgb8, PixelFormat::kBgra8, PixelFormat::kYuyv,
                        PixelFormat::kNv12}) {
    for (int out : {224}) {
      PlanOptions o;
      o.format = f;
      o.width = 1920;
      o.height = 1080;
      o.outWidth = o.outHeight = out;
      o.channels = 3;
      o.resize = ResizeMode::kArea;
      o.yuvRange = f == PixelFormat::kNv12 ? YuvRange::kFull : YuvRange::kLimited;
      compareLevels(o, rng, "1920x1080 to " + std::to_string(out));
      if (HasFatalFailure()) return;
    }
  }
}

TEST(PreprocessSimd, HotPathShape) {
  // 1024x768 GRAY8 -> 256x256 float32 NCHW, area (4x3 boxes) and bilinear.
  std::mt19937 rng(1);
  for (ResizeMode m : {ResizeMode::kArea, ResizeMode::kBilinear}) {
    for (PixelFormat f : {PixelFormat::kGray8, PixelFormat::kRgb8, PixelFormat::kYuyv}) {
      PlanOptions o;
      o.format = f;
      o.width = 1024;
      o.height = 768;
      o.outWidth = o.outHeight = 256;
      o.resize = m;
      o.channels = f == PixelFormat::kGray8 ? 1 : 3;
      compareLevels(o, rng, "hot path");
      if (HasFatalFailure()) return;
    }
  }
}

// A YUYV or NV12 frame of o's geometry (its stride and, NV12, its UV plane's
// offset; packed when they are not set) with Y drawn from [yLo, yHi] and U, V
// from [cLo, cHi]. Bytes past a row's pixels (a padded stride) are any byte,
// most of them far outside what a pixel of the frame holds.
std::vector<uint8_t> yuvFrame(const PlanOptions& o, size_t bytes, std::mt19937& rng, int yLo, int yHi,
                              int cLo, int cHi) {
  std::vector<uint8_t> v(bytes);
  auto draw = [&](int lo, int hi) { return static_cast<uint8_t>(lo + static_cast<int>(rng() % (hi - lo + 1))); };
  const bool yuyv = o.format == PixelFormat::kYuyv;
  const size_t row = static_cast<size_t>(o.width) * (yuyv ? 2 : 1);
  const size_t stride = o.stride > 0 ? static_cast<size_t>(o.stride) : row;
  const size_t yBytes = o.uvOffset >= 0 ? static_cast<size_t>(o.uvOffset) : stride * o.height;
  for (size_t i = 0; i < bytes; ++i) {
    const size_t col = (yuyv || i < yBytes ? i : i - yBytes) % stride;
    if (col >= row) {
      v[i] = static_cast<uint8_t>(rng());
      continue;
    }
    const bool luma = yuyv ? i % 2 == 0 : i < yBytes;
    v[i] = luma ? draw(yLo, yHi) : draw(cLo, cHi);
  }
  return v;
}

// Pixel (x, y)'s Y, U and V bytes of such a frame (U and V shared by its pair).
void setYuv(const PlanOptions& o, std::vector<uint8_t>& v, int x, int y, int Y, int U, int V) {
  const size_t w = static_cast<size_t>(o.width);
  if (o.format == PixelFormat::kYuyv) {
    const size_t pair = y * 2 * w + 4 * static_cast<size_t>(x / 2);
    v[pair + 2 * (x % 2)] = static_cast<uint8_t>(Y);
    v[pair + 1] = static_cast<uint8_t>(U);
    v[pair + 3] = static_cast<uint8_t>(V);
  } else {
    v[y * w + x] = static_cast<uint8_t>(Y);
    const size_t uv = w * o.height + (y / 2) * w + 2 * static_cast<size_t>(x / 2);
    v[uv] = static_cast<uint8_t>(U);
    v[uv + 1] = static_cast<uint8_t>(V);
  }
}

// "YUYV limited 601": what a YUV test's failure message names.
static std::string yuvName(PixelFormat f, YuvRange r, YuvMatrix m) {
  return std::string(f == PixelFormat::kYuyv ? "YUYV " : "NV12 ") + (r == YuvRange::kLimited ? "limited " : "full ") +
         (m == YuvMatrix::kBt601 ? "601" : "709");
}

// RGB planes from a YUYV or NV12 frame, area resampled: the plans of the YUV tests.
static PlanOptions yuvAreaOptions(PixelFormat f, YuvRange r, YuvMatrix m, int w, int h, int ow, int oh) {
  PlanOptions o;
  o.format = f;
  o.width = w;
  o.height = h;
  o.outWidth = ow;
  o.outHeight = oh;
  o.channels = 3;
  o.resize = ResizeMode::kArea;
  o.yuvRange = r;
  o.yuvMatrix = m;
  return o;
}

TEST(PreprocessSimd, YuvContentThatNeverClampsAgreesWithScalar) {
  // Gray and mildly coloured frames, in which no pixel's R, G or B leaves
  // [0, 255]: the AVX2 kernels sum Y, U and V over the tap rows and convert
  // once (yuvLinearAvx2). Area plans of three tap rows and more (boxes,
  // fractional edge rows, spans that are not a multiple of 16), both formats,
  // ranges and matrices, and the boundary bytes themselves: limited-range Y 16
  // gives exactly 0, full-range Y 0 and 255 exactly 0 and 255.
  std::mt19937 rng(1604);
  struct Shape {
    int w, h, ow, oh;
  };
  const Shape shapes[] = {{1920, 1080, 224, 224}, {1024, 768, 256, 256}, {330, 120, 37, 11}, {642, 96, 50, 17}};
  for (PixelFormat f : {PixelFormat::kYuyv, PixelFormat::kNv12}) {
    for (YuvRange r : {YuvRange::kLimited, YuvRange::kFull}) {
      for (YuvMatrix m : {YuvMatrix::kBt601, YuvMatrix::kBt709}) {
        for (const Shape& sh : shapes) {
          const PlanOptions o = yuvAreaOptions(f, r, m, sh.w, sh.h, sh.ow, sh.oh);
          const size_t bytes = mustCompile(o)->requiredInputBytes();
          const bool lim = r == YuvRange::kLimited;
          const std::string what = yuvName(f, r, m) + " " + std::to_string(sh.w) + "x" + std::to_string(sh.h);
          auto gray = yuvFrame(o, bytes, rng, lim ? 16 : 0, lim ? 235 : 255, 128, 128);
          compareLevels(o, rng, what + " gray", &gray);
          auto tinted = yuvFrame(o, bytes, rng, 60, 190, 118, 138);
          compareLevels(o, rng, what + " tinted", &tinted);
          auto edge = yuvFrame(o, bytes, rng, lim ? 16 : 0, lim ? 16 : 0, 128, 128);
          compareLevels(o, rng, what + " black", &edge);
          if (!lim) {
            edge = yuvFrame(o, bytes, rng, 255, 255, 128, 128);
            compareLevels(o, rng, what + " white", &edge);
          }
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(PreprocessSimd, YuvLinearPathAtItsLimitsAgreesWithScalar) {
  // In-range content where the linear path's limits are: 63 tap rows per
  // output row (the interior summed in 16 bits: 61 x 255), rows wider than
  // one span (2304 pixels, two chunks, no row cache), and a region of
  // interest from an even column other than 0 and a row other than 0.
  std::mt19937 rng(1260);
  for (PixelFormat f : {PixelFormat::kYuyv, PixelFormat::kNv12}) {
    for (YuvRange r : {YuvRange::kLimited, YuvRange::kFull}) {
      const bool lim = r == YuvRange::kLimited;
      const std::string what = yuvName(f, r, YuvMatrix::kBt709);
      PlanOptions o = yuvAreaOptions(f, r, YuvMatrix::kBt709, 2304, 1260, 36, 20);
      const size_t big = mustCompile(o)->requiredInputBytes();
      auto v = yuvFrame(o, big, rng, 60, 190, 118, 138);
      compareLevels(o, rng, what + " 2304x1260 to 36x20", &v);
      v = yuvFrame(o, big, rng, lim ? 235 : 255, lim ? 235 : 255, 128, 128);  // every tap at its largest byte
      compareLevels(o, rng, what + " 2304x1260 white to 36x20", &v);
      o = yuvAreaOptions(f, r, YuvMatrix::kBt601, 1920, 1080, 224, 224);
      o.roi = Roi{258, 37, 1500, 1000};
      v = yuvFrame(o, mustCompile(o)->requiredInputBytes(), rng, 60, 190, 118, 138);
      compareLevels(o, rng, what + " region 258,37 1500x1000", &v);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(PreprocessSimd, YuvLinearPathWithPaddedStrideAgreesWithScalar) {
  // In-range content (the linear path) in frames whose rows are padded: a
  // stride past the row's bytes (even, and odd for NV12), the UV plane of NV12
  // after a gap of its own, and padding bytes drawn from every value (read as
  // pixels they would change the output and make pixels clamp). With a region
  // of interest from an even column too.
  std::mt19937 rng(1261);
  for (PixelFormat f : {PixelFormat::kYuyv, PixelFormat::kNv12}) {
    const bool nv12 = f == PixelFormat::kNv12;
    for (YuvRange r : {YuvRange::kLimited, YuvRange::kFull}) {
      const std::string what = yuvName(f, r, YuvMatrix::kBt601);
      PlanOptions o = yuvAreaOptions(f, r, YuvMatrix::kBt601, 1000, 600, 224, 224);
      for (int32_t pad : {64, nv12 ? 37 : 26}) {
        o.stride = (nv12 ? 1000 : 2000) + pad;
        o.uvOffset = nv12 ? static_cast<int64_t>(o.stride) * 600 + 4096 : -1;
        o.roi = Roi{};
        const std::string padded = what + " stride " + std::to_string(o.stride);
        auto v = yuvFrame(o, mustCompile(o)->requiredInputBytes(), rng, 60, 190, 118, 138);
        compareLevels(o, rng, padded + " 1000x600 to 224x224", &v);
        v = yuvFrame(o, mustCompile(o)->requiredInputBytes(), rng, 16, 235, 128, 128);
        compareLevels(o, rng, padded + " gray 1000x600 to 224x224", &v);
        o.roi = Roi{130, 21, 800, 560};
        v = yuvFrame(o, mustCompile(o)->requiredInputBytes(), rng, 60, 190, 118, 138);
        compareLevels(o, rng, padded + " region 130,21 800x560", &v);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(PreprocessSimd, YuvPlanReusedOnContentThatClampsThenNotAgreesWithScalar) {
  // One plan per level run on in-range content (the linear path), then on
  // noise (most groups clamp: the kernels give the linear case up for a
  // growing number of rows), then on in-range content again: each output
  // agrees with the scalar level's, and is bit for bit the output a fresh plan
  // gives for that content (nothing a run decides carries over to the next).
  std::mt19937 rng(1262);
  for (PixelFormat f : {PixelFormat::kYuyv, PixelFormat::kNv12}) {
    for (YuvRange r : {YuvRange::kLimited, YuvRange::kFull}) {
      const std::string what = yuvName(f, r, YuvMatrix::kBt709);
      PlanOptions o = yuvAreaOptions(f, r, YuvMatrix::kBt709, 1920, 1080, 224, 224);
      o.simd = SimdLevel::kScalar;
      auto scalar = mustCompile(o);
      ASSERT_TRUE(scalar) << what;
      const size_t bytes = scalar->requiredInputBytes();
      const std::vector<uint8_t> frames[] = {yuvFrame(o, bytes, rng, 60, 190, 118, 138), randomBytes(rng, bytes),
                                             yuvFrame(o, bytes, rng, 40, 200, 120, 136)};
      const char* names[] = {"in range", "noise", "in range again"};
      for (SimdLevel l : availableLevels()) {
        if (l == SimdLevel::kScalar) continue;
        o.simd = l;
        auto plan = mustCompile(o);
        ASSERT_TRUE(plan) << what;
        for (int i = 0; i < 3; ++i) {
          const std::string at = what + " " + names[i] + " at " + simdLevelName(l);
          const auto got = runInto(*plan, frames[i]);
          const auto want = runInto(*scalar, frames[i]);
          std::string first;
          ASSERT_EQ(compareOutputs(o.dtype, got.data(), want.data(), plan->outputElements(), &first), 0u)
              << at << ": " << first;
          ASSERT_TRUE(got == runInto(*mustCompile(o), frames[i])) << at << ": differs from a fresh plan's output";
        }
      }
    }
  }
}

TEST(PreprocessSimd, YuvPixelsThatClampAgreeWithScalar) {
  // The same frames with pixels whose R, G or B clamps: a few (the 16-pixel
  // groups holding them go through the exact per-pixel path, in any tap row,
  // first, interior or last), just past the boundary (limited-range Y 15;
  // Y 16 with V 127, where R is -1.6), and mostly clamping content (random
  // bytes above in-range ones: the kernels give the linear case up for some
  // rows, then take it again).
  std::mt19937 rng(1605);
  for (PixelFormat f : {PixelFormat::kYuyv, PixelFormat::kNv12}) {
    for (YuvRange r : {YuvRange::kLimited, YuvRange::kFull}) {
      for (YuvMatrix m : {YuvMatrix::kBt601, YuvMatrix::kBt709}) {
        const PlanOptions o = yuvAreaOptions(f, r, m, 1920, 1080, 224, 224);
        const size_t bytes = mustCompile(o)->requiredInputBytes();
        const bool lim = r == YuvRange::kLimited;
        const std::string what = yuvName(f, r, m);
        // A few saturated pixels: each channel's clamp, low and high.
        auto v = yuvFrame(o, bytes, rng, 60, 190, 118, 138);
        const int spikes[][3] = {{0, 128, 128}, {255, 128, 128}, {128, 128, 255}, {128, 255, 128},
                                 {128, 0, 0},   {128, 255, 0},   {30, 0, 255},    {235, 255, 255}};
        for (int i = 0; i < 400; ++i) {
          const int* s = spikes[i % 8];
          setYuv(o, v, static_cast<int>(rng() % 1920), static_cast<int>(rng() % 1080), s[0], s[1], s[2]);
        }
        compareLevels(o, rng, what + " spikes", &v);
        // Just past the boundary.
        if (lim) {
          v = yuvFrame(o, bytes, rng, 16, 16, 128, 128);
          for (int i = 0; i < 200; ++i) {
            setYuv(o, v, static_cast<int>(rng() % 1920), static_cast<int>(rng() % 1080), i % 2 ? 15 : 16, 128,
                   i % 2 ? 128 : 127);
          }
          compareLevels(o, rng, what + " black edge", &v);
        }
        // Noise above, in-range content below.
        v = yuvFrame(o, bytes, rng, 60, 190, 118, 138);
        const auto noise = randomBytes(rng, bytes);
        const size_t split = f == PixelFormat::kYuyv ? bytes / 2 : 1920 * 540;
        std::copy(noise.begin(), noise.begin() + static_cast<std::ptrdiff_t>(split), v.begin());
        if (f == PixelFormat::kNv12) {
          const size_t uv = 1920 * 1080;
          std::copy(noise.begin() + uv, noise.begin() + uv + 1920 * 270, v.begin() + uv);
        }
        compareLevels(o, rng, what + " noise then content", &v);
        if (HasFatalFailure()) return;
      }
    }
  }
}

}  // namespace
}  // namespace testing
}  // namespace sonoedge
