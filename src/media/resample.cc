#include "media/resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "media/resample_coeffs.h"

namespace eric::media {

namespace {

using detail::AxisCoeffs;

inline uint8_t clip8(int32_t v, int precision) {
  // Arithmetic shift, then saturate: Pillow's clip8 lookup table and
  // PyTorch's srai + packs + packus both amount to this.
  const int32_t s = v >> precision;
  return static_cast<uint8_t>(s < 0 ? 0 : (s > 255 ? 255 : s));
}

// Resamples rows [row_begin, row_begin + out.height) of `in` horizontally.
void horizontal_pass(const RgbImage& in, int row_begin, const AxisCoeffs& c, RgbImage& out) {
  const int32_t init = 1 << (c.precision - 1);
  const int prec = c.precision;
  for (int yy = 0; yy < out.height; ++yy) {
    const uint8_t* src = in.row(row_begin + yy);
    uint8_t* dst = out.row(yy);
    for (int xx = 0; xx < out.width; ++xx) {
      const uint8_t* p = src + static_cast<size_t>(c.min[xx]) * 3;
      const int32_t* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
      const int n = c.size[xx];
      int32_t s0 = init, s1 = init, s2 = init;
      for (int x = 0; x < n; ++x, p += 3) {
        const int32_t w = k[x];
        s0 += p[0] * w;
        s1 += p[1] * w;
        s2 += p[2] * w;
      }
      dst[0] = clip8(s0, prec);
      dst[1] = clip8(s1, prec);
      dst[2] = clip8(s2, prec);
      dst += 3;
    }
  }
}

// Resamples `in` vertically; coefficient row indices are relative to `in`.
void vertical_pass(const RgbImage& in, const AxisCoeffs& c, int row_offset, RgbImage& out) {
  const size_t row_bytes = static_cast<size_t>(out.width) * 3;
  const int32_t init = 1 << (c.precision - 1);
  const int prec = c.precision;
  std::vector<int32_t> acc(row_bytes);
  for (int yy = 0; yy < out.height; ++yy) {
    std::fill(acc.begin(), acc.end(), init);
    const int32_t* k = &c.weights[static_cast<size_t>(yy) * c.ksize];
    const int ymin = c.min[yy] - row_offset;
    for (int y = 0; y < c.size[yy]; ++y) {
      const uint8_t* src = in.row(ymin + y);
      const int32_t w = k[y];
      int32_t* a = acc.data();
      for (size_t i = 0; i < row_bytes; ++i) a[i] += src[i] * w;
    }
    uint8_t* dst = out.row(yy);
    for (size_t i = 0; i < row_bytes; ++i) dst[i] = clip8(acc[i], prec);
  }
}

// Pillow's two-pass ImagingResampleInner.
RgbImage separable_resize(const RgbImage& src, int width, int height, const AxisCoeffs* horiz,
                          const AxisCoeffs& vert) {
  const bool need_horizontal = width != src.width;
  const bool need_vertical = height != src.height;
  // Rows of the source the vertical pass reads: only those are resampled horizontally.
  const int ybox_first = vert.min.front();
  const int ybox_last = vert.min.back() + vert.size.back();

  RgbImage temp;
  const RgbImage* cur = &src;
  int row_offset = 0;
  if (need_horizontal) {
    temp = RgbImage(width, ybox_last - ybox_first);
    horizontal_pass(src, ybox_first, *horiz, temp);
    cur = &temp;
    row_offset = ybox_first;
  }
  if (need_vertical) {
    RgbImage out(width, height);
    vertical_pass(*cur, vert, row_offset, out);
    return out;
  }
  if (need_horizontal) return temp;
  return src;
}

Status check_sizes(const RgbImage& src, int width, int height) {
  if (width < 1 || height < 1) {
    return InvalidArgument("resize: target size {}x{} must be positive", width, height);
  }
  if (src.empty()) return InvalidArgument("resize: source image is empty ({}x{})", src.width, src.height);
  if (src.pixels.size() != static_cast<size_t>(src.width) * static_cast<size_t>(src.height) * 3) {
    return InvalidArgument("resize: source {}x{} holds {} bytes, expected {}", src.width, src.height,
                           src.pixels.size(), static_cast<size_t>(src.width) * src.height * 3);
  }
  return Status::Ok();
}

// Pillow's NEAREST: ImagingScaleAffine with a = (in/out, 0, 0, 0, in/out, 0),
// sampling at pixel centres with the position accumulated step by step in
// double (the accumulation is part of the result).
RgbImage pillow_nearest(const RgbImage& src, int width, int height) {
  const double ax = static_cast<double>(static_cast<float>(src.width)) / width;
  const double ay = static_cast<double>(static_cast<float>(src.height)) / height;
  auto coord = [](double v) { return v < 0.0 ? -1 : static_cast<int>(v); };
  std::vector<int> xin(width, -1);
  double xo = ax * 0.5;
  for (int x = 0; x < width; ++x) {
    const int xi = coord(xo);
    if (xi >= 0 && xi < src.width) xin[x] = xi;
    xo += ax;
  }
  RgbImage out(width, height);  // zero-filled, as Pillow's fill=1 leaves unmapped pixels
  double yo = ay * 0.5;
  for (int y = 0; y < height; ++y) {
    const int yi = coord(yo);
    if (yi >= 0 && yi < src.height) {
      const uint8_t* in = src.row(yi);
      uint8_t* o = out.row(y);
      for (int x = 0; x < width; ++x) {
        if (xin[x] >= 0) std::memcpy(o + x * 3, in + static_cast<size_t>(xin[x]) * 3, 3);
      }
    }
    yo += ay;
  }
  return out;
}

// PyTorch's (legacy) "nearest" for uint8: nearest_idx() with a float scale.
RgbImage torch_nearest(const RgbImage& src, int width, int height) {
  auto index = [](int i, int in_size, int out_size) -> int {
    if (out_size == in_size) return i;
    if (out_size == 2 * in_size) return i >> 1;
    const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
    const int64_t v = static_cast<int64_t>(std::floor(static_cast<float>(i) * scale));
    return static_cast<int>(std::min<int64_t>(v, in_size - 1));
  };
  RgbImage out(width, height);
  std::vector<int> xin(width);
  for (int x = 0; x < width; ++x) xin[x] = index(x, src.width, width);
  for (int y = 0; y < height; ++y) {
    const uint8_t* in = src.row(index(y, src.height, height));
    uint8_t* o = out.row(y);
    for (int x = 0; x < width; ++x) std::memcpy(o + x * 3, in + static_cast<size_t>(xin[x]) * 3, 3);
  }
  return out;
}

}  // namespace

Result<ResampleFilter> resample_filter_from_pillow(int value) {
  if (value < 0 || value > 5) {
    return InvalidArgument("unknown resampling filter {} (Pillow's 0..5: nearest, lanczos, bilinear, bicubic, "
                           "box, hamming)",
                           value);
  }
  return static_cast<ResampleFilter>(value);
}

const char* resample_filter_name(ResampleFilter filter) {
  switch (filter) {
    case ResampleFilter::kNearest: return "nearest";
    case ResampleFilter::kLanczos: return "lanczos";
    case ResampleFilter::kBilinear: return "bilinear";
    case ResampleFilter::kBicubic: return "bicubic";
    case ResampleFilter::kBox: return "box";
    case ResampleFilter::kHamming: return "hamming";
  }
  return "?";
}

Result<RgbImage> resize_pillow(const RgbImage& src, int width, int height, ResampleFilter filter) {
  ERIC_RETURN_IF_ERROR(check_sizes(src, width, height));
  if (width == src.width && height == src.height) return src;
  if (filter == ResampleFilter::kNearest) return pillow_nearest(src, width, height);
  const AxisCoeffs vert = detail::pillow_coeffs(src.height, height, filter);
  AxisCoeffs horiz;
  if (width != src.width) horiz = detail::pillow_coeffs(src.width, width, filter);
  return separable_resize(src, width, height, &horiz, vert);
}

Result<RgbImage> resize_torchvision_aa(const RgbImage& src, int width, int height, ResampleFilter filter) {
  ERIC_RETURN_IF_ERROR(check_sizes(src, width, height));
  if (filter == ResampleFilter::kNearest) return torch_nearest(src, width, height);
  if (filter != ResampleFilter::kBilinear && filter != ResampleFilter::kBicubic) {
    return Unimplemented("torchvision backend: {} resampling is not supported on tensors (use bilinear or bicubic)",
                         resample_filter_name(filter));
  }
  if (width == src.width && height == src.height) return src;
  const AxisCoeffs vert = detail::torch_aa_int16_coeffs(src.height, height, filter);
  AxisCoeffs horiz;
  if (width != src.width) horiz = detail::torch_aa_int16_coeffs(src.width, width, filter);
  return separable_resize(src, width, height, &horiz, vert);
}

}  // namespace eric::media
