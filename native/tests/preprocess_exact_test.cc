// Small cases with hand-computed expectations (docs/PREPROCESSING.md).
#include <cmath>

#include "preprocess_internal.h"
#include "reference.h"
#include "test_util.h"

namespace sonoedge {
namespace testing {
namespace {

PlanOptions gray(int w, int h, int ow, int oh, ResizeMode mode) {
  PlanOptions o;
  o.width = w;
  o.height = h;
  o.outWidth = ow;
  o.outHeight = oh;
  o.resize = mode;
  o.alpha[0] = o.alpha[1] = o.alpha[2] = 1.0f;
  return o;
}

// Runs o at every available SIMD level; all must equal `want` within 1e-5.
void expectAllLevels(PlanOptions o, const std::vector<uint8_t>& src, const std::vector<float>& want) {
  for (SimdLevel l : availableLevels()) {
    o.simd = l;
    auto plan = mustCompile(o);
    ASSERT_TRUE(plan);
    auto got = asFloats(runInto(*plan, src));
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], 1e-5 * std::max(1.0f, std::fabs(want[i])))
          << "element " << i << " at " << simdLevelName(l);
    }
  }
}

const std::vector<uint8_t> k4x4 = {0, 10, 20, 30,  //
                                   40, 50, 60, 70,  //
                                   80, 90, 100, 110,  //
                                   120, 130, 140, 150};

TEST(PreprocessExact, AreaHalvesToBlockMeans) {
  expectAllLevels(gray(4, 4, 2, 2, ResizeMode::kArea), k4x4, {25, 45, 105, 125});
}

TEST(PreprocessExact, BilinearHalvesToBlockMeans) {
  // f = (i + 0.5) * 2 - 0.5 = 0.5 and 2.5: halfway between two samples.
  expectAllLevels(gray(4, 4, 2, 2, ResizeMode::kBilinear), k4x4, {25, 45, 105, 125});
}

TEST(PreprocessExact, NearestPicksCentres) {
  // k = floor((i + 0.5) * 2) = 1, 3.
  expectAllLevels(gray(4, 4, 2, 2, ResizeMode::kNearest), k4x4, {50, 70, 130, 150});
}

TEST(PreprocessExact, AreaFractionalFootprint) {
  // 3 -> 2: output 0 covers [0, 1.5): 2/3 of pixel 0 and 1/3 of pixel 1.
  expectAllLevels(gray(3, 1, 2, 1, ResizeMode::kArea), {0, 30, 60}, {10, 50});
}

TEST(PreprocessExact, AreaWholeFrameToOnePixel) {
  expectAllLevels(gray(4, 4, 1, 1, ResizeMode::kArea), k4x4, {75});
}

TEST(PreprocessExact, BilinearUpscaleClampsAtEdges) {
  // 2 -> 4: f = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
  expectAllLevels(gray(2, 1, 4, 1, ResizeMode::kBilinear), {0, 100}, {0, 25, 75, 100});
}

TEST(PreprocessExact, RoiSelectsTheBlock) {
  PlanOptions o = gray(4, 4, 2, 2, ResizeMode::kNearest);
  o.roi = {1, 2, 2, 2};
  expectAllLevels(o, k4x4, {90, 100, 130, 140});
}

TEST(PreprocessExact, RoiZeroSizeRunsToTheEdge) {
  PlanOptions o = gray(4, 4, 1, 1, ResizeMode::kArea);
  o.roi = {2, 2, 0, 0};  // columns 2..3, rows 2..3
  expectAllLevels(o, k4x4, {125});
}

TEST(PreprocessExact, LetterboxPadsTopAndBottom) {
  // 4x2 into 4x4: s = min(4/4, 4/2) = 1, content 4x2 at oy = 1.
  PlanOptions o = gray(4, 2, 4, 4, ResizeMode::kNearest);
  o.letterbox = true;
  o.padValue = 7;
  o.beta[0] = 1;
  std::vector<uint8_t> src = {1, 2, 3, 4, 5, 6, 7, 8};
  expectAllLevels(o, src, {8, 8, 8, 8, 2, 3, 4, 5, 6, 7, 8, 9, 8, 8, 8, 8});
}

TEST(PreprocessExact, ScaleAndOffsetPerChannel) {
  PlanOptions o = gray(1, 1, 1, 1, ResizeMode::kArea);
  o.channels = 3;
  o.alpha[0] = 2;
  o.alpha[1] = 0.5f;
  o.alpha[2] = -1;
  o.beta[0] = 1;
  o.beta[1] = 0;
  o.beta[2] = 300;
  expectAllLevels(o, {100}, {201, 50, 200});
}

TEST(PreprocessExact, LumaOfRgbAndBgr) {
  PlanOptions o = gray(1, 1, 1, 1, ResizeMode::kArea);
  o.format = PixelFormat::kRgb8;
  const float luma = 0.299f * 100 + 0.587f * 50 + 0.114f * 200;  // 82.05
  expectAllLevels(o, {100, 50, 200}, {luma});
  o.format = PixelFormat::kBgr8;
  expectAllLevels(o, {200, 50, 100}, {luma});
  o.format = PixelFormat::kBgra8;
  expectAllLevels(o, {200, 50, 100, 9}, {luma});
}

