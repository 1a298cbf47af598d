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

void compareLevels(PlanOptions o, std::mt19937& rng, const std::string& what) {
  o.simd = SimdLevel::kScalar;
  auto scalar = mustCompile(o);
  ASSERT_TRUE(scalar) << what;
  const auto src = randomBytes(rng, scalar->requiredInputBytes());
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

}  // namespace
}  // namespace testing
}  // namespace sonoedge
