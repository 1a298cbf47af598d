// Golden vectors from the TypeScript reference (scripts/gen-preprocess-golden.mjs,
// written by `npm test` before the native suites and named by SONOEDGE_GOLDEN):
// every kernel family this CPU runs must reproduce them, natively and under
// qemu-aarch64, within 1e-5 relative (float32), 1 ULP (float16), 1 LSB (integers).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "preprocess.h"

namespace {

using sonoedge::Plan;
using sonoedge::PlanOptions;

struct GoldenCase {
  std::string name;
  PlanOptions opts;
  int32_t batchIndex = 0;
  std::vector<uint8_t> input, output;
};

std::vector<uint8_t> FromHex(const std::string& hex) {
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  return out;
}

bool Load(const std::string& path, std::vector<GoldenCase>* cases, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot open " + path;
    return false;
  }
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string tag;
    s >> tag;
    if (tag == "case") {
      cases->emplace_back();
      cases->back().name = line.substr(5);
    } else if (tag == "opts" && !cases->empty()) {
      PlanOptions& o = cases->back().opts;
      double v[33];
      for (double& x : v) s >> x;
      if (!s) {
        *error = "bad opts line in " + path;
        return false;
      }
      int i = 0;
      o.width = static_cast<int32_t>(v[i++]);
      o.height = static_cast<int32_t>(v[i++]);
      o.stride = static_cast<int32_t>(v[i++]);
      o.uvOffset = static_cast<int64_t>(v[i++]);
      o.format = static_cast<sonoedge::PixelFormat>(static_cast<int32_t>(v[i++]));
      o.yuvRange = static_cast<sonoedge::YuvRange>(static_cast<int32_t>(v[i++]));
      o.roi.x = static_cast<int32_t>(v[i++]);
      o.roi.y = static_cast<int32_t>(v[i++]);
      o.roi.width = static_cast<int32_t>(v[i++]);
      o.roi.height = static_cast<int32_t>(v[i++]);
      o.scanConvert = v[i++] != 0;
      o.sector.angleStart = v[i++];
      o.sector.angleEnd = v[i++];
      o.sector.depthStart = v[i++];
      o.sector.depthEnd = v[i++];
      o.outWidth = static_cast<int32_t>(v[i++]);
      o.outHeight = static_cast<int32_t>(v[i++]);
      o.channels = static_cast<int32_t>(v[i++]);
      o.channelOrder = static_cast<sonoedge::ChannelOrder>(static_cast<int32_t>(v[i++]));
      o.resize = static_cast<sonoedge::ResizeMode>(static_cast<int32_t>(v[i++]));
      o.letterbox = v[i++] != 0;
      o.padValue = static_cast<float>(v[i++]);
      for (float& a : o.alpha) a = static_cast<float>(v[i++]);
      for (float& b : o.beta) b = static_cast<float>(v[i++]);
      o.dtype = static_cast<sonoedge::DType>(static_cast<int32_t>(v[i++]));
      o.layout = static_cast<sonoedge::Layout>(static_cast<int32_t>(v[i++]));
      o.batchSize = static_cast<int32_t>(v[i++]);
      cases->back().batchIndex = static_cast<int32_t>(v[i++]);
      o.yuvMatrix = static_cast<sonoedge::YuvMatrix>(static_cast<int32_t>(v[i++]));
    } else if (tag == "input" && !cases->empty()) {
      std::string hex;
      s >> hex;
      cases->back().input = FromHex(hex);
    } else if (tag == "output" && !cases->empty()) {
      std::string hex;
      s >> hex;
      cases->back().output = FromHex(hex);
    }
  }
  return true;
}

float HalfToFloat(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exp = (h >> 10) & 0x1F;
  const int mant = h & 0x3FF;
  if (exp == 0) return sign * std::ldexp(static_cast<float>(mant), -24);
  if (exp == 31) return mant ? NAN : sign * INFINITY;
  return sign * std::ldexp(static_cast<float>(mant | 0x400), exp - 25);
}

// Largest disagreement in units of the tolerance; <= 1 passes.
double Worst(sonoedge::DType dtype, const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, size_t* at) {
  double worst = 0;
  const size_t n = got.size() / sonoedge::dtypeSize(dtype);
  for (size_t i = 0; i < n; ++i) {
    double r = 0;
    switch (dtype) {
      case sonoedge::DType::kFloat32: {
        float a, b;
        std::memcpy(&a, &got[4 * i], 4);
        std::memcpy(&b, &want[4 * i], 4);
        r = std::fabs(static_cast<double>(a) - b) / (1e-5 * std::max(1.0, std::fabs(static_cast<double>(b))));
        if (std::isnan(a) != std::isnan(b)) r = INFINITY;
        break;
      }
      case sonoedge::DType::kFloat16: {
        uint16_t a, b;
        std::memcpy(&a, &got[2 * i], 2);
        std::memcpy(&b, &want[2 * i], 2);
        // One ULP (adjacent binary16 values of one sign differ by 1 in their
        // bits), or the float32 tolerance where cancellation near zero leaves
        // float32 noise spanning several tiny half ULPs.
        const double fa = HalfToFloat(a), fb = HalfToFloat(b);
        const bool adjacent = (a >> 15) == (b >> 15) && std::abs(static_cast<int>(a) - static_cast<int>(b)) <= 1;
        r = adjacent || fa == fb ? 0 : std::fabs(fa - fb) / (1e-5 * std::max(1.0, std::fabs(fb)));
        break;
      }
      case sonoedge::DType::kUint8:
        r = std::abs(static_cast<int>(got[i]) - static_cast<int>(want[i]));
        break;
      case sonoedge::DType::kInt8:
        r = std::abs(static_cast<int>(static_cast<int8_t>(got[i])) - static_cast<int>(static_cast<int8_t>(want[i])));
        break;
    }
    if (r > worst) {
      worst = r;
      *at = i;
    }
  }
  return worst;
}

TEST(Golden, EveryKernelFamilyMatchesTheTypeScriptReference) {
  const char* path = std::getenv("SONOEDGE_GOLDEN");
  if (path == nullptr) GTEST_SKIP() << "SONOEDGE_GOLDEN not set (npm test sets it)";
  std::vector<GoldenCase> cases;
  std::string error;
  ASSERT_TRUE(Load(path, &cases, &error)) << error;
  ASSERT_GE(cases.size(), 20u);
  std::vector<sonoedge::SimdLevel> levels = {sonoedge::SimdLevel::kScalar};
  if (sonoedge::bestSimdLevel() != sonoedge::SimdLevel::kScalar) levels.push_back(sonoedge::bestSimdLevel());
  for (const GoldenCase& c : cases) {
    for (sonoedge::SimdLevel level : levels) {
      PlanOptions o = c.opts;
      o.simd = level;
      sonoedge::Status status;
      std::string message;
      auto plan = Plan::compile(o, &status, &message);
      ASSERT_NE(plan, nullptr) << c.name << ": " << message;
      ASSERT_EQ(plan->outputBytes(), c.output.size()) << c.name;
      std::vector<uint8_t> got(c.output.size(), 0x5A);
      ASSERT_EQ(plan->run(c.input.data(), c.input.size(), got.data(), got.size(), c.batchIndex, &message),
                sonoedge::Status::kOk)
          << c.name << ": " << message;
      size_t at = 0;
      EXPECT_LE(Worst(o.dtype, got, c.output, &at), 1.0)
          << c.name << " [" << sonoedge::simdLevelName(level) << "] first worst element " << at;
    }
  }
}

}  // namespace
