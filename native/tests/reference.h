// A plain per-pixel implementation of docs/PREPROCESSING.md for the tests:
// written from the definition, sharing no code with native/core.
#pragma once

#include <cstdint>
#include <vector>

#include "preprocess.h"

namespace sonoedge {
namespace testing {

// The mapped value (out_c, before the dtype conversion) of every element of
// one batch slot, in the plan's layout order (C*H*W values).
std::vector<double> referenceSlot(const PlanOptions& o, const uint8_t* src);

// binary16 bits of a value, round to nearest even (from double).
uint16_t halfBits(double v);
double halfToDouble(uint16_t h);

// Compares batch slot n of a native output with the reference: float32 within
// 1e-5 * max(1, |ref|), float16 within one binary16 step, integers within 1.
// Returns the number of mismatches; describes the first in *first.
size_t compareSlot(const PlanOptions& o, const std::vector<double>& ref, const void* out,
                   int32_t n, std::string* first);

// Compares two native outputs (e.g. a SIMD level and scalar) element by element
// with the same tolerances.
size_t compareOutputs(DType dtype, const void* a, const void* b, size_t elements,
                      std::string* first);

}  // namespace testing
}  // namespace sonoedge
