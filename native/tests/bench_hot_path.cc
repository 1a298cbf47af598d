// Quick timing of the hot path (not a test): 1024x768 GRAY8 -> 256x256
// float32 NCHW, area and bilinear, at the scalar level and every SIMD level,
// beside a memcpy of the same input + output bytes. Median of many runs.
//   bench_hot_path [runs]
// With --table: every pixel format x frame size (640x480, 1024x768,
// 1920x1080) x output (112, 128, 224, 256 square), area, ImageNet mean/std,
// float32 NCHW (3 channels except GRAY8), at the best level and the scalar
// one, against memcpy: the rows of docs/BENCHMARKS.md's preprocessing table
// without Node in between.
//   bench_hot_path --table [runs] [FORMAT] [tinted]
// tinted: YUYV and NV12 frames of in-range content (Y 60-190, U and V
// 118-138: no pixel's R, G or B clamps, as in gray or mildly coloured video)
// instead of random bytes, whose saturated colours clamp almost everywhere.
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

// The median and the fastest of `runs` timed calls of f (after runs / 10 warm-up calls), in microseconds. On a
// shared machine the fastest run is the better estimate of the uncontended time.
struct Micros {
  double median;
  double min;
};

template <class F>
Micros timeMicros(int runs, F f) {
  std::vector<double> t;
  for (int i = 0; i < runs + runs / 10; ++i) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  t.erase(t.begin(), t.begin() + runs / 10);  // warm-up
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front()};
}

// A plan's input filled with random bytes, and the memcpy floor both tables compare against: the median and the
// fastest time to copy that input and the plan's output bytes once each.
struct Floor {
  std::vector<uint8_t> src;
  Micros us;
};

Floor memcpyFloor(const Plan& plan, int runs, std::mt19937& rng, const PlanOptions* tinted = nullptr) {
  Floor fl{std::vector<uint8_t>(plan.requiredInputBytes()), {0, 0}};
  for (auto& b : fl.src) b = static_cast<uint8_t>(rng());
  if (tinted) {  // YUYV: Y at even bytes; NV12: the Y plane, then U, V
    const size_t yBytes = static_cast<size_t>(tinted->width) * tinted->height;
    for (size_t i = 0; i < fl.src.size(); ++i) {
      const bool luma = tinted->format == PixelFormat::kYuyv ? i % 2 == 0 : i < yBytes;
      fl.src[i] = static_cast<uint8_t>(luma ? 60 + rng() % 131 : 118 + rng() % 21);
    }
  }
  std::vector<uint8_t> copyIn(fl.src.size()), from(plan.outputBytes()), copyOut(plan.outputBytes());
  fl.us = timeMicros(runs, [&] {
    std::memcpy(copyIn.data(), fl.src.data(), fl.src.size());
    std::memcpy(copyOut.data(), from.data(), copyOut.size());
  });
  return fl;
}

int table(int runs, const char* only, bool tinted) {
  std::mt19937 rng(1);
  const PixelFormat formats[] = {PixelFormat::kGray8, PixelFormat::kRgb8,  PixelFormat::kBgr8,
                                 PixelFormat::kRgba8, PixelFormat::kBgra8, PixelFormat::kYuyv,
                                 PixelFormat::kNv12};
  const char* names[] = {"GRAY8", "GRAY16", "RGB8", "BGR8", "RGBA8", "BGRA8", "YUYV", "NV12"};
  const int sizes[][2] = {{640, 480}, {1024, 768}, {1920, 1080}};
  // Minima beside the medians (see Micros).
  std::printf("| frame | format | out | best level | us (min) | scalar us | memcpy us (min) | best/memcpy (of minima) |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (PixelFormat f : formats) {
    const char* name = names[static_cast<int>(f)];
    if (only && std::strcmp(only, name) != 0) continue;
    for (const auto& sz : sizes) {
      for (int out : {112, 128, 224, 256}) {
        PlanOptions o;
        o.format = f;
        o.width = sz[0];
        o.height = sz[1];
        o.outWidth = o.outHeight = out;
        o.channels = f == PixelFormat::kGray8 ? 1 : 3;
        o.resize = ResizeMode::kArea;
        const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
        for (int c = 0; c < 3; ++c) {
          o.alpha[c] = 1.0f / 255.0f / sd[c];
          o.beta[c] = -mean[c] / sd[c];
        }
        Status st;
        std::string msg;
        auto best = Plan::compile(o, &st, &msg);
        o.simd = SimdLevel::kScalar;
        auto scalar = Plan::compile(o, &st, &msg);
        const bool yuv = f == PixelFormat::kYuyv || f == PixelFormat::kNv12;
        const Floor fl = memcpyFloor(*best, runs, rng, tinted && yuv ? &o : nullptr);
        const std::vector<uint8_t>& src = fl.src;
        const double mc = fl.us.median, mcMin = fl.us.min;
        std::vector<float> dst(best->outputElements());
        const Micros b = timeMicros(runs, [&] {
          best->run(src.data(), src.size(), dst.data(), dst.size() * 4, 0, nullptr);
        });
        const double us = b.median, usMin = b.min;
        const double ss = timeMicros(runs / 5 + 1, [&] {
          scalar->run(src.data(), src.size(), dst.data(), dst.size() * 4, 0, nullptr);
        }).median;
        std::printf("| %dx%d | %s | %d | %s | %.0f (%.0f) | %.0f | %.0f (%.0f) | %.2f (%.2f) |\n", sz[0],
                    sz[1], name, out, simdLevelName(best->simdLevel()), us, usMin, ss, mc, mcMin,
                    us / mc, usMin / mcMin);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--table") == 0) {
    return table(argc > 2 ? std::atoi(argv[2]) : 100, argc > 3 ? argv[3] : nullptr,
                 argc > 4 && std::strcmp(argv[4], "tinted") == 0);
  }
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
    const Floor fl = memcpyFloor(*probe, runs, rng);
    const std::vector<uint8_t>& src = fl.src;
    const double mc = fl.us.median;
    std::vector<float> out(probe->outputElements());
    std::printf("%s (memcpy of %zu + %zu bytes: %.1f us)\n", k.name, src.size(), probe->outputBytes(), mc);
    for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kSse41, SimdLevel::kAvx2, SimdLevel::kNeon}) {
      o.simd = l;
      auto plan = Plan::compile(o, &st, &msg);
      if (!plan) continue;
      const double us = timeMicros(runs, [&] {
        plan->run(src.data(), src.size(), out.data(), out.size() * 4, 0, nullptr);
      }).median;
      std::printf("  %-7s %8.1f us  (%.2fx memcpy)\n", simdLevelName(l), us, us / mc);
    }
  }
  return 0;
}