TEST(PreprocessExact, ChannelOrderBgrSwapsPlanes) {
  PlanOptions o = gray(1, 1, 1, 1, ResizeMode::kArea);
  o.format = PixelFormat::kRgba8;
  o.channels = 3;
  expectAllLevels(o, {10, 20, 30, 40}, {10, 20, 30});
  o.channelOrder = ChannelOrder::kBgr;
  expectAllLevels(o, {10, 20, 30, 40}, {30, 20, 10});
}

TEST(PreprocessExact, YuyvLimitedAndFull) {
  // Two pixels Y0=16 Y1=235, U=128 V=128: limited range maps to 0 and 255.
  PlanOptions o = gray(2, 1, 2, 1, ResizeMode::kNearest);
  o.format = PixelFormat::kYuyv;
  expectAllLevels(o, {16, 128, 235, 128}, {0, 255});
  o.yuvRange = YuvRange::kFull;
  expectAllLevels(o, {16, 128, 235, 128}, {16, 235});
  // Full-range colour: Y=100, U=128+10, V=128-20.
  o.channels = 3;
  o.outWidth = 1;
  o.width = 2;
  o.resize = ResizeMode::kNearest;
  PlanOptions one = o;
  one.roi = {0, 0, 1, 1};
  expectAllLevels(one, {100, 138, 100, 108},
                  {100 + 1.402f * -20, 100 - 0.344136f * 10 - 0.714136f * -20, 100 + 1.772f * 10});
}

TEST(PreprocessExact, Bt709Matrix) {
  // Y=100, U=128+10, V=128-20 through BT.709, full and limited range.
  PlanOptions o = gray(2, 1, 1, 1, ResizeMode::kNearest);
  o.format = PixelFormat::kYuyv;
  o.channels = 3;
  o.yuvMatrix = YuvMatrix::kBt709;
  o.roi = {0, 0, 1, 1};
  o.yuvRange = YuvRange::kFull;
  expectAllLevels(o, {100, 138, 100, 108},
                  {100 + 1.5748f * -20, 100 - 0.187324f * 10 - 0.468124f * -20, 100 + 1.8556f * 10});
  o.yuvRange = YuvRange::kLimited;
  const float y = 1.164383f * (100 - 16);
  expectAllLevels(o, {100, 138, 100, 108},
                  {y + 1.792741f * -20, y - 0.213249f * 10 - 0.532909f * -20, y + 2.112402f * 10});
}

TEST(PreprocessExact, Nv12ReadsChromaAtHalfResolution) {
  // 2x2 Y plane, one UV pair; full range, U = V = 128 so colour = Y.
  PlanOptions o = gray(2, 2, 2, 2, ResizeMode::kNearest);
  o.format = PixelFormat::kNv12;
  o.yuvRange = YuvRange::kFull;
  o.channels = 3;
  std::vector<uint8_t> src = {10, 20, 30, 40, 128, 128};
  expectAllLevels(o, src, {10, 20, 30, 40, 10, 20, 30, 40, 10, 20, 30, 40});
}

TEST(PreprocessExact, Gray16LittleEndian) {
  PlanOptions o = gray(2, 1, 2, 1, ResizeMode::kNearest);
  o.format = PixelFormat::kGray16;
  expectAllLevels(o, {0x34, 0x12, 0xFF, 0xFF}, {0x1234, 65535});
}

TEST(PreprocessExact, StrideSkipsPadding) {
  PlanOptions o = gray(2, 2, 2, 2, ResizeMode::kNearest);
  o.stride = 5;
  expectAllLevels(o, {1, 2, 99, 99, 99, 3, 4}, {1, 2, 3, 4});
}

TEST(PreprocessExact, NhwcInterleavesChannels) {
  PlanOptions o = gray(2, 1, 2, 1, ResizeMode::kNearest);
  o.format = PixelFormat::kRgb8;
  o.channels = 3;
  o.layout = Layout::kNHWC;
  expectAllLevels(o, {1, 2, 3, 4, 5, 6}, {1, 2, 3, 4, 5, 6});
  o.layout = Layout::kNCHW;
  expectAllLevels(o, {1, 2, 3, 4, 5, 6}, {1, 4, 2, 5, 3, 6});
}

TEST(PreprocessExact, BatchSlotLeavesOtherSlotsAlone) {
  PlanOptions o = gray(2, 1, 2, 1, ResizeMode::kNearest);
  o.batchSize = 3;
  auto plan = mustCompile(o);
  ASSERT_TRUE(plan);
  auto out = asFloats(runInto(*plan, {5, 6}, 1));
  float untouched;
  const uint32_t ab = 0xABABABABu;
  std::memcpy(&untouched, &ab, 4);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(std::memcmp(&out[0], &ab, 4), 0);
  EXPECT_EQ(std::memcmp(&out[1], &ab, 4), 0);
  EXPECT_EQ(out[2], 5);
  EXPECT_EQ(out[3], 6);
  EXPECT_EQ(std::memcmp(&out[4], &ab, 4), 0);
  EXPECT_EQ(std::memcmp(&out[5], &ab, 4), 0);
}

