// sonoedge native core: the plan compiler. Validates every option, resolves
// the geometry and builds the per-axis tap tables or the scan-conversion
// lookup table once; run() then only checks buffer sizes and dispatches to the
// kernels of the chosen SIMD level. The definition is docs/PREPROCESSING.md.
#include "preprocess.h"

#include <cmath>
#include <cstdio>
#include <new>

#include "preprocess_internal.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define SONOEDGE_X86 1
#endif

namespace sonoedge {

using detail::Chunk;
using detail::LutEntry;
using detail::Path;
using detail::PlanData;
using detail::Taps;

struct Plan::Tables {
  PlanData data;
  detail::RunFn fn = nullptr;
};

Plan::~Plan() = default;

size_t dtypeSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kFloat16: return 2;
    case DType::kUint8: return 1;
    case DType::kInt8: return 1;
  }
  return 0;
}

int32_t bytesPerPixel(PixelFormat format) {
  switch (format) {
    case PixelFormat::kGray8: return 1;
    case PixelFormat::kGray16: return 2;
    case PixelFormat::kRgb8: return 3;
    case PixelFormat::kBgr8: return 3;
    case PixelFormat::kRgba8: return 4;
    case PixelFormat::kBgra8: return 4;
    case PixelFormat::kYuyv: return 2;
    case PixelFormat::kNv12: return 1;
  }
  return 0;
}

const char* simdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAuto: return "auto";
    case SimdLevel::kScalar: return "scalar";
    case SimdLevel::kSse41: return "sse41";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kNeon: return "neon";
  }
  return "unknown";
}

namespace {

const char* formatName(PixelFormat f) {
  switch (f) {
    case PixelFormat::kGray8: return "GRAY8";
    case PixelFormat::kGray16: return "GRAY16";
    case PixelFormat::kRgb8: return "RGB8";
    case PixelFormat::kBgr8: return "BGR8";
    case PixelFormat::kRgba8: return "RGBA8";
    case PixelFormat::kBgra8: return "BGRA8";
    case PixelFormat::kYuyv: return "YUYV";
    case PixelFormat::kNv12: return "NV12";
  }
  return "unknown";
}

const char* dtypeName(DType d) {
  switch (d) {
    case DType::kFloat32: return "float32";
    case DType::kFloat16: return "float16";
    case DType::kUint8: return "uint8";
    case DType::kInt8: return "int8";
  }
  return "unknown";
}

// The run function of a level, or nullptr when this CPU or build lacks it.
detail::RunFn levelFn(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return &detail::runScalar;
#if defined(SONOEDGE_X86)
    case SimdLevel::kSse41:
      __builtin_cpu_init();  // safe to call again; needed before main()
      return __builtin_cpu_supports("sse4.1") ? detail::runSse41Fn() : nullptr;
    case SimdLevel::kAvx2:
      __builtin_cpu_init();
      return (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
                 ? detail::runAvx2Fn()
                 : nullptr;
#endif
    case SimdLevel::kNeon: return detail::runNeonFn();
    default: return nullptr;
  }
}

// Numbers in messages: integers as integers, others with float precision.
std::string num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  return buf;
}

struct Fail {
  Status* status;
  std::string* message;
  std::nullptr_t operator()(Status s, const std::string& m) const {
    if (status) *status = s;
    if (message) *message = m;
    return nullptr;
  }
  std::nullptr_t invalid(const std::string& expected, const std::string& option,
                         const std::string& received) const {
    return (*this)(Status::kInvalidArgument,
                   "Expected " + expected + " for " + option + " but received " + received);
  }
};

bool inRange(int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; }

