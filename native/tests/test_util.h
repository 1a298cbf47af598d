// Helpers shared by the core tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "preprocess.h"

namespace sonoedge {
namespace testing {

inline std::unique_ptr<Plan> mustCompile(const PlanOptions& o) {
  Status st;
  std::string msg;
  auto plan = Plan::compile(o, &st, &msg);
  EXPECT_TRUE(plan != nullptr) << msg;
  EXPECT_EQ(st, Status::kOk);
  return plan;
}

// Runs a plan on src into a fresh output (every byte 0xAB first) for slot n.
inline std::vector<uint8_t> runInto(const Plan& plan, const std::vector<uint8_t>& src,
                                    int32_t n = 0) {
  std::vector<uint8_t> out(plan.outputBytes(), 0xAB);
  std::string msg;
  EXPECT_EQ(plan.run(src.data(), src.size(), out.data(), out.size(), n, &msg), Status::kOk)
      << msg;
  return out;
}

inline std::vector<float> asFloats(const std::vector<uint8_t>& b) {
  std::vector<float> f(b.size() / 4);
  std::memcpy(f.data(), b.data(), f.size() * 4);
  return f;
}

// Every SIMD level this CPU and build can run (scalar first).
inline std::vector<SimdLevel> availableLevels() {
  std::vector<SimdLevel> r;
  for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kSse41, SimdLevel::kAvx2, SimdLevel::kNeon}) {
    PlanOptions o;
    o.width = o.height = o.outWidth = o.outHeight = 1;
    o.simd = l;
    Status st;
    std::string msg;
    if (Plan::compile(o, &st, &msg)) r.push_back(l);
  }
  return r;
}

inline std::vector<uint8_t> randomBytes(std::mt19937& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

}  // namespace testing
}  // namespace sonoedge
