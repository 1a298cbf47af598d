// sonoedge native core: the row pipeline compiled for neon. Build this file
// with nothing (NEON is part of aarch64); without them it compiles to a stub that reports the level as
// unavailable, so every build links. The dispatcher (preprocess.cc) checks
// the CPU at run time before it uses this level.
#include <cstdint>
#include <cstring>

#include "preprocess_internal.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

namespace sonoedge {
namespace detail {
namespace neon {
#define SONOEDGE_LEVEL_NEON 1
#include "preprocess_rows.inc"
#undef SONOEDGE_LEVEL_NEON

void run(const PlanData& p, const uint8_t* src, void* dst, int32_t n) {
  switch (p.path) {
    case Path::kRows: runRows(p, src, dst, n); break;
    case Path::kDirect: runDirect(p, src, dst, n); break;
    case Path::kLut: runLut(p, src, dst, n); break;
  }
}
}  // namespace neon

RunFn runNeonFn() { return &neon::run; }

}  // namespace detail
}  // namespace sonoedge

#else

namespace sonoedge {
namespace detail {
RunFn runNeonFn() { return nullptr; }
}  // namespace detail
}  // namespace sonoedge

#endif
