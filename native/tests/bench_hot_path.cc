// Quick timing of the hot path (not a test): 1024x768 GRAY8 -> 256x256
// float32 NCHW, area and bilinear, at the scalar level and every SIMD level,
// beside a memcpy of the same input + output bytes. Median of many runs.
//   bench_hot_path [runs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "preprocess.h"

using namespace sonoedge;
using Clock = std::chrono::steady_clock;

template <class F>
double medianMicros(int runs, F f) {
  std::vector<double> t;
  for (int i = 0; i < runs + runs / 10; ++i) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  t.erase(t.begin(), t.begin() + runs / 10);  // warm-up
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 500;
  std::mt19937 rng(1);
  struct Case { PixelFormat f; int w, h, ow, oh, c; ResizeMode m; const char* name; };
  const Case cases[] = {
      {PixelFormat::kGray8, 1024, 768, 256, 256, 1, ResizeMode::kArea, "GRAY8 1024x768 -> 256x256 area"},
      {PixelFormat::kGray8, 1024, 768, 256, 256, 1, ResizeMode::kBilinear, "GRAY8 1024x768 -> 256x256 bilinear"},
      {PixelFormat::kRgb8, 1024, 768, 256, 256, 3, ResizeMode::kArea, "RGB8 1024x768 -> 3x256x256 area"},
      {PixelFormat::kYuyv, 1024, 768, 256, 256, 3, ResizeMode::kBilinear, "YUYV 1024x768 -> 3x256x256 bilinear"},
      {PixelFormat::kGray8, 640, 480, 224, 224, 1, ResizeMode::kArea, "GRAY8 640x480 -> 224x224 area"},
  };
  for (const Case& k : cases) {
    PlanOptions o;
    o.format = k.f;
    o.width = k.w;
    o.height = k.h;
    o.outWidth = k.ow;
    o.outHeight = k.oh;
    o.channels = k.c;
    o.resize = k.m;
    Status st;
    std::string msg;
    auto probe = Plan::compile(o, &st, &msg);
    std::vector<uint8_t> src(probe->requiredInputBytes());
    for (auto& b : src) b = static_cast<uint8_t>(rng());
    std::vector<float> out(probe->outputElements());
    std::vector<uint8_t> copyIn(src.size()), copyOut(probe->outputBytes());
    const double mc = medianMicros(runs, [&] {
      std::memcpy(copyIn.data(), src.data(), src.size());
      std::memcpy(copyOut.data(), out.data(), copyOut.size());
    });
    std::printf("%s (memcpy of %zu + %zu bytes: %.1f us)\n", k.name, src.size(), copyOut.size(), mc);
    for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kSse41, SimdLevel::kAvx2, SimdLevel::kNeon}) {
      o.simd = l;
      auto plan = Plan::compile(o, &st, &msg);
      if (!plan) continue;
      const double us = medianMicros(runs, [&] {
        plan->run(src.data(), src.size(), out.data(), out.size() * 4, 0, nullptr);
      });
      std::printf("  %-7s %8.1f us  (%.2fx memcpy)\n", simdLevelName(l), us, us / mc);
    }
  }
  return 0;
}
