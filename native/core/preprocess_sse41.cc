// sonoedge native core: the row pipeline compiled for sse41. Build this file
// with -msse4.1; without them it compiles to a stub that reports the level as
// unavailable, so every build links. The dispatcher (preprocess.cc) checks
// the CPU at run time before it uses this level.
#include <cstdint>
#include <cstring>

#include "preprocess_internal.h"

#if defined(__SSE4_1__)
#include <smmintrin.h>

namespace sonoedge {
namespace detail {
namespace sse41 {
#define SONOEDGE_LEVEL_SSE41 1
#include "preprocess_rows.inc"
#undef SONOEDGE_LEVEL_SSE41

void run(const PlanData& p, const uint8_t* src, void* dst, int32_t n) {
  switch (p.path) {
    case Path::kRows: runRows(p, src, dst, n); break;
    case Path::kDirect: runDirect(p, src, dst, n); break;
    case Path::kLut: runLut(p, src, dst, n); break;
  }
}
}  // namespace sse41

RunFn runSse41Fn() { return &sse41::run; }

}  // namespace detail
}  // namespace sonoedge

#else

namespace sonoedge {
namespace detail {
RunFn runSse41Fn() { return nullptr; }
}  // namespace detail
}  // namespace sonoedge

#endif
