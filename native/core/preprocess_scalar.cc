// sonoedge native core: the portable kernels. The row pipeline at the scalar
// level, the per-pixel definition (for plans whose taps exceed the row
// buffers), the scan-conversion kernel, padding and the dtype/layout stores
// that every SIMD level shares.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "preprocess_internal.h"

namespace sonoedge {
namespace detail {
namespace scalar {
#define SONOEDGE_LEVEL_SCALAR 1
#include "preprocess_rows.inc"
#undef SONOEDGE_LEVEL_SCALAR
}  // namespace scalar

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u);  // NaN
  if (ax >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65536: inf
  if (ax < 0x38800000u) {  // below 2^-14: subnormal half, exact scaling then RNE
    float a;
    std::memcpy(&a, &ax, 4);
    const float m = std::nearbyint(a * 16777216.0f);  // a * 2^24, at most 1024
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(m));
  }
  const uint32_t e = (ax >> 23) - 127 + 15;
  const uint32_t mant = ax & 0x7FFFFFu;
  uint32_t h = (e << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // carries into the exponent, up to inf
  return static_cast<uint16_t>(sign | h);
}

namespace {

inline void put(void* dst, size_t idx, DType dtype, float v) {
  switch (dtype) {
    case DType::kFloat32: {
      std::memcpy(static_cast<uint8_t*>(dst) + idx * 4, &v, 4);
      break;
    }
    case DType::kFloat16: {
      const uint16_t h = floatToHalf(v);
      std::memcpy(static_cast<uint8_t*>(dst) + idx * 2, &h, 2);
      break;
    }
    case DType::kUint8: {
      double r = std::floor(static_cast<double>(v) + 0.5);
      if (!(r >= 0.0)) r = 0.0;
      if (r > 255.0) r = 255.0;
      static_cast<uint8_t*>(dst)[idx] = static_cast<uint8_t>(r);
      break;
    }
    case DType::kInt8: {
      double r = std::floor(static_cast<double>(v) + 0.5);
      if (!(r >= -128.0)) r = -128.0;
      if (r > 127.0) r = 127.0;
      static_cast<int8_t*>(dst)[idx] = static_cast<int8_t>(r);
      break;
    }
  }
}

// Element index of (n, c, y, x) and the step between neighbouring x.
inline size_t indexOf(const PlanData& p, int32_t n, int32_t c, int32_t y, int32_t x,
                      size_t* step) {
  const size_t C = static_cast<size_t>(p.channels), H = static_cast<size_t>(p.outH),
               W = static_cast<size_t>(p.outW);
  if (p.layout == Layout::kNCHW) {
    *step = 1;
    return ((static_cast<size_t>(n) * C + c) * H + y) * W + x;
  }
  *step = C;
  return ((static_cast<size_t>(n) * H + y) * W + x) * C + c;
}

void storeConst(const PlanData& p, void* dst, int32_t n, int32_t c, int32_t y, int32_t x,
                float v, int32_t count) {
  size_t step;
  size_t idx = indexOf(p, n, c, y, x, &step);
  for (int32_t i = 0; i < count; ++i, idx += step) put(dst, idx, p.dtype, v);
}

// Source values of ROI pixel (k, l): v[0] (one plane) or v[0..2] = R, G, B.
void pixelValues(const PlanData& p, const uint8_t* src, int32_t k, int32_t l, float* v) {
  using namespace scalar;
  const int32_t x = p.rx + k, y = p.ry + l;
  const uint8_t* row = src + static_cast<size_t>(y) * p.stride;
  float in[3] = {0, 0, 0};
  bool yuv = false;
  switch (p.format) {
    case PixelFormat::kGray8:
      v[0] = row[x];
      return;
    case PixelFormat::kGray16:
      v[0] = static_cast<float>(row[2 * x] | (row[2 * x + 1] << 8));
      return;
    case PixelFormat::kRgb8:
    case PixelFormat::kBgr8:
    case PixelFormat::kRgba8:
    case PixelFormat::kBgra8: {
      const int32_t bpp = p.bpp;
      const uint8_t* px = row + static_cast<size_t>(x) * bpp;
      const bool bgr = p.format == PixelFormat::kBgr8 || p.format == PixelFormat::kBgra8;
      in[0] = px[bgr ? 2 : 0];
      in[1] = px[1];
      in[2] = px[bgr ? 0 : 2];
      break;
    }
    case PixelFormat::kYuyv: {
      in[0] = row[2 * x];
      in[1] = row[4 * (x >> 1) + 1];
      in[2] = row[4 * (x >> 1) + 3];
      yuv = true;
      break;
    }
    case PixelFormat::kNv12: {
      const uint8_t* uv = src + p.uvOffset + static_cast<size_t>(y >> 1) * p.stride;
      in[0] = row[x];
      in[1] = uv[2 * (x >> 1)];
      in[2] = uv[2 * (x >> 1) + 1];
      yuv = true;
      break;
    }
  }
  if (yuv) {
    if (p.planes == 3) {
      if (p.yuvFull) {
        ConvYuvFull(p.yuvK)(in, v);
      } else {
        ConvYuvLimited(p.yuvK)(in, v);
      }
    } else if (p.yuvFull) {
      ConvGray()(in, v);
    } else {
      ConvYLimited()(in, v);
    }
  } else if (p.planes == 3) {
    ConvRgb()(in, v);
  } else {
    ConvLuma()(in, v);
  }
}

}  // namespace

void storeValues(const PlanData& p, void* dst, int32_t n, int32_t c, int32_t y, int32_t x,
                 const float* values, int32_t count) {
  size_t step;
  size_t idx = indexOf(p, n, c, y, x, &step);
  switch (p.dtype) {  // one switch per run of values, not per value
    case DType::kFloat32:
      for (int32_t i = 0; i < count; ++i, idx += step) put(dst, idx, DType::kFloat32, values[i]);
      break;
    case DType::kFloat16:
      for (int32_t i = 0; i < count; ++i, idx += step) put(dst, idx, DType::kFloat16, values[i]);
      break;
    case DType::kUint8:
      for (int32_t i = 0; i < count; ++i, idx += step) put(dst, idx, DType::kUint8, values[i]);
      break;
    case DType::kInt8:
      for (int32_t i = 0; i < count; ++i, idx += step) put(dst, idx, DType::kInt8, values[i]);
      break;
  }
}

void fillPad(const PlanData& p, void* dst, int32_t n) {
  if (p.cw == p.outW && p.ch == p.outH) return;
  for (int32_t c = 0; c < p.channels; ++c) {
    const float v = p.padOut[c];
    for (int32_t y = 0; y < p.outH; ++y) {
      if (y < p.oy || y >= p.oy + p.ch) {
        storeConst(p, dst, n, c, y, 0, v, p.outW);
      } else {
        storeConst(p, dst, n, c, y, 0, v, p.ox);
        storeConst(p, dst, n, c, y, p.ox + p.cw, v, p.outW - p.ox - p.cw);
      }
    }
  }
}

void runDirect(const PlanData& p, const uint8_t* src, void* dst, int32_t n) {
  fillPad(p, dst, n);
  for (int32_t j = 0; j < p.ch; ++j) {
    const Taps& ty = p.yt[static_cast<size_t>(j)];
    for (int32_t i = 0; i < p.cw; ++i) {
      const Taps& tx = p.xt[static_cast<size_t>(i)];
      float acc[3] = {0, 0, 0};
      for (int32_t b = 0; b < ty.n; ++b) {
        float row[3] = {0, 0, 0};
        for (int32_t a = 0; a < tx.n; ++a) {
          float v[3];
          pixelValues(p, src, tx.start + a, ty.start + b, v);
          const float wx = p.xw[static_cast<size_t>(tx.woff + a)];
          for (int32_t q = 0; q < p.planes; ++q) row[q] += wx * v[q];
        }
        const float wy = p.yw[static_cast<size_t>(ty.woff + b)];
        for (int32_t q = 0; q < p.planes; ++q) acc[q] += wy * row[q];
      }
      for (int32_t c = 0; c < p.channels; ++c) {
        const float out = acc[p.perm[c]] * p.alpha[c] + p.beta[c];
        storeValues(p, dst, n, c, p.oy + j, p.ox + i, &out, 1);
      }
    }
  }
}

void runLut(const PlanData& p, const uint8_t* src, void* dst, int32_t n) {
  fillPad(p, dst, n);
  const bool nearest = p.resize == ResizeMode::kNearest;
  float vals[3][kOutCap];
  for (int32_t j = 0; j < p.ch; ++j) {
    const LutEntry* e = p.lut.data() + static_cast<size_t>(j) * p.cw;
    for (int32_t i0 = 0; i0 < p.cw; i0 += kOutCap) {
      const int32_t count = p.cw - i0 < kOutCap ? p.cw - i0 : kOutCap;
      for (int32_t i = 0; i < count; ++i) {
        const LutEntry& t = e[i0 + i];
        float v[3] = {0, 0, 0};
        if (t.k == kOutside) {
          for (int32_t c = 0; c < p.channels; ++c) vals[c][i] = p.padOut[c];
          continue;
        }
        if (nearest) {
          pixelValues(p, src, t.k, t.l, v);
        } else {
          const int32_t k1 = t.k + 1 < p.rw ? t.k + 1 : p.rw - 1;
          const int32_t l1 = t.l + 1 < p.rh ? t.l + 1 : p.rh - 1;
          float v00[3], v10[3], v01[3], v11[3];
          pixelValues(p, src, t.k, t.l, v00);
          pixelValues(p, src, k1, t.l, v10);
          pixelValues(p, src, t.k, l1, v01);
          pixelValues(p, src, k1, l1, v11);
          for (int32_t q = 0; q < p.planes; ++q) {
            const float top = (1.0f - t.wx) * v00[q] + t.wx * v10[q];
            const float bot = (1.0f - t.wx) * v01[q] + t.wx * v11[q];
            v[q] = (1.0f - t.wy) * top + t.wy * bot;
          }
        }
        for (int32_t c = 0; c < p.channels; ++c) {
          vals[c][i] = v[p.perm[c]] * p.alpha[c] + p.beta[c];
        }
      }
      for (int32_t c = 0; c < p.channels; ++c) {
        storeValues(p, dst, n, c, p.oy + j, p.ox + i0, vals[c], count);
      }
    }
  }
}

void runScalar(const PlanData& p, const uint8_t* src, void* dst, int32_t n) {
  switch (p.path) {
    case Path::kRows: scalar::runRows(p, src, dst, n); break;
    case Path::kDirect: runDirect(p, src, dst, n); break;
    case Path::kLut: runLut(p, src, dst, n); break;
  }
}

}  // namespace detail
}  // namespace sonoedge
