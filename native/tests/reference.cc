#include "reference.h"

#include <cmath>
#include <cstring>
#include <string>

namespace sonoedge {
namespace testing {
namespace {

// Section 2: the source value planes of frame pixel (x, y), in float32.
// planes: 1 -> v[0]; 3 -> R, G, B.
void sourceValues(const PlanOptions& o, const uint8_t* p, size_t stride, size_t uvOffset,
                  int x, int y, int channels, float v[3]) {
  const uint8_t* row = p + static_cast<size_t>(y) * stride;
  auto gray = [&](float g) { v[0] = v[1] = v[2] = g; };
  float R = 0, G = 0, B = 0;
  switch (o.format) {
    case PixelFormat::kGray8: return gray(row[x]);
    case PixelFormat::kGray16: return gray(static_cast<float>(row[2 * x] + 256 * row[2 * x + 1]));
    case PixelFormat::kRgb8: R = row[3 * x]; G = row[3 * x + 1]; B = row[3 * x + 2]; break;
    case PixelFormat::kBgr8: B = row[3 * x]; G = row[3 * x + 1]; R = row[3 * x + 2]; break;
    case PixelFormat::kRgba8: R = row[4 * x]; G = row[4 * x + 1]; B = row[4 * x + 2]; break;
    case PixelFormat::kBgra8: B = row[4 * x]; G = row[4 * x + 1]; R = row[4 * x + 2]; break;
    case PixelFormat::kYuyv:
    case PixelFormat::kNv12: {
      float Y, U, V;
      if (o.format == PixelFormat::kYuyv) {
        Y = row[2 * x];
        U = row[4 * (x / 2) + 1];
        V = row[4 * (x / 2) + 3];
      } else {
        Y = row[x];
        const uint8_t* uv = p + uvOffset + static_cast<size_t>(y / 2) * stride;
        U = uv[2 * (x / 2)];
        V = uv[2 * (x / 2) + 1];
      }
      const bool full = o.yuvRange == YuvRange::kFull;
      auto clamp = [](float f) { return f < 0 ? 0.0f : (f > 255 ? 255.0f : f); };
      if (channels == 1) {
        v[0] = full ? Y : clamp((Y - 16.0f) * (255.0f / 219.0f));
        return;
      }
      const float d = U - 128.0f, e = V - 128.0f;
      const bool bt709 = o.yuvMatrix == YuvMatrix::kBt709;
      if (full) {
        const float kr = bt709 ? 1.5748f : 1.402f, kgd = bt709 ? 0.187324f : 0.344136f,
                    kge = bt709 ? 0.468124f : 0.714136f, kb = bt709 ? 1.8556f : 1.772f;
        v[0] = clamp(Y + kr * e);
        v[1] = clamp(Y - kgd * d - kge * e);
        v[2] = clamp(Y + kb * d);
      } else {
        const float kr = bt709 ? 1.792741f : 1.596027f, kgd = bt709 ? 0.213249f : 0.391762f,
                    kge = bt709 ? 0.532909f : 0.812968f, kb = bt709 ? 2.112402f : 2.017232f;
        const float yy = 1.164383f * (Y - 16.0f);
        v[0] = clamp(yy + kr * e);
        v[1] = clamp(yy - kgd * d - kge * e);
        v[2] = clamp(yy + kb * d);
      }
      return;
    }
  }
  if (channels == 1) {
    v[0] = 0.299f * R + 0.587f * G + 0.114f * B;
  } else {
    v[0] = R;
    v[1] = G;
    v[2] = B;
  }
}

// Section 4, one axis: (index, weight) pairs of content pixel i.
std::vector<std::pair<int, double>> axis(ResizeMode mode, int n, int m, int i) {
  const double s = static_cast<double>(n) / m;
  std::vector<std::pair<int, double>> r;
  if (mode == ResizeMode::kNearest) {
    r.push_back({std::min(static_cast<int>(std::floor((i + 0.5) * s)), n - 1), 1.0});
  } else if (mode == ResizeMode::kBilinear) {
    double f = std::min(std::max((i + 0.5) * s - 0.5, 0.0), n - 1.0);
    const int k0 = static_cast<int>(std::floor(f));
    const int k1 = std::min(k0 + 1, n - 1);
    const double w = f - k0;
    r.push_back({k0, 1 - w});
    r.push_back({k1, w});
  } else {
    const double a = i * s, b = (i + 1) * s;
    for (int k = 0; k < n; ++k) {
      const double ov = std::min<double>(k + 1, b) - std::max<double>(k, a);
      if (ov > 0) r.push_back({k, ov / s});
    }
  }
  return r;
}

}  // namespace

std::vector<double> referenceSlot(const PlanOptions& o, const uint8_t* src) {
  const int bpp = bytesPerPixel(o.format);
  const size_t stride = o.stride ? o.stride : static_cast<size_t>(o.width) * bpp;
  const size_t uvOffset = o.uvOffset >= 0 ? static_cast<size_t>(o.uvOffset) : stride * o.height;
  const int rx = o.roi.x, ry = o.roi.y;
  const int rw = o.roi.width ? o.roi.width : o.width - rx;
  const int rh = o.roi.height ? o.roi.height : o.height - ry;
  const int W = o.outWidth, H = o.outHeight, C = o.channels;
  const SectorGeometry& g = o.sector;
  double aw = rw, ah = rh, xmin = 0, zmin = 0;
  if (o.scanConvert) {
    double xmax = -1e300, zmax = -1e300;
    xmin = zmin = 1e300;
    auto take = [&](double r, double t) {
      xmin = std::min(xmin, r * std::sin(t));
      xmax = std::max(xmax, r * std::sin(t));
      zmin = std::min(zmin, r * std::cos(t));
      zmax = std::max(zmax, r * std::cos(t));
    };
    for (double r : {g.depthStart, g.depthEnd})
      for (double t : {g.angleStart, g.angleEnd}) take(r, t);
    if (g.angleStart <= 0 && 0 <= g.angleEnd) take(g.depthEnd, 0);
    aw = xmax - xmin;
    ah = zmax - zmin;
  }
  int cw = W, ch = H, ox = 0, oy = 0;
  if (o.letterbox) {
    const double s = std::min(W / aw, H / ah);
    cw = std::min<int>(W, std::max(1.0, std::floor(aw * s + 0.5)));
    ch = std::min<int>(H, std::max(1.0, std::floor(ah * s + 0.5)));
    ox = (W - cw) / 2;
    oy = (H - ch) / 2;
  }
  std::vector<double> out(static_cast<size_t>(C) * H * W);
  auto v = [&](int k, int l, int plane) {
    float vals[3];
    sourceValues(o, src, stride, uvOffset, rx + k, ry + l, C, vals);
    return static_cast<double>(vals[plane]);
  };
  for (int c = 0; c < C; ++c) {
    const int plane = C == 1 ? 0 : (o.channelOrder == ChannelOrder::kBgr ? 2 - c : c);
    const float pad = o.padValue * o.alpha[c] + o.beta[c];
    for (int Y = 0; Y < H; ++Y) {
      for (int X = 0; X < W; ++X) {
        const size_t idx = o.layout == Layout::kNCHW
                               ? (static_cast<size_t>(c) * H + Y) * W + X
                               : (static_cast<size_t>(Y) * W + X) * C + c;
        const int i = X - ox, j = Y - oy;
        if (i < 0 || j < 0 || i >= cw || j >= ch) {
          out[idx] = pad;
          continue;
        }
        double val = 0;
        if (o.scanConvert) {
          const double x = xmin + (i + 0.5) * aw / cw, z = zmin + (j + 0.5) * ah / ch;
          const double r = std::sqrt(x * x + z * z), t = std::atan2(x, z);
          if (r < g.depthStart || r > g.depthEnd || t < g.angleStart || t > g.angleEnd) {
            out[idx] = pad;
            continue;
          }
          const double fk = (t - g.angleStart) / (g.angleEnd - g.angleStart) * (rw - 1);
          const double fl = (r - g.depthStart) / (g.depthEnd - g.depthStart) * (rh - 1);
          if (o.resize == ResizeMode::kNearest) {
            val = v(static_cast<int>(std::floor(fk + 0.5)), static_cast<int>(std::floor(fl + 0.5)),
                    plane);
          } else {
            const int k0 = static_cast<int>(std::floor(fk)), l0 = static_cast<int>(std::floor(fl));
            const int k1 = std::min(k0 + 1, rw - 1), l1 = std::min(l0 + 1, rh - 1);
            const double wx = fk - k0, wy = fl - l0;
            val = (1 - wy) * ((1 - wx) * v(k0, l0, plane) + wx * v(k1, l0, plane)) +
                  wy * ((1 - wx) * v(k0, l1, plane) + wx * v(k1, l1, plane));
          }
        } else {
          for (auto [l, wy] : axis(o.resize, rh, ch, j))
            for (auto [k, wx] : axis(o.resize, rw, cw, i)) val += v(k, l, plane) * wx * wy;
        }
        out[idx] = val * o.alpha[c] + o.beta[c];
      }
    }
  }
  return out;
}

uint16_t halfBits(double v) {
  const uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  double a = std::fabs(v);
  if (a >= 65520.0) return sign | 0x7C00;
  if (a < std::ldexp(1.0, -14)) {
    return sign | static_cast<uint16_t>(std::nearbyint(a * std::ldexp(1.0, 24)));
  }
  int e;
  std::frexp(a, &e);  // a = f * 2^e, f in [0.5, 1)
  const double q = std::ldexp(1.0, e - 11);  // spacing of binary16 at a
  const double m = std::nearbyint(a / q) * q;  // RNE to the grid
  int e2;
  const double f2 = std::frexp(m, &e2);
  const uint16_t exp = static_cast<uint16_t>(e2 - 1 + 15);
  const uint16_t mant = static_cast<uint16_t>(std::ldexp(f2, 11) - 1024);
  return sign | static_cast<uint16_t>(exp << 10) | mant;
}

double halfToDouble(uint16_t h) {
  const int e = (h >> 10) & 31, m = h & 1023;
  const double s = (h & 0x8000) ? -1 : 1;
  if (e == 0) return s * std::ldexp(m, -24);
  if (e == 31) return m ? NAN : s * INFINITY;
  return s * std::ldexp(1024 + m, e - 25);
}

namespace {
bool close(DType dtype, double a, double b) {
  switch (dtype) {
    case DType::kFloat32: return std::fabs(a - b) <= 1e-5 * std::max(1.0, std::fabs(b));
    case DType::kFloat16: return true;  // compared on bits
    default: return std::fabs(a - b) <= 1.0;
  }
}
double intOf(DType dtype, double v) {
  const double r = std::floor(v + 0.5);
  return dtype == DType::kUint8 ? std::min(255.0, std::max(0.0, r))
                                : std::min(127.0, std::max(-128.0, r));
}
double readAt(DType dtype, const void* p, size_t i, uint16_t* bits) {
  switch (dtype) {
    case DType::kFloat32: { float f; std::memcpy(&f, static_cast<const uint8_t*>(p) + 4 * i, 4); return f; }
    case DType::kFloat16: { std::memcpy(bits, static_cast<const uint8_t*>(p) + 2 * i, 2); return halfToDouble(*bits); }
    case DType::kUint8: return static_cast<const uint8_t*>(p)[i];
    case DType::kInt8: return static_cast<const int8_t*>(p)[i];
  }
  return 0;
}
bool halfClose(uint16_t a, uint16_t b) {
  if (a == b) return true;
  // Adjacent binary16 values (same sign), or +0/-0.
  if (((a | b) & 0x7FFF) == 0) return true;
  if ((a & 0x8000) != (b & 0x8000)) return ((a & 0x7FFF) <= 1 && (b & 0x7FFF) <= 1);
  return std::abs(static_cast<int>(a) - static_cast<int>(b)) <= 1;
}
}  // namespace

size_t compareSlot(const PlanOptions& o, const std::vector<double>& ref, const void* out,
                   int32_t n, std::string* first) {
  size_t bad = 0;
  const size_t base = static_cast<size_t>(n) * ref.size();
  for (size_t i = 0; i < ref.size(); ++i) {
    uint16_t bits = 0;
    const double got = readAt(o.dtype, out, base + i, &bits);
    double want = ref[i];
    bool ok;
    if (o.dtype == DType::kFloat16) {
      // One binary16 step, or the float bound near zero (docs: section 0).
      ok = halfClose(bits, halfBits(static_cast<float>(want))) ||
           std::fabs(got - want) <= 1e-5 * std::max(1.0, std::fabs(want));
    } else {
      if (o.dtype == DType::kUint8 || o.dtype == DType::kInt8) want = intOf(o.dtype, want);
      ok = close(o.dtype, got, want);
    }
    if (!ok && bad++ == 0 && first) {
      *first = "element " + std::to_string(i) + ": got " + std::to_string(got) + " want " +
               std::to_string(want) + " (ref " + std::to_string(ref[i]) + ")";
    }
  }
  return bad;
}

size_t compareOutputs(DType dtype, const void* a, const void* b, size_t elements,
                      std::string* first) {
  size_t bad = 0;
  for (size_t i = 0; i < elements; ++i) {
    uint16_t ba = 0, bb = 0;
    const double x = readAt(dtype, a, i, &ba), y = readAt(dtype, b, i, &bb);
    const bool ok = dtype == DType::kFloat16
                        ? (halfClose(ba, bb) || std::fabs(x - y) <= 1e-5 * std::max(1.0, std::fabs(y)))
                        : close(dtype, x, y);
    if (!ok && bad++ == 0 && first) {
      *first = "element " + std::to_string(i) + ": " + std::to_string(x) + " vs " +
               std::to_string(y);
    }
  }
  return bad;
}

}  // namespace testing
}  // namespace sonoedge
