// Every option the compiler rejects, with its exact status and message; and
// run() with short or mismatched buffers.
#include <cmath>
#include <functional>
#include <limits>

#include "test_util.h"

namespace sonoedge {
namespace testing {
namespace {

PlanOptions valid() {
  PlanOptions o;
  o.width = 640;
  o.height = 480;
  o.outWidth = 256;
  o.outHeight = 256;
  return o;
}

struct BadCase {
  const char* name;
  std::function<void(PlanOptions&)> change;
  Status status;
  const char* message;
};

TEST(PreprocessErrors, CompilerRejectsWithExactMessages) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const BadCase cases[] = {
      {"format", [](PlanOptions& o) { o.format = static_cast<PixelFormat>(9); },
       Status::kInvalidArgument,
       "Expected 0 (GRAY8), 1 (GRAY16), 2 (RGB8), 3 (BGR8), 4 (RGBA8), 5 (BGRA8), 6 (YUYV) or "
       "7 (NV12) for format but received 9"},
      {"width 0", [](PlanOptions& o) { o.width = 0; }, Status::kInvalidArgument,
       "Expected integer between 1 and 16384 for width but received 0"},
      {"width huge", [](PlanOptions& o) { o.width = 16385; }, Status::kInvalidArgument,
       "Expected integer between 1 and 16384 for width but received 16385"},
      {"height", [](PlanOptions& o) { o.height = -3; }, Status::kInvalidArgument,
       "Expected integer between 1 and 16384 for height but received -3"},
      {"yuyv odd width",
       [](PlanOptions& o) { o.format = PixelFormat::kYuyv; o.width = 641; },
       Status::kInvalidArgument, "Expected even integer (YUYV) for width but received 641"},
      {"nv12 odd height",
       [](PlanOptions& o) { o.format = PixelFormat::kNv12; o.height = 479; },
       Status::kInvalidArgument, "Expected even integer (NV12) for height but received 479"},
      {"stride", [](PlanOptions& o) { o.format = PixelFormat::kRgb8; o.stride = 100; },
       Status::kInvalidArgument,
       "Expected 0 or an integer of at least 1920 (width 640 * 3 bytes for RGB8) for stride but "
       "received 100"},
      {"stride negative", [](PlanOptions& o) { o.stride = -1; }, Status::kInvalidArgument,
       "Expected 0 or an integer of at least 640 (width 640 * 1 bytes for GRAY8) for stride but "
       "received -1"},
      {"uvOffset",
       [](PlanOptions& o) { o.format = PixelFormat::kNv12; o.uvOffset = 1000; },
       Status::kInvalidArgument,
       "Expected -1 or an integer between 307200 (the end of the Y plane) and 9007199254740991 "
       "for uvOffset but received 1000"},
      {"yuvRange", [](PlanOptions& o) { o.yuvRange = static_cast<YuvRange>(2); },
       Status::kInvalidArgument, "Expected 0 (limited) or 1 (full) for yuvRange but received 2"},
      {"yuvMatrix", [](PlanOptions& o) { o.yuvMatrix = static_cast<YuvMatrix>(2); },
       Status::kInvalidArgument, "Expected 0 (bt601) or 1 (bt709) for yuvMatrix but received 2"},
      {"roi outside", [](PlanOptions& o) { o.roi = {600, 0, 100, 480}; },
       Status::kInvalidArgument,
       "Expected roi inside the 640x480 frame but received roi {x: 600, y: 0, width: 100, "
       "height: 480}"},
      {"roi negative", [](PlanOptions& o) { o.roi = {-1, 0, 10, 10}; },
       Status::kInvalidArgument,
       "Expected roi inside the 640x480 frame but received roi {x: -1, y: 0, width: 10, "
       "height: 10}"},
      {"roi at edge", [](PlanOptions& o) { o.roi = {640, 0, 0, 0}; }, Status::kInvalidArgument,
       "Expected roi inside the 640x480 frame but received roi {x: 640, y: 0, width: 0, "
       "height: 0}"},
      {"roi negative size", [](PlanOptions& o) { o.roi = {0, 0, -5, 10}; },
       Status::kInvalidArgument,
       "Expected roi inside the 640x480 frame but received roi {x: 0, y: 0, width: -5, "
       "height: 10}"},
      {"outWidth", [](PlanOptions& o) { o.outWidth = 0; }, Status::kInvalidArgument,
       "Expected integer between 1 and 16384 for outWidth but received 0"},
      {"outHeight", [](PlanOptions& o) { o.outHeight = 20000; }, Status::kInvalidArgument,
       "Expected integer between 1 and 16384 for outHeight but received 20000"},
      {"channels", [](PlanOptions& o) { o.channels = 2; }, Status::kInvalidArgument,
       "Expected 1 or 3 for channels but received 2"},
      {"channelOrder", [](PlanOptions& o) { o.channelOrder = static_cast<ChannelOrder>(5); },
       Status::kInvalidArgument, "Expected 0 (rgb) or 1 (bgr) for channelOrder but received 5"},
      {"resize", [](PlanOptions& o) { o.resize = static_cast<ResizeMode>(3); },
       Status::kInvalidArgument,
       "Expected 0 (nearest), 1 (bilinear) or 2 (area) for resize but received 3"},
      {"dtype", [](PlanOptions& o) { o.dtype = static_cast<DType>(-1); },
       Status::kInvalidArgument,
       "Expected 0 (float32), 1 (float16), 2 (uint8) or 3 (int8) for dtype but received -1"},
      {"layout", [](PlanOptions& o) { o.layout = static_cast<Layout>(2); },
       Status::kInvalidArgument, "Expected 0 (NCHW) or 1 (NHWC) for layout but received 2"},
      {"batchSize", [](PlanOptions& o) { o.batchSize = 1025; }, Status::kInvalidArgument,
       "Expected integer between 1 and 1024 for batchSize but received 1025"},
      {"padValue", [nan](PlanOptions& o) { o.padValue = nan; }, Status::kInvalidArgument,
       "Expected finite number for padValue but received NaN"},
      {"alpha", [inf](PlanOptions& o) { o.alpha[1] = inf; }, Status::kInvalidArgument,
       "Expected finite number for alpha[1] but received Infinity"},
      {"beta", [nan](PlanOptions& o) { o.beta[2] = nan; }, Status::kInvalidArgument,
       "Expected finite number for beta[2] but received NaN"},
      {"sector angles",
       [](PlanOptions& o) { o.scanConvert = true; o.sector = {0.5, 0.2, 0, 100}; },
       Status::kInvalidArgument,
       "Expected finite numbers with -pi/2 < angleStart < angleEnd < pi/2 for sector angles but "
       "received angleStart 0.5, angleEnd 0.2"},
      {"sector angle beyond pi/2",
       [](PlanOptions& o) { o.scanConvert = true; o.sector = {-2, 0.5, 0, 100}; },
       Status::kInvalidArgument,
       "Expected finite numbers with -pi/2 < angleStart < angleEnd < pi/2 for sector angles but "
       "received angleStart -2, angleEnd 0.5"},
      {"sector depths",
       [](PlanOptions& o) { o.scanConvert = true; o.sector = {-0.5, 0.5, 10, 5}; },
       Status::kInvalidArgument,
       "Expected finite numbers with 0 <= depthStart < depthEnd <= 1000000 for sector depths "
       "but received depthStart 10, depthEnd 5"},
      {"sector nan",
       [](PlanOptions& o) { o.scanConvert = true; o.sector = {-0.5, 0.5, 0, NAN}; },
       Status::kInvalidArgument,
       "Expected finite numbers with 0 <= depthStart < depthEnd <= 1000000 for sector depths "
       "but received depthStart 0, depthEnd NaN"},
      {"scan roi",
       [](PlanOptions& o) {
         o.scanConvert = true;
         o.sector = {-0.5, 0.5, 0, 100};
         o.roi = {3, 0, 1, 0};
       },
       Status::kInvalidArgument,
       "Expected roi of at least 2x2 (scan lines x samples) for scanConvert but received roi of "
       "1x480"},
      {"scan size",
       [](PlanOptions& o) {
         o.scanConvert = true;
         o.sector = {-0.5, 0.5, 0, 100};
         o.outWidth = o.outHeight = 8192;
       },
       Status::kInvalidArgument,
       "Expected outWidth * outHeight of at most 16777216 for scanConvert but received 67108864"},
      {"simd value", [](PlanOptions& o) { o.simd = static_cast<SimdLevel>(7); },
       Status::kInvalidArgument,
       "Expected 0 (auto), 1 (scalar), 2 (sse41), 3 (avx2) or 4 (neon) for simd but received 7"},
  };
  for (const BadCase& c : cases) {
    PlanOptions o = valid();
    c.change(o);
    Status st = Status::kOk;
    std::string msg;
    auto plan = Plan::compile(o, &st, &msg);
    EXPECT_EQ(plan, nullptr) << c.name;
    EXPECT_EQ(st, c.status) << c.name;
    EXPECT_EQ(msg, c.message) << c.name;
  }
}

TEST(PreprocessErrors, UnsupportedSimdLevel) {
  PlanOptions o = valid();
#if defined(__aarch64__)
  o.simd = SimdLevel::kAvx2;
  const char* name = "avx2";
#else
  o.simd = SimdLevel::kNeon;
  const char* name = "neon";
#endif
  Status st;
  std::string msg;
  EXPECT_EQ(Plan::compile(o, &st, &msg), nullptr);
  EXPECT_EQ(st, Status::kUnsupported);
  std::string have = "scalar";
  for (SimdLevel l : availableLevels()) {
    if (l != SimdLevel::kScalar) have += std::string(", ") + simdLevelName(l);
  }
  EXPECT_EQ(msg, "Expected a SIMD level this CPU and build support (" + have +
                     ") for simd but received " + name);
}

TEST(PreprocessErrors, NullStatusAndMessageAreAllowed) {
  PlanOptions o = valid();
  o.width = 0;
  EXPECT_EQ(Plan::compile(o, nullptr, nullptr), nullptr);
}

TEST(PreprocessErrors, RunChecksBuffers) {
  PlanOptions o = valid();
  o.format = PixelFormat::kRgb8;
  o.stride = 2000;
  o.batchSize = 2;
  auto plan = mustCompile(o);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->requiredInputBytes(), 2000u * 479 + 1920);
  EXPECT_EQ(plan->outputElements(), 2u * 1 * 256 * 256);
  EXPECT_EQ(plan->outputBytes(), 2u * 256 * 256 * 4);
  std::vector<uint8_t> src(plan->requiredInputBytes());
  std::vector<uint8_t> dst(plan->outputBytes());
  std::string msg;
  EXPECT_EQ(plan->run(src.data(), src.size() - 1, dst.data(), dst.size(), 0, &msg),
            Status::kBufferTooSmall);
  EXPECT_EQ(msg,
            "Expected input of at least 959920 bytes (640x480 RGB8, stride 2000) but received "
            "959919 bytes");
  EXPECT_EQ(plan->run(nullptr, 0, dst.data(), dst.size(), 0, &msg), Status::kBufferTooSmall);
  EXPECT_EQ(msg,
            "Expected input of at least 959920 bytes (640x480 RGB8, stride 2000) but received no "
            "buffer");
  EXPECT_EQ(plan->run(src.data(), src.size(), dst.data(), dst.size() - 4, 0, &msg),
            Status::kOutputMismatch);
  EXPECT_EQ(msg,
            "Expected output of exactly 524288 bytes (2x1x256x256 float32) but received 524284 "
            "bytes");
  EXPECT_EQ(plan->run(src.data(), src.size(), dst.data(), dst.size() + 4, 0, &msg),
            Status::kOutputMismatch);
  EXPECT_EQ(plan->run(src.data(), src.size(), nullptr, dst.size(), 0, &msg),
            Status::kOutputMismatch);
  EXPECT_EQ(plan->run(src.data(), src.size(), dst.data(), dst.size(), 2, &msg),
            Status::kInvalidArgument);
  EXPECT_EQ(msg, "Expected integer between 0 and 1 for batchIndex but received 2");
  EXPECT_EQ(plan->run(src.data(), src.size(), dst.data(), dst.size(), -1, nullptr),
            Status::kInvalidArgument);
  EXPECT_EQ(plan->run(src.data(), src.size(), dst.data(), dst.size(), 1, &msg), Status::kOk);
  EXPECT_EQ(msg, "");
}

TEST(PreprocessErrors, Nv12RequiredBytes) {
  PlanOptions o = valid();
  o.format = PixelFormat::kNv12;
  auto plan = mustCompile(o);
  EXPECT_EQ(plan->requiredInputBytes(), 640u * 480 + 640 * 239 + 640);
  o.uvOffset = 700 * 480 + 64;
  o.stride = 700;
  plan = mustCompile(o);
  EXPECT_EQ(plan->requiredInputBytes(), (700u * 480 + 64) + 700 * 239 + 640);
}

TEST(PreprocessErrors, LargestDimensionsCompile) {
  PlanOptions o = valid();
  o.width = o.height = 16384;
  o.outWidth = o.outHeight = 16384;
  o.batchSize = 1024;
  o.channels = 3;
  auto plan = mustCompile(o);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->outputElements(), 1024ull * 3 * 16384 * 16384);
}

}  // namespace
}  // namespace testing
}  // namespace sonoedge
