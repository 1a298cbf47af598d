// Random plan options for the property tests (valid by construction).
#pragma once

#include <algorithm>
#include <random>

#include "preprocess.h"

namespace sonoedge {
namespace testing {

inline PlanOptions randomOptions(std::mt19937& rng, int maxDim = 40) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto real = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  PlanOptions o;
  o.format = static_cast<PixelFormat>(pick(0, 7));
  o.width = pick(1, maxDim);
  o.height = pick(1, maxDim);
  if (o.format == PixelFormat::kYuyv || o.format == PixelFormat::kNv12) o.width += o.width % 2;
  if (o.format == PixelFormat::kNv12) o.height += o.height % 2;
  const int bpp = bytesPerPixel(o.format);
  o.stride = pick(0, 2) == 0 ? o.width * bpp + pick(0, 9) : 0;
  if (o.format == PixelFormat::kNv12 && pick(0, 1)) {
    const int s = o.stride ? o.stride : o.width;
    o.uvOffset = static_cast<int64_t>(s) * o.height + pick(0, 7);
  }
  o.yuvRange = static_cast<YuvRange>(pick(0, 1));
  o.yuvMatrix = static_cast<YuvMatrix>(pick(0, 1));
  if (pick(0, 1)) {
    o.roi.x = pick(0, o.width - 1);
    o.roi.y = pick(0, o.height - 1);
    o.roi.width = pick(0, o.width - o.roi.x);
    o.roi.height = pick(0, o.height - o.roi.y);
  }
  o.outWidth = pick(1, maxDim);
  o.outHeight = pick(1, maxDim);
  o.channels = pick(0, 1) ? 3 : 1;
  o.channelOrder = static_cast<ChannelOrder>(pick(0, 1));
  o.resize = static_cast<ResizeMode>(pick(0, 2));
  o.letterbox = pick(0, 2) == 0;
  o.padValue = static_cast<float>(real(-10, 300));
  // Normalisations of real models: |v * alpha| + |beta| <= 16, the range in
  // which docs/PREPROCESSING.md promises 1e-5 of max(1, |out|) for float.
  const double vmax = o.format == PixelFormat::kGray16 ? 65535.0 : 255.0;
  for (int c = 0; c < 3; ++c) {
    o.alpha[c] = static_cast<float>(pick(0, 1) ? 1.0 / vmax : real(-12, 12) / vmax);
    o.beta[c] = static_cast<float>(pick(0, 1) ? 0.0 : real(-3, 3));
  }
  o.dtype = static_cast<DType>(pick(0, 3));
  if (o.dtype == DType::kUint8 || o.dtype == DType::kInt8) {
    for (int c = 0; c < 3; ++c) {
      o.alpha[c] = static_cast<float>(real(0.2, 1.2));
      o.beta[c] = static_cast<float>(real(-130, 20));
    }
  }
  o.layout = static_cast<Layout>(pick(0, 1));
  o.batchSize = pick(1, 3);
  const int rw = o.roi.width ? o.roi.width : o.width - o.roi.x;
  const int rh = o.roi.height ? o.roi.height : o.height - o.roi.y;
  if (pick(0, 4) == 0 && rw >= 2 && rh >= 2) {
    o.scanConvert = true;
    const double a = real(-1.5, 1.4);
    o.sector.angleStart = a;
    o.sector.angleEnd = real(a + 0.05, 1.5);
    o.sector.depthStart = real(0, 30);
    o.sector.depthEnd = o.sector.depthStart + real(1, 150);
  }
  return o;
}

// Geometries for the SIMD kernels of one format: frames wide enough for
// their 16- and 32-byte loads and 8-column groups (with tails), area factors
// from about 1.1 to 31 across (x tap lists padded to 4, 8, 16, 24 and 32
// samples) and above 2 down (rows summed in integers, the row cache), ROIs
// at odd and even columns, both YUV ranges and matrices, 1 and 3 channels.
inline PlanOptions simdShapeOptions(std::mt19937& rng, PixelFormat format, int channels) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto real = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  PlanOptions o;
  o.format = format;
  o.channels = channels;
  o.width = pick(40, 420);
  o.height = pick(6, 40);
  if (format == PixelFormat::kYuyv || format == PixelFormat::kNv12) o.width += o.width % 2;
  if (format == PixelFormat::kNv12) o.height += o.height % 2;
  o.yuvRange = static_cast<YuvRange>(pick(0, 1));
  o.yuvMatrix = static_cast<YuvMatrix>(pick(0, 1));
  o.channelOrder = static_cast<ChannelOrder>(pick(0, 1));
  if (pick(0, 1)) {
    o.roi.x = pick(0, 7);
    o.roi.y = pick(0, 3);
  }
  const int rw = o.width - o.roi.x, rh = o.height - o.roi.y;
  o.outWidth = std::max(1, static_cast<int>(rw / real(1.1, 31.0)));
  o.outHeight = std::max(1, static_cast<int>(rh / real(1.0, 6.0)));
  if (pick(0, 5) == 0) {  // an integer factor: the box paths
    const int fx = pick(1, 5), fy = pick(1, 4);
    o.outWidth = std::max(1, rw / fx);
    o.outHeight = std::max(1, rh / fy);
    o.roi.width = o.outWidth * fx;
    o.roi.height = std::min(rh, o.outHeight * fy);
  }
  o.resize = pick(0, 4) == 0 ? ResizeMode::kBilinear : ResizeMode::kArea;
  o.stride = pick(0, 2) == 0 ? o.width * bytesPerPixel(format) + pick(1, 9) : 0;
  const double vmax = format == PixelFormat::kGray16 ? 65535.0 : 255.0;
  const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
  for (int c = 0; c < 3; ++c) {
    o.alpha[c] = static_cast<float>(1.0 / vmax / sd[c]);
    o.beta[c] = -mean[c] / sd[c];
  }
  o.dtype = pick(0, 3) == 0 ? static_cast<DType>(pick(1, 3)) : DType::kFloat32;
  if (o.dtype == DType::kUint8 || o.dtype == DType::kInt8) {
    for (int c = 0; c < 3; ++c) {
      o.alpha[c] = 0.5f;
      o.beta[c] = o.dtype == DType::kInt8 ? -64.0f : 0.0f;
    }
  }
  o.layout = static_cast<Layout>(pick(0, 1));
  return o;
}

}  // namespace testing
}  // namespace sonoedge
