#include "media/resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "media/resample_coeffs.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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
// Portable version; the x86 one below gives identical results.
void horizontal_pass_scalar(const RgbImage& in, int row_begin, const AxisCoeffs& c, RgbImage& out, int y_begin,
                            int y_end) {
  const int32_t init = 1 << (c.precision - 1);
  const int prec = c.precision;
  for (int yy = y_begin; yy < y_end; ++yy) {
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

#if defined(__x86_64__)
// One pixel per 128-bit lane as four int32 (R, G, B and the next pixel's R,
// whose sum is discarded), multiplied exactly with pmulld. Reads 4 bytes per
// pixel, so the very last pixel of the image is left to the scalar version.
__attribute__((target("sse4.1"))) void horizontal_pass_sse41(const RgbImage& in, int row_begin,
                                                              const AxisCoeffs& c, RgbImage& out, int y_begin,
                                                              int y_end) {
  const __m128i init = _mm_set1_epi32(1 << (c.precision - 1));
  const __m128i prec = _mm_cvtsi32_si128(c.precision);
  for (int yy = y_begin; yy < y_end; ++yy) {
    const uint8_t* src = in.row(row_begin + yy);
    uint8_t* dst = out.row(yy);
    for (int xx = 0; xx < out.width; ++xx) {
      const uint8_t* p = src + static_cast<size_t>(c.min[xx]) * 3;
      const int32_t* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
      const int n = c.size[xx];
      __m128i acc0 = init, acc1 = _mm_setzero_si128();
      int x = 0;
      for (; x + 1 < n; x += 2, p += 6) {
        int32_t v0, v1;
        std::memcpy(&v0, p, 4);
        std::memcpy(&v1, p + 3, 4);
        acc0 = _mm_add_epi32(acc0, _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(v0)), _mm_set1_epi32(k[x])));
        acc1 = _mm_add_epi32(acc1,
                             _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(v1)), _mm_set1_epi32(k[x + 1])));
      }
      if (x < n) {
        int32_t v0;
        std::memcpy(&v0, p, 4);
        acc0 = _mm_add_epi32(acc0, _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(v0)), _mm_set1_epi32(k[x])));
      }
      __m128i r = _mm_sra_epi32(_mm_add_epi32(acc0, acc1), prec);
      r = _mm_packs_epi32(r, r);   // saturate to int16
      r = _mm_packus_epi16(r, r);  // then to uint8: the clamp to [0, 255]
      const int32_t px = _mm_cvtsi128_si32(r);
      std::memcpy(dst, &px, 3);
      dst += 3;
    }
  }
}
// Two taps per 256-bit register: the 6 bytes of pixels k and k+1, spread to
// [R G B _ | R G B _] as int32 and multiplied by [w_k x4 | w_k+1 x4]. Reads
// 8 bytes from each tap pair, so the last source row is left to the scalar code.
__attribute__((target("avx2"))) void horizontal_pass_avx2(const RgbImage& in, int row_begin, const AxisCoeffs& c,
                                                           RgbImage& out, int y_begin, int y_end) {
  const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i pair_index = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
  const __m256i init = _mm256_setr_epi32(1 << (c.precision - 1), 1 << (c.precision - 1), 1 << (c.precision - 1), 0,
                                         0, 0, 0, 0);
  const __m128i prec = _mm_cvtsi32_si128(c.precision);
  for (int yy = y_begin; yy < y_end; ++yy) {
    const uint8_t* src = in.row(row_begin + yy);
    uint8_t* dst = out.row(yy);
    for (int xx = 0; xx < out.width; ++xx) {
      const uint8_t* p = src + static_cast<size_t>(c.min[xx]) * 3;
      const int32_t* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
      const int n = c.size[xx];
      __m256i acc = init;
      int x = 0;
      for (; x + 1 < n; x += 2, p += 6) {
        const __m128i bytes = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), spread);
        const __m256i w = _mm256_permutevar8x32_epi32(
            _mm256_castsi128_si256(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(k + x))), pair_index);
        acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(bytes), w));
      }
      __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
      if (x < n) {
        int32_t v;
        std::memcpy(&v, p, 4);
        sum = _mm_add_epi32(sum, _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(v)), _mm_set1_epi32(k[x])));
      }
      __m128i r = _mm_sra_epi32(sum, prec);
      r = _mm_packs_epi32(r, r);
      r = _mm_packus_epi16(r, r);
      const int32_t px = _mm_cvtsi128_si32(r);
      std::memcpy(dst, &px, 3);
      dst += 3;
    }
  }
}
#endif