// Per-axis taps of docs/PREPROCESSING.md section 4: n source samples, m
// content pixels.
void buildAxis(ResizeMode mode, int32_t n, int32_t m, std::vector<Taps>* taps,
               std::vector<float>* weights) {
  taps->resize(static_cast<size_t>(m));
  weights->clear();
  const double s = static_cast<double>(n) / static_cast<double>(m);
  for (int32_t i = 0; i < m; ++i) {
    Taps t{0, 0, static_cast<int32_t>(weights->size())};
    if (mode == ResizeMode::kNearest) {
      double k = std::floor((i + 0.5) * s);
      t.start = static_cast<int32_t>(k < n - 1 ? k : n - 1);
      t.n = 1;
      weights->push_back(1.0f);
    } else if (mode == ResizeMode::kBilinear) {
      double f = (i + 0.5) * s - 0.5;
      if (f < 0) f = 0;
      if (f > n - 1) f = n - 1;
      int32_t k0 = static_cast<int32_t>(std::floor(f));
      double w = f - k0;
      if (n == 1) {
        t.start = 0;
        t.n = 1;
        weights->push_back(1.0f);
      } else {
        // k0 == n-1 only when f == n-1 (w == 0): read it as (n-2, n-1) with
        // weight 1 on n-1, so every output has exactly two taps.
        if (k0 >= n - 1) {
          k0 = n - 2;
          w = 1.0;
        }
        t.start = k0;
        t.n = 2;
        weights->push_back(static_cast<float>(1.0 - w));
        weights->push_back(static_cast<float>(w));
      }
    } else {  // area
      const double a = i * s, b = (i + 1) * s;
      int32_t k0 = static_cast<int32_t>(std::floor(a));
      int32_t k1 = static_cast<int32_t>(std::ceil(b));
      if (k0 < 0) k0 = 0;
      if (k1 > n) k1 = n;
      if (k0 > n - 1) k0 = n - 1;
      t.start = -1;
      for (int32_t k = k0; k < k1; ++k) {
        const double lo = k > a ? k : a, hi = k + 1 < b ? k + 1 : b;
        const double w = (hi - lo) / s;
        if (w <= 0) continue;
        if (t.start < 0) t.start = k;
        // Keep the taps contiguous (a zero weight can only occur at an end).
        while (t.start + t.n < k) {
          weights->push_back(0.0f);
          ++t.n;
        }
        weights->push_back(static_cast<float>(w));
        ++t.n;
      }
      if (t.n == 0) {  // cannot happen for s > 0; keep the table valid anyway
        t.start = k0;
        t.n = 1;
        weights->push_back(1.0f);
      }
    }
    (*taps)[static_cast<size_t>(i)] = t;
  }
}

}  // namespace

SimdLevel bestSimdLevel() {
  if (levelFn(SimdLevel::kNeon)) return SimdLevel::kNeon;
  if (levelFn(SimdLevel::kAvx2)) return SimdLevel::kAvx2;
  if (levelFn(SimdLevel::kSse41)) return SimdLevel::kSse41;
  return SimdLevel::kScalar;
}