TEST(PreprocessExact, IntegerDtypesRoundHalfUpAndClamp) {
  PlanOptions o = gray(4, 1, 4, 1, ResizeMode::kNearest);
  o.alpha[0] = 0.5f;
  o.dtype = DType::kUint8;
  const std::vector<uint8_t> src = {5, 6, 0, 255};  // 2.5, 3, 0, 127.5
  for (SimdLevel l : availableLevels()) {
    o.simd = l;
    o.dtype = DType::kUint8;
    o.beta[0] = 0;
    auto plan = mustCompile(o);
    EXPECT_EQ(runInto(*plan, src), (std::vector<uint8_t>{3, 3, 0, 128}));
    o.beta[0] = 200;  // 202.5, 203, 200, 327.5 -> clamped
    plan = mustCompile(o);
    EXPECT_EQ(runInto(*plan, src), (std::vector<uint8_t>{203, 203, 200, 255}));
    o.dtype = DType::kInt8;
    o.beta[0] = -128;  // -125.5 -> -125, -125, -128, -0.5 -> 0
    plan = mustCompile(o);
    auto out = runInto(*plan, src);
    EXPECT_EQ((std::vector<int>{int8_t(out[0]), int8_t(out[1]), int8_t(out[2]), int8_t(out[3])}),
              (std::vector<int>{-125, -125, -128, 0}));
  }
}

TEST(PreprocessExact, Float16Bits) {
  PlanOptions o = gray(4, 1, 4, 1, ResizeMode::kNearest);
  o.dtype = DType::kFloat16;
  o.alpha[0] = 1.0f / 255.0f;
  auto plan = mustCompile(o);
  auto out = runInto(*plan, {0, 255, 51, 128});
  std::vector<uint16_t> h(4);
  std::memcpy(h.data(), out.data(), 8);
  EXPECT_EQ(h[0], 0x0000);
  EXPECT_EQ(h[1], 0x3C00);  // 1.0
  EXPECT_EQ(h[2], halfBits(51.0f / 255.0f));
  EXPECT_EQ(h[3], halfBits(128.0f / 255.0f));
}

TEST(PreprocessExact, FloatToHalfRoundsToNearestEven) {
  using detail::floatToHalf;
  EXPECT_EQ(floatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(floatToHalf(-2.0f), 0xC000);
  EXPECT_EQ(floatToHalf(65504.0f), 0x7BFF);
  EXPECT_EQ(floatToHalf(65519.0f), 0x7BFF);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7C00);  // ties to even: overflows
  EXPECT_EQ(floatToHalf(1e9f), 0x7C00);
  EXPECT_EQ(floatToHalf(-1e9f), 0xFC00);
  EXPECT_EQ(floatToHalf(1.0f + 1.0f / 2048), 0x3C00);  // tie, down to even
  EXPECT_EQ(floatToHalf(1.0f + 3.0f / 2048), 0x3C02);  // tie, up to even
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // tie, to even 0
  EXPECT_EQ(floatToHalf(std::ldexp(3.0f, -25)), 0x0002);
  EXPECT_EQ(floatToHalf(std::ldexp(1023.5f, -24)), 0x0400);  // rounds up into the normals
  std::mt19937 rng(7);
  for (int i = 0; i < 100000; ++i) {
    uint32_t bits = rng() & 0xBFFFFFFFu;  // finite, |x| < 2
    bits = (bits & 0x807FFFFFu) | ((100u + rng() % 60u) << 23);
    float f;
    std::memcpy(&f, &bits, 4);
    ASSERT_EQ(floatToHalf(f), halfBits(f)) << f;
  }
}

TEST(PreprocessExact, ScanConversionCentreLine) {
  // Symmetric sector, 3 scan lines; nearest. The output's centre column at
  // the bottom reads the centre line's deepest sample.
  PlanOptions o = gray(3, 2, 3, 3, ResizeMode::kNearest);
  o.scanConvert = true;
  o.sector = {-0.5, 0.5, 0, 10};
  o.padValue = -1;
  auto plan = mustCompile(o);
  auto out = asFloats(runInto(*plan, {1, 2, 3, 4, 5, 6}));
  auto ref = referenceSlot(o, std::vector<uint8_t>{1, 2, 3, 4, 5, 6}.data());
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], ref[i], 1e-5) << i;
  EXPECT_EQ(out[7], 5);    // (1, 2): bottom centre, line 1, sample 1
  EXPECT_EQ(out[0], -1);   // top-left: theta = atan2(-3.2, 1.7) < -0.5, outside
}

}  // namespace
}  // namespace testing
}  // namespace sonoedge
