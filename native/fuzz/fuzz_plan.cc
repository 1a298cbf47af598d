// Fuzz target for the plan compiler and the kernels: derives PlanOptions and
// the frame bytes from the input, compiles, and runs every SIMD level the CPU
// supports when the plan is accepted. Built as a libFuzzer target with clang
// (-DSONOEDGE_LIBFUZZER=ON), otherwise with a standalone driver that feeds
// pseudo-random inputs, bounded by count and seconds:
//   fuzz_plan [--runs=N] [--seconds=S] [--seed=K] [--junit=FILE]
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "preprocess.h"

namespace {

struct Reader {
  const uint8_t* p;
  size_t n;
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      v = (v << 8) | (n ? (--n, *p++) : 0u);
    }
    return v;
  }
  uint8_t u8() { return n ? (--n, *p++) : 0; }
  // Mostly small values, sometimes anything (to reach the validation).
  int32_t dim(int32_t small) {
    const uint8_t mode = u8();
    if (mode < 200) return 1 + static_cast<int32_t>(u32() % static_cast<uint32_t>(small));
    if (mode < 250) return static_cast<int32_t>(u32() % 17000);
    return static_cast<int32_t>(u32());
  }
  double real(double lo, double hi) {
    const uint8_t mode = u8();
    if (mode == 255) return NAN;
    if (mode == 254) return INFINITY;
    return lo + (hi - lo) * (u32() / 4294967295.0);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sonoedge;
  Reader r{data, size};
  PlanOptions o;
  o.format = static_cast<PixelFormat>(r.u8() % 9);
  o.width = r.dim(48);
  o.height = r.dim(48);
  if (r.u8() % 2 == 0 && o.width % 2 && o.width < 65536) ++o.width;
  if (r.u8() % 2 == 0 && o.height % 2 && o.height < 65536) ++o.height;
  const uint8_t strideMode = r.u8();
  const int64_t multiple = static_cast<int64_t>(o.width) * (strideMode % 5);  // may be too small
  o.stride = strideMode < 128   ? 0
             : strideMode < 250 ? static_cast<int32_t>(multiple > 2147483647 ? 0 : multiple)
                                : static_cast<int32_t>(r.u32());
  const uint8_t uvMode = r.u8();
  o.uvOffset = uvMode < 200 ? -1 : static_cast<int64_t>(r.u32()) - 5;
  o.yuvRange = static_cast<YuvRange>(r.u8() % 3);
  o.yuvMatrix = static_cast<YuvMatrix>(r.u8() % 3);
  if (r.u8() % 2) {
    o.roi.x = static_cast<int32_t>(r.u32() % 64) - 2;
    o.roi.y = static_cast<int32_t>(r.u32() % 64) - 2;
    o.roi.width = static_cast<int32_t>(r.u32() % 64) - 2;
    o.roi.height = static_cast<int32_t>(r.u32() % 64) - 2;
  }
  o.scanConvert = r.u8() % 4 == 0;
  o.sector.angleStart = r.real(-1.7, 1.7);
  o.sector.angleEnd = r.real(-1.7, 1.7);
  o.sector.depthStart = r.real(-5, 100);
  o.sector.depthEnd = r.real(-5, 300);
  o.outWidth = r.dim(40);
  o.outHeight = r.dim(40);
  if (o.scanConvert && static_cast<int64_t>(o.outWidth) * o.outHeight > (1 << 18)) {
    // Keep the lookup table (built in compile) cheap; its limit is tested.
    o.outWidth = 1 + o.outWidth % 512;
    o.outHeight = 1 + o.outHeight % 512;
  }
  o.channels = static_cast<int32_t>(r.u8() % 4);
  o.channelOrder = static_cast<ChannelOrder>(r.u8() % 3);
  o.resize = static_cast<ResizeMode>(r.u8() % 4);
  o.letterbox = r.u8() % 2;
  o.padValue = static_cast<float>(r.real(-1e3, 1e3));
  for (int c = 0; c < 3; ++c) {
    o.alpha[c] = static_cast<float>(r.real(-1e3, 1e3));
    o.beta[c] = static_cast<float>(r.real(-1e3, 1e3));
  }
  o.dtype = static_cast<DType>(r.u8() % 5);
  o.layout = static_cast<Layout>(r.u8() % 3);
  o.batchSize = 1 + r.u8() % 4;
  o.simd = SimdLevel::kAuto;

  Status st;
  std::string msg;
  auto plan = Plan::compile(o, &st, &msg);
  if (!plan) {
    if (st == Status::kOk || msg.empty()) __builtin_trap();
    return 0;
  }
  // Keep each input cheap: the fuzzer is after memory errors, not big frames.
  if (plan->requiredInputBytes() > (1u << 22) || plan->outputBytes() > (1u << 22)) return 0;
  // The frame: the rest of the input, repeated, exactly requiredInputBytes
  // long (so any read past it is caught by ASan), in its own allocation.
  std::vector<uint8_t> frame(plan->requiredInputBytes());
  for (size_t i = 0; i < frame.size(); ++i) frame[i] = r.n ? r.p[i % r.n] : static_cast<uint8_t>(i);
  std::vector<uint8_t> out(plan->outputBytes());
  const int32_t slot = static_cast<int32_t>(frame.size() % static_cast<size_t>(o.batchSize));
  for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kSse41, SimdLevel::kAvx2, SimdLevel::kNeon}) {
    o.simd = l;
    auto p = Plan::compile(o, &st, &msg);
    if (!p) continue;
    if (p->run(frame.data(), frame.size(), out.data(), out.size(), slot, &msg) != Status::kOk) {
      __builtin_trap();
    }
    // A short input must be refused, not read.
    if (frame.size() > 0 &&
        p->run(frame.data(), frame.size() - 1, out.data(), out.size(), slot, &msg) !=
            Status::kBufferTooSmall) {
      __builtin_trap();
    }
  }
  return 0;
}

