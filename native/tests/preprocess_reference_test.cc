// Every path against the reference-by-definition (tests/reference.cc) over
// random geometries: every pixel format, operation, dtype, layout and slot.
#include "random_options.h"
#include "reference.h"
#include "test_util.h"

namespace sonoedge {
namespace testing {
namespace {

void checkAgainstReference(PlanOptions o, std::mt19937& rng, const std::string& what) {
  o.simd = SimdLevel::kScalar;
  Status st;
  std::string msg;
  auto probe = Plan::compile(o, &st, &msg);
  ASSERT_TRUE(probe) << what << ": " << msg;
  const auto src = randomBytes(rng, probe->requiredInputBytes() + rng() % 5);
  const auto ref = referenceSlot(o, src.data());
  const int32_t n = static_cast<int32_t>(rng() % static_cast<uint32_t>(o.batchSize));
  for (SimdLevel l : availableLevels()) {
    o.simd = l;
    auto plan = Plan::compile(o, &st, &msg);
    ASSERT_TRUE(plan) << msg;
    auto out = runInto(*plan, src, n);
    std::string first;
    const size_t bad = compareSlot(o, ref, out.data(), n, &first);
    ASSERT_EQ(bad, 0u) << what << " at " << simdLevelName(l) << ": " << first
                       << "\n format " << int(o.format) << " " << o.width << "x" << o.height
                       << " stride " << o.stride << " roi " << o.roi.x << "," << o.roi.y << ","
                       << o.roi.width << "," << o.roi.height << " out " << o.outWidth << "x"
                       << o.outHeight << " C" << o.channels << " resize " << int(o.resize)
                       << " lb " << o.letterbox << " dtype " << int(o.dtype) << " layout "
                       << int(o.layout) << " scan " << o.scanConvert << " alpha " << o.alpha[0] << "," << o.alpha[1] << "," << o.alpha[2] << " beta " << o.beta[0] << "," << o.beta[1] << "," << o.beta[2] << " n " << n;
    // Other slots untouched.
    const size_t slot = plan->outputBytes() / static_cast<size_t>(o.batchSize);
    for (size_t i = 0; i < out.size(); ++i) {
      if (i / slot != static_cast<size_t>(n)) ASSERT_EQ(out[i], 0xAB) << what;
    }
  }
}

TEST(PreprocessReference, RandomGeometries) {
  std::mt19937 rng(12345);
  for (int i = 0; i < 1500; ++i) {
    checkAgainstReference(randomOptions(rng), rng, "case " + std::to_string(i));
    if (HasFatalFailure()) return;
  }
}

TEST(PreprocessReference, EachFormatDtypeLayoutMode) {
  std::mt19937 rng(99);
  for (int f = 0; f < 8; ++f) {
    for (int d = 0; d < 4; ++d) {
      for (int m = 0; m < 3; ++m) {
        for (int c : {1, 3}) {
          PlanOptions o = randomOptions(rng, 24);
          o.format = static_cast<PixelFormat>(f);
          o.width = 12 + 2 * (rng() % 10);
          o.height = 8 + 2 * (rng() % 10);
          o.stride = 0;
          o.uvOffset = -1;
          o.roi = {};
          o.scanConvert = false;
          o.dtype = static_cast<DType>(d);
          o.resize = static_cast<ResizeMode>(m);
          o.channels = c;
          o.layout = static_cast<Layout>(rng() % 2);
          const float vmax = f == 1 ? 65535.0f : 255.0f;
          o.alpha[0] = o.alpha[1] = o.alpha[2] = d >= 2 ? 0.5f : 1.0f / vmax;
          o.beta[0] = o.beta[1] = o.beta[2] = d >= 2 ? 0.0f : -0.5f;
          if (d == 3) o.beta[0] = o.beta[1] = o.beta[2] = -64;
          checkAgainstReference(o, rng, "format " + std::to_string(f) + " dtype " +
                                            std::to_string(d) + " mode " + std::to_string(m));
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(PreprocessReference, SimdKernelShapesOfEveryFormat) {
  // Every format, 1 and 3 channels, through the SIMD kernels' own shapes
  // (random_options.h: simdShapeOptions), at every level, against the
  // reference-by-definition.
  std::mt19937 rng(1601);
  for (int f = 0; f < 8; ++f) {
    for (int c : {1, 3}) {
      for (int i = 0; i < 6; ++i) {
        const PlanOptions o = simdShapeOptions(rng, static_cast<PixelFormat>(f), c);
        checkAgainstReference(o, rng, "format " + std::to_string(f) + " " + std::to_string(c) +
                                          "ch case " + std::to_string(i));
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(PreprocessReference, ScanConversionModes) {
  std::mt19937 rng(5);
  for (int m = 0; m < 3; ++m) {
    for (int lb = 0; lb < 2; ++lb) {
      PlanOptions o;
      o.format = PixelFormat::kGray8;
      o.width = 64;   // scan lines
      o.height = 100;  // samples
      o.outWidth = 48;
      o.outHeight = 40;
      o.resize = static_cast<ResizeMode>(m);
      o.letterbox = lb;
      o.scanConvert = true;
      o.sector = {-0.7, 0.6, 5, 120};
      o.padValue = 3;
      checkAgainstReference(o, rng, "scan mode " + std::to_string(m));
      if (HasFatalFailure()) return;
    }
  }
}

TEST(PreprocessReference, WideFramesUseSeveralChunks) {
  // Source spans beyond the row buffers (2048 columns): several chunks, and
  // the per-pixel path when one output reads more than 2048 columns.
  std::mt19937 rng(77);
  struct Case { int w, ow; ResizeMode m; PixelFormat f; };
  const Case cases[] = {
      {5000, 3000, ResizeMode::kBilinear, PixelFormat::kGray8},
      {4500, 1500, ResizeMode::kArea, PixelFormat::kRgb8},
      {4100, 7, ResizeMode::kArea, PixelFormat::kGray8},
      {9000, 3, ResizeMode::kArea, PixelFormat::kYuyv},
      {3001, 1203, ResizeMode::kNearest, PixelFormat::kBgra8},
  };
  for (const Case& c : cases) {
    PlanOptions o;
    o.format = c.f;
    o.width = c.w + (c.f == PixelFormat::kYuyv ? c.w % 2 : 0);
    o.height = 3;
    o.outWidth = c.ow;
    o.outHeight = 2;
    o.resize = c.m;
    o.channels = 3;
    checkAgainstReference(o, rng, "wide " + std::to_string(c.w));
    if (HasFatalFailure()) return;
  }
}

TEST(PreprocessReference, TallAndLetterboxedBoxes) {
  // Integer-factor area beyond the 16-bit GRAY8 sums (fy > 128), and boxes
  // inside a letterbox, in every dtype.
  std::mt19937 rng(8);
  for (int d = 0; d < 4; ++d) {
    PlanOptions o;
    o.width = 64;
    o.height = 300;
    o.outWidth = 16;
    o.outHeight = 2;
    o.resize = ResizeMode::kArea;
    o.dtype = static_cast<DType>(d);
    if (d >= 2) o.alpha[0] = 0.5f;
    checkAgainstReference(o, rng, "tall box");
    o.height = 256;
    o.outWidth = 32;
    o.outHeight = 64;
    o.letterbox = true;  // content 16x64: boxes of 4x4
    o.padValue = 9;
    checkAgainstReference(o, rng, "letterboxed box");
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace testing
}  // namespace sonoedge