void horizontal_pass(const RgbImage& in, int row_begin, const AxisCoeffs& c, RgbImage& out) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("sse4.1")) {
    // The last source row's last pixel has no 4th byte after it: do that row portably.
    const bool last_row_used = row_begin + out.height == in.height;
    const int simd_end = last_row_used ? out.height - 1 : out.height;
    if (__builtin_cpu_supports("avx2")) {
      horizontal_pass_avx2(in, row_begin, c, out, 0, simd_end);
    } else {
      horizontal_pass_sse41(in, row_begin, c, out, 0, simd_end);
    }
    horizontal_pass_scalar(in, row_begin, c, out, simd_end, out.height);
    return;
  }
#endif
  horizontal_pass_scalar(in, row_begin, c, out, 0, out.height);
}

// Resamples `in` vertically; coefficient row indices are relative to `in`.
// Portable version: sums of a block of bytes stay in registers across all taps.
void vertical_rows_scalar(const uint8_t* const* rows, const int32_t* k, int n, size_t begin, size_t end,
                          int32_t init, int prec, uint8_t* dst) {
  constexpr size_t kBlock = 16;
  size_t i = begin;
  for (; i + kBlock <= end; i += kBlock) {
    int32_t acc[kBlock];
    for (size_t j = 0; j < kBlock; ++j) acc[j] = init;
    for (int y = 0; y < n; ++y) {
      const uint8_t* src = rows[y] + i;
      const int32_t w = k[y];
      for (size_t j = 0; j < kBlock; ++j) acc[j] += src[j] * w;
    }
    for (size_t j = 0; j < kBlock; ++j) dst[i + j] = clip8(acc[j], prec);
  }
  for (; i < end; ++i) {
    int32_t acc = init;
    for (int y = 0; y < n; ++y) acc += rows[y][i] * k[y];
    dst[i] = clip8(acc, prec);
  }
}

#if defined(__x86_64__)
// 32 bytes at a time: four 8 x int32 sums, pmulld (exact), then the same
// shift and saturating packs as the scalar clip8. Returns the bytes done.
__attribute__((target("avx2"))) size_t vertical_rows_avx2(const uint8_t* const* rows, const int32_t* k, int n,
                                                           size_t end, int32_t init, int prec, uint8_t* dst) {
  const __m256i vinit = _mm256_set1_epi32(init);
  const __m128i shift = _mm_cvtsi32_si128(prec);
  size_t i = 0;
  for (; i + 32 <= end; i += 32) {
    __m256i a0 = vinit, a1 = vinit, a2 = vinit, a3 = vinit;
    for (int y = 0; y < n; ++y) {
      const uint8_t* src = rows[y] + i;
      const __m256i w = _mm256_set1_epi32(k[y]);
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
      const __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
      a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(lo), w));
      a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)), w));
      a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(hi), w));
      a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)), w));
    }
    a0 = _mm256_sra_epi32(a0, shift);
    a1 = _mm256_sra_epi32(a1, shift);
    a2 = _mm256_sra_epi32(a2, shift);
    a3 = _mm256_sra_epi32(a3, shift);
    // packs/packus work within 128-bit lanes; the permutes restore byte order.
    const __m256i w01 = _mm256_permute4x64_epi64(_mm256_packs_epi32(a0, a1), 0xD8);
    const __m256i w23 = _mm256_permute4x64_epi64(_mm256_packs_epi32(a2, a3), 0xD8);
    const __m256i b = _mm256_permute4x64_epi64(_mm256_packus_epi16(w01, w23), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), b);
  }
  return i;
}
#endif

void vertical_pass(const RgbImage& in, const AxisCoeffs& c, int row_offset, RgbImage& out) {
  const size_t row_bytes = static_cast<size_t>(out.width) * 3;
  const int32_t init = 1 << (c.precision - 1);
  const int prec = c.precision;
#if defined(__x86_64__)
  const bool avx2 = __builtin_cpu_supports("avx2");
#endif
  std::vector<const uint8_t*> rows(static_cast<size_t>(c.ksize));
  for (int yy = 0; yy < out.height; ++yy) {
    const int32_t* k = &c.weights[static_cast<size_t>(yy) * c.ksize];
    const int n = c.size[yy];
    for (int y = 0; y < n; ++y) rows[y] = in.row(c.min[yy] - row_offset + y);
    uint8_t* dst = out.row(yy);
    size_t done = 0;
#if defined(__x86_64__)
    if (avx2) done = vertical_rows_avx2(rows.data(), k, n, row_bytes, init, prec, dst);
#endif
    vertical_rows_scalar(rows.data(), k, n, done, row_bytes, init, prec, dst);
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