std::unique_ptr<Plan> Plan::compile(const PlanOptions& o, Status* status, std::string* message) {
  const Fail fail{status, message};
  if (status) *status = Status::kOk;
  if (message) message->clear();

  // Frame.
  const int32_t fmt = static_cast<int32_t>(o.format);
  if (!inRange(fmt, 0, 7)) {
    return fail.invalid(
        "0 (GRAY8), 1 (GRAY16), 2 (RGB8), 3 (BGR8), 4 (RGBA8), 5 (BGRA8), 6 (YUYV) or 7 (NV12)",
        "format", num(fmt));
  }
  const char* fname = formatName(o.format);
  if (!inRange(o.width, 1, kMaxDimension)) {
    return fail.invalid("integer between 1 and 16384", "width", num(o.width));
  }
  if (!inRange(o.height, 1, kMaxDimension)) {
    return fail.invalid("integer between 1 and 16384", "height", num(o.height));
  }
  if ((o.format == PixelFormat::kYuyv || o.format == PixelFormat::kNv12) && o.width % 2 != 0) {
    return fail.invalid(std::string("even integer (") + fname + ")", "width", num(o.width));
  }
  if (o.format == PixelFormat::kNv12 && o.height % 2 != 0) {
    return fail.invalid("even integer (NV12)", "height", num(o.height));
  }
  const int32_t bpp = bytesPerPixel(o.format);
  const int64_t rowBytes = static_cast<int64_t>(o.width) * bpp;
  if (o.stride != 0 && o.stride < rowBytes) {
    return fail.invalid("0 or an integer of at least " + num(rowBytes) + " (width " +
                            num(o.width) + " * " + num(bpp) + " bytes for " + fname + ")",
                        "stride", num(o.stride));
  }
  const int64_t stride = o.stride == 0 ? rowBytes : o.stride;
  const int64_t yPlaneEnd = stride * (o.height - 1) + rowBytes;
  int64_t uvOffset = 0;
  constexpr int64_t kMaxSafe = 9007199254740991LL;  // 2^53 - 1
  if (o.format == PixelFormat::kNv12) {
    if (o.uvOffset != -1 && !inRange(o.uvOffset, yPlaneEnd, kMaxSafe)) {
      return fail.invalid("-1 or an integer between " + num(yPlaneEnd) +
                              " (the end of the Y plane) and 9007199254740991",
                          "uvOffset", num(static_cast<double>(o.uvOffset)));
    }
    uvOffset = o.uvOffset == -1 ? stride * o.height : o.uvOffset;
  }
  if (!inRange(static_cast<int32_t>(o.yuvRange), 0, 1)) {
    return fail.invalid("0 (limited) or 1 (full)", "yuvRange",
                        num(static_cast<int32_t>(o.yuvRange)));
  }
  if (!inRange(static_cast<int32_t>(o.yuvMatrix), 0, 1)) {
    return fail.invalid("0 (bt601) or 1 (bt709)", "yuvMatrix",
                        num(static_cast<int32_t>(o.yuvMatrix)));
  }

  // ROI: width/height 0 run to the frame's right/bottom edge.
  const Roi& roi = o.roi;
  const int64_t rw = roi.width == 0 ? static_cast<int64_t>(o.width) - roi.x : roi.width;
  const int64_t rh = roi.height == 0 ? static_cast<int64_t>(o.height) - roi.y : roi.height;
  if (roi.x < 0 || roi.y < 0 || roi.width < 0 || roi.height < 0 || rw < 1 || rh < 1 ||
      roi.x + rw > o.width || roi.y + rh > o.height) {
    return fail(Status::kInvalidArgument,
                "Expected roi inside the " + num(o.width) + "x" + num(o.height) +
                    " frame but received roi {x: " + num(roi.x) + ", y: " + num(roi.y) +
                    ", width: " + num(roi.width) + ", height: " + num(roi.height) + "}");
  }

  // Output.
  if (!inRange(o.outWidth, 1, kMaxDimension)) {
    return fail.invalid("integer between 1 and 16384", "outWidth", num(o.outWidth));
  }
  if (!inRange(o.outHeight, 1, kMaxDimension)) {
    return fail.invalid("integer between 1 and 16384", "outHeight", num(o.outHeight));
  }
  if (o.channels != 1 && o.channels != 3) {
    return fail.invalid("1 or 3", "channels", num(o.channels));
  }
  if (!inRange(static_cast<int32_t>(o.channelOrder), 0, 1)) {
    return fail.invalid("0 (rgb) or 1 (bgr)", "channelOrder",
                        num(static_cast<int32_t>(o.channelOrder)));
  }
  if (!inRange(static_cast<int32_t>(o.resize), 0, 2)) {
    return fail.invalid("0 (nearest), 1 (bilinear) or 2 (area)", "resize",
                        num(static_cast<int32_t>(o.resize)));
  }
  if (!inRange(static_cast<int32_t>(o.dtype), 0, 3)) {
    return fail.invalid("0 (float32), 1 (float16), 2 (uint8) or 3 (int8)", "dtype",
                        num(static_cast<int32_t>(o.dtype)));
  }
  if (!inRange(static_cast<int32_t>(o.layout), 0, 1)) {
    return fail.invalid("0 (NCHW) or 1 (NHWC)", "layout", num(static_cast<int32_t>(o.layout)));
  }
  if (!inRange(o.batchSize, 1, 1024)) {
    return fail.invalid("integer between 1 and 1024", "batchSize", num(o.batchSize));
  }
  if (!std::isfinite(o.padValue)) {
    return fail.invalid("finite number", "padValue", num(o.padValue));
  }
  for (int c = 0; c < 3; ++c) {
    if (!std::isfinite(o.alpha[c])) {
      return fail.invalid("finite number", "alpha[" + num(c) + "]", num(o.alpha[c]));
    }
    if (!std::isfinite(o.beta[c])) {
      return fail.invalid("finite number", "beta[" + num(c) + "]", num(o.beta[c]));
    }
  }

  // Scan conversion geometry.
  double aw = static_cast<double>(rw), ah = static_cast<double>(rh);
  double xmin = 0, zmin = 0;
  const SectorGeometry& sec = o.sector;
  if (o.scanConvert) {
    const double halfPi = 1.5707963267948966;
    if (!(std::isfinite(sec.angleStart) && std::isfinite(sec.angleEnd) &&
          sec.angleStart > -halfPi && sec.angleStart < sec.angleEnd && sec.angleEnd < halfPi)) {
      return fail.invalid("finite numbers with -pi/2 < angleStart < angleEnd < pi/2",
                          "sector angles",
                          "angleStart " + num(sec.angleStart) + ", angleEnd " + num(sec.angleEnd));
    }
    if (!(std::isfinite(sec.depthStart) && std::isfinite(sec.depthEnd) && sec.depthStart >= 0 &&
          sec.depthStart < sec.depthEnd && sec.depthEnd <= 1e6)) {
      return fail.invalid("finite numbers with 0 <= depthStart < depthEnd <= 1000000",
                          "sector depths",
                          "depthStart " + num(sec.depthStart) + ", depthEnd " + num(sec.depthEnd));
    }
    if (rw < 2 || rh < 2) {
      return fail.invalid("roi of at least 2x2 (scan lines x samples)", "scanConvert",
                          "roi of " + num(static_cast<double>(rw)) + "x" +
                              num(static_cast<double>(rh)));
    }
    const int64_t pixels = static_cast<int64_t>(o.outWidth) * o.outHeight;
    if (pixels > 16777216) {
      return fail.invalid("outWidth * outHeight of at most 16777216", "scanConvert",
                          num(static_cast<double>(pixels)));
    }
    const double rs[2] = {sec.depthStart, sec.depthEnd};
    const double ts[2] = {sec.angleStart, sec.angleEnd};
    double xmax = -1e300, zmax = -1e300;
    xmin = 1e300;
    zmin = 1e300;
    auto take = [&](double r, double t) {
      const double x = r * std::sin(t), z = r * std::cos(t);
      if (x < xmin) xmin = x;
      if (x > xmax) xmax = x;
      if (z < zmin) zmin = z;
      if (z > zmax) zmax = z;
    };
    for (double r : rs) {
      for (double t : ts) take(r, t);
    }
    if (sec.angleStart <= 0 && 0 <= sec.angleEnd) take(sec.depthEnd, 0);
    aw = xmax - xmin;
    ah = zmax - zmin;
    if (!(aw > 0 && ah > 0 && std::isfinite(aw) && std::isfinite(ah))) {
      return fail.invalid("a sector with a non-empty bounding box", "sector",
                          "a bounding box of " + num(aw) + " x " + num(ah) + " mm");
    }
  }

  // SIMD level.
  const int32_t simd = static_cast<int32_t>(o.simd);
  if (!inRange(simd, 0, 4)) {
    return fail.invalid("0 (auto), 1 (scalar), 2 (sse41), 3 (avx2) or 4 (neon)", "simd",
                        num(simd));
  }
  const SimdLevel level = o.simd == SimdLevel::kAuto ? bestSimdLevel() : o.simd;
  detail::RunFn fn = levelFn(level);
  if (!fn) {
    std::string have = "scalar";
    for (SimdLevel l : {SimdLevel::kSse41, SimdLevel::kAvx2, SimdLevel::kNeon}) {
      if (levelFn(l)) have += std::string(", ") + simdLevelName(l);
    }
    return fail(Status::kUnsupported, "Expected a SIMD level this CPU and build support (" + have +
                                          ") for simd but received " + simdLevelName(level));
  }

  std::unique_ptr<Plan> plan;
  // Tables are allocated here, once. Builds without exceptions (node-gyp's
  // default -fno-exceptions) terminate on allocation failure instead.
#if defined(__cpp_exceptions)
  try {
#endif
    plan.reset(new Plan());
    plan->tables_.reset(new Tables());
    PlanData& d = plan->tables_->data;
    d.format = o.format;
    d.width = o.width;
    d.height = o.height;
    d.bpp = bpp;
    d.stride = static_cast<size_t>(stride);
    d.uvOffset = static_cast<size_t>(uvOffset);
    d.yuvFull = o.yuvRange == YuvRange::kFull;
    {
      // Full range, then limited (scaled by 255/224), per matrix.
      static const float k[2][2][4] = {
          {{1.402f, 0.344136f, 0.714136f, 1.772f}, {1.596027f, 0.391762f, 0.812968f, 2.017232f}},
          {{1.5748f, 0.187324f, 0.468124f, 1.8556f}, {1.792741f, 0.213249f, 0.532909f, 2.112402f}}};
      const float* m = k[o.yuvMatrix == YuvMatrix::kBt709 ? 1 : 0][d.yuvFull ? 0 : 1];
      for (int q = 0; q < 4; ++q) d.yuvK[q] = m[q];
    }
    d.rx = roi.x;
    d.ry = roi.y;
    d.rw = static_cast<int32_t>(rw);
    d.rh = static_cast<int32_t>(rh);
    d.outW = o.outWidth;
    d.outH = o.outHeight;
    d.channels = o.channels;
    d.batchSize = o.batchSize;
    d.dtype = o.dtype;
    d.layout = o.layout;
    d.resize = o.resize;
    const int32_t W = o.outWidth, H = o.outHeight;
    if (o.letterbox) {
      const double s = std::fmin(W / aw, H / ah);
      double cw = std::floor(aw * s + 0.5), ch = std::floor(ah * s + 0.5);
      cw = std::fmin(W, std::fmax(1, cw));
      ch = std::fmin(H, std::fmax(1, ch));
      d.cw = static_cast<int32_t>(cw);
      d.ch = static_cast<int32_t>(ch);
      d.ox = (W - d.cw) / 2;
      d.oy = (H - d.ch) / 2;
    } else {
      d.cw = W;
      d.ch = H;
      d.ox = d.oy = 0;
    }
    const bool gray = o.format == PixelFormat::kGray8 || o.format == PixelFormat::kGray16;
    d.planes = (gray || o.channels == 1) ? 1 : 3;
    const bool bgr = o.channelOrder == ChannelOrder::kBgr;
    for (int c = 0; c < 3; ++c) {
      d.perm[c] = d.planes == 1 ? 0 : (bgr ? 2 - c : c);
      d.alpha[c] = o.alpha[c];
      d.beta[c] = o.beta[c];
      d.padOut[c] = o.padValue * o.alpha[c] + o.beta[c];
    }
    d.boxX = d.boxY = 0;
    d.xuN = 0;
    d.xcN = 0;
    d.yInteriorEqual = false;
    d.gatherSafe = 0;

    if (o.scanConvert) {
      d.path = Path::kLut;
      d.lut.resize(static_cast<size_t>(d.cw) * static_cast<size_t>(d.ch));
      const double da = sec.angleEnd - sec.angleStart, dr = sec.depthEnd - sec.depthStart;
      for (int32_t j = 0; j < d.ch; ++j) {
        const double z = zmin + (j + 0.5) * ah / d.ch;
        for (int32_t i = 0; i < d.cw; ++i) {
          const double x = xmin + (i + 0.5) * aw / d.cw;
          const double r = std::sqrt(x * x + z * z);
          const double t = std::atan2(x, z);
          LutEntry e{detail::kOutside, 0, 0.0f, 0.0f};
          if (r >= sec.depthStart && r <= sec.depthEnd && t >= sec.angleStart &&
              t <= sec.angleEnd) {
            double fk = (t - sec.angleStart) / da * (d.rw - 1);
            double fl = (r - sec.depthStart) / dr * (d.rh - 1);
            fk = std::fmin(std::fmax(fk, 0.0), d.rw - 1);
            fl = std::fmin(std::fmax(fl, 0.0), d.rh - 1);
            if (o.resize == ResizeMode::kNearest) {
              e.k = static_cast<uint16_t>(std::fmin(std::floor(fk + 0.5), d.rw - 1));
              e.l = static_cast<uint16_t>(std::fmin(std::floor(fl + 0.5), d.rh - 1));
            } else {
              const double k0 = std::floor(fk), l0 = std::floor(fl);
              e.k = static_cast<uint16_t>(k0);
              e.l = static_cast<uint16_t>(l0);
              e.wx = static_cast<float>(fk - k0);
              e.wy = static_cast<float>(fl - l0);
            }
          }
          d.lut[static_cast<size_t>(j) * d.cw + i] = e;
        }
      }
    } else {
      buildAxis(o.resize, d.rw, d.cw, &d.xt, &d.xw);
      buildAxis(o.resize, d.rh, d.ch, &d.yt, &d.yw);
      if (o.resize == ResizeMode::kArea && d.rw % d.cw == 0 && d.rh % d.ch == 0) {
        d.boxX = d.rw / d.cw;
        d.boxY = d.rh / d.ch;
      }
      int32_t maxTaps = 0;
      for (const Taps& t : d.xt) maxTaps = t.n > maxTaps ? t.n : maxTaps;
      while (d.gatherSafe < d.cw &&
             d.rx + d.xt[static_cast<size_t>(d.gatherSafe)].start + 4 <= d.width) {
        ++d.gatherSafe;
      }
      if (d.boxX == 0 && maxTaps <= 8) {
        d.xuN = maxTaps;
        d.xuIdx.resize(static_cast<size_t>(maxTaps) * d.cw);
        d.xuW.resize(static_cast<size_t>(maxTaps) * d.cw);
        for (int32_t i = 0; i < d.cw; ++i) {
          const Taps& t = d.xt[static_cast<size_t>(i)];
          for (int32_t q = 0; q < maxTaps; ++q) {
            const size_t at = static_cast<size_t>(q) * d.cw + i;
            d.xuIdx[at] = q < t.n ? t.start + q : t.start;
            d.xuW[at] = q < t.n ? d.xw[static_cast<size_t>(t.woff + q)] : 0.0f;
          }
        }
      }
      if (maxTaps <= detail::kContigMax) {
        d.xcN = maxTaps <= 4 ? 4 : (maxTaps + 7) / 8 * 8;
        d.xcW.assign(static_cast<size_t>(d.xcN) * d.cw, 0.0f);
        for (int32_t i = 0; i < d.cw; ++i) {
          const Taps& t = d.xt[static_cast<size_t>(i)];
          for (int32_t q = 0; q < t.n; ++q) {
            d.xcW[static_cast<size_t>(i) * d.xcN + q] = d.xw[static_cast<size_t>(t.woff + q)];
          }
        }
      }
      if (o.resize == ResizeMode::kArea) {
        d.yInteriorEqual = true;
        for (const Taps& t : d.yt) {
          for (int32_t q = 2; q + 1 < t.n; ++q) {
            if (d.yw[static_cast<size_t>(t.woff + q)] != d.yw[static_cast<size_t>(t.woff + 1)]) {
              d.yInteriorEqual = false;
            }
          }
        }
      }
      // Chunks of output columns whose source span fits the row buffers.
      d.path = Path::kRows;
      for (const Taps& t : d.xt) {
        if (t.n > detail::kSpanCap) d.path = Path::kDirect;
      }
      if (d.path == Path::kRows) {
        int32_t i = 0;
        while (i < d.cw) {
          Chunk c{i, i, d.xt[static_cast<size_t>(i)].start, 0};
          int32_t end = c.k0;
          while (i < d.cw && i - c.i0 < detail::kOutCap) {
            const Taps& t = d.xt[static_cast<size_t>(i)];
            const int32_t e = t.start + t.n > end ? t.start + t.n : end;
            if (e - c.k0 > detail::kSpanCap) break;
            end = e;
            ++i;
          }
          c.i1 = i;
          c.k1 = end;
          d.chunks.push_back(c);
        }
      }
    }
    d.xtp = d.xt.data();
    d.ytp = d.yt.data();
    d.xwp = d.xw.data();
    d.ywp = d.yw.data();
    d.chunkp = d.chunks.data();
    d.chunkCount = static_cast<int32_t>(d.chunks.size());
    d.xuIdxp = d.xuIdx.data();
    d.xuWp = d.xuW.data();
    d.xcWp = d.xcW.data();
    plan->opts_ = o;
    plan->opts_.simd = level;
    plan->simd_ = level;
    plan->tables_->fn = fn;
    plan->requiredInput_ =
        o.format == PixelFormat::kNv12
            ? static_cast<size_t>(uvOffset + stride * (o.height / 2 - 1) + rowBytes)
            : static_cast<size_t>(yPlaneEnd);
    plan->outElements_ = static_cast<size_t>(o.batchSize) * static_cast<size_t>(o.channels) *
                         static_cast<size_t>(W) * static_cast<size_t>(H);
#if defined(__cpp_exceptions)
  } catch (const std::bad_alloc&) {
    return fail(Status::kUnsupported,
                "Expected enough memory for the plan's tables but an allocation failed");
  }
#endif
  return plan;
}