#if defined(SONOEDGE_FUZZ_STANDALONE)
int main(int argc, char** argv) {
  long runs = 10000;
  double seconds = 20;
  unsigned seed = 1;
  std::string junit;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--runs=", 0) == 0) runs = std::stol(a.substr(7));
    else if (a.rfind("--seconds=", 0) == 0) seconds = std::stod(a.substr(10));
    else if (a.rfind("--seed=", 0) == 0) seed = static_cast<unsigned>(std::stoul(a.substr(7)));
    else if (a.rfind("--junit=", 0) == 0) junit = a.substr(8);
    else {
      std::fprintf(stderr, "usage: fuzz_plan [--runs=N] [--seconds=S] [--seed=K] [--junit=FILE]\n");
      return 2;
    }
  }
  std::mt19937 rng(seed);
  const auto t0 = std::chrono::steady_clock::now();
  long done = 0;
  std::vector<uint8_t> input;
  double elapsed = 0;
  for (; done < runs; ++done) {
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (elapsed >= seconds) break;
    input.resize(rng() % 160);
    for (auto& b : input) b = static_cast<uint8_t>(rng());
    LLVMFuzzerTestOneInput(input.data(), input.size());
  }
  elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("fuzz_plan: %ld inputs in %.1f s (seed %u), no failure\n", done, elapsed, seed);
  if (!junit.empty()) {
    if (FILE* f = std::fopen(junit.c_str(), "w")) {
      std::fprintf(f,
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<testsuites tests=\"1\" failures=\"0\" errors=\"0\" time=\"%.3f\">\n"
                   "  <testsuite name=\"FuzzPlan\" tests=\"1\" failures=\"0\" errors=\"0\" "
                   "time=\"%.3f\">\n"
                   "    <testcase name=\"RandomInputs\" classname=\"FuzzPlan\" time=\"%.3f\">"
                   "<system-out>%ld inputs, seed %u</system-out></testcase>\n"
                   "  </testsuite>\n</testsuites>\n",
                   elapsed, elapsed, elapsed, done, seed);
      std::fclose(f);
    }
  }
  return 0;
}
#endif
