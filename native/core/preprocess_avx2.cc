// sonoedge native core: the row pipeline compiled for avx2. Build this file
// with -mavx2 -mfma; without them it compiles to a stub that reports the level as
// unavailable, so every build links. The dispatcher (preprocess.cc) checks
// the CPU at run time before it uses this level.
#include <cstdint>
#include <cstring>

#include "preprocess_internal.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace sonoedge {
namespace detail {
namespace avx2 {
#define SONOEDGE_LEVEL_AVX2 1
#include "preprocess_rows.inc"
#undef SONOEDGE_LEVEL_AVX2

void run(const PlanData& p, const uint8_t* src, void* dst, int32_t n) {
  switch (p.path) {
    case Path::kRows: runRows(p, src, dst, n); break;
    case Path::kDirect: runDirect(p, src, dst, n); break;
    case Path::kLut: runLut(p, src, dst, n); break;
  }
}
}  // namespace avx2

RunFn runAvx2Fn() { return &avx2::run; }

}  // namespace detail
}  // namespace sonoedge

#else

namespace sonoedge {
namespace detail {
RunFn runAvx2Fn() { return nullptr; }
}  // namespace detail
}  // namespace sonoedge

#endif