Status Plan::run(const uint8_t* src, size_t srcBytes, void* dst, size_t dstBytes,
                 int32_t batchIndex, std::string* message) const {
  const PlanData& d = tables_->data;
  if (src == nullptr || srcBytes < requiredInput_) {
    if (message) {
      *message = "Expected input of at least " + num(static_cast<double>(requiredInput_)) +
                 " bytes (" + num(d.width) + "x" + num(d.height) + " " + formatName(d.format) +
                 ", stride " + num(static_cast<double>(d.stride)) + ") but received " +
                 (src == nullptr ? std::string("no buffer")
                                 : num(static_cast<double>(srcBytes)) + " bytes");
    }
    return Status::kBufferTooSmall;
  }
  if (dst == nullptr || dstBytes != outputBytes()) {
    if (message) {
      *message = "Expected output of exactly " + num(static_cast<double>(outputBytes())) +
                 " bytes (" + num(d.batchSize) + "x" + num(d.channels) + "x" + num(d.outH) + "x" +
                 num(d.outW) + " " + dtypeName(d.dtype) + ") but received " +
                 (dst == nullptr ? std::string("no buffer")
                                 : num(static_cast<double>(dstBytes)) + " bytes");
    }
    return Status::kOutputMismatch;
  }
  if (batchIndex < 0 || batchIndex >= d.batchSize) {
    if (message) {
      *message = "Expected integer between 0 and " + num(d.batchSize - 1) +
                 " for batchIndex but received " + num(batchIndex);
    }
    return Status::kInvalidArgument;
  }
  tables_->fn(d, src, dst, batchIndex);
  if (message) message->clear();
  return Status::kOk;
}

}  // namespace sonoedge
