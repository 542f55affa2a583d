#include "media/resample_coeffs.h"

#include <algorithm>
#include <cmath>

#include "common/status.h"

namespace eric::media::detail {

namespace {

// ---- Pillow's filters (Resample.c), written with the same constants and
// operation order so the double results are identical. ----

double pillow_box(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

double pillow_bilinear(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double pillow_hamming(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * M_PI;
  // Pillow writes the window constants as float literals; keep them float.
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));
}

double pillow_bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}

double pillow_lanczos(double x) {
  if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
  return 0.0;
}

struct Filter {
  double (*fn)(double);
  double support;
};

Filter pillow_filter(ResampleFilter f) {
  switch (f) {
    case ResampleFilter::kBox: return {pillow_box, 0.5};
    case ResampleFilter::kBilinear: return {pillow_bilinear, 1.0};
    case ResampleFilter::kHamming: return {pillow_hamming, 1.0};
    case ResampleFilter::kBicubic: return {pillow_bicubic, 2.0};
    case ResampleFilter::kLanczos: return {pillow_lanczos, 3.0};
    case ResampleFilter::kNearest: break;
  }
  ERIC_CHECK(false, "pillow_coeffs: filter {} has no convolution kernel", static_cast<int>(f));
  return {nullptr, 0};
}

// ---- PyTorch's antialias filters (UpSampleKernel.cpp, UpSample.h). ----

double torch_linear(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double torch_cubic(double x) {
  constexpr double A = -0.5;  // Keys' a, used with antialias=True "for PIL compatibility"
  x = std::abs(x);
  if (x < 1.0) return ((A + 2) * x - (A + 3)) * x * x + 1;  // cubic_convolution1
  if (x < 2.0) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;  // cubic_convolution2
  return 0.0;
}

// The double coefficients shared by both: PIL's precompute_coeffs, which
// PyTorch's _compute_indices_min_size_weights_aa restates. Returns ksize.
int float_coeffs(int in_size, int out_size, double (*fn)(double), double filter_support, bool clamp_size,
                 std::vector<int>& mins, std::vector<int>& sizes, std::vector<double>& kk) {
  // Pillow: in0 = 0.0f, in1 = (float)in_size; (double)(in1 - in0) / outSize.
  const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter_support * filterscale;
  const int ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  mins.assign(out_size, 0);
  sizes.assign(out_size, 0);
  kk.assign(static_cast<size_t>(out_size) * ksize, 0.0);
  const double ss = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    // PyTorch clips the count to the buffer; Pillow has no such clip, but the
    // count never exceeds ksize for sizes a 32-bit image can have.
    if (clamp_size) xmax = std::clamp(xmax, 0, ksize);
    xmax = std::min(xmax, ksize);
    double* k = &kk[static_cast<size_t>(xx) * ksize];
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    if (ww != 0.0) {
      for (int x = 0; x < xmax; ++x) k[x] /= ww;
    }
    mins[xx] = xmin;
    sizes[xx] = xmax;
  }
  return ksize;
}

int32_t round_fixed(double v) { return v < 0 ? static_cast<int32_t>(-0.5 + v) : static_cast<int32_t>(0.5 + v); }

}  // namespace

AxisCoeffs pillow_coeffs(int in_size, int out_size, ResampleFilter filter) {
  const Filter f = pillow_filter(filter);
  AxisCoeffs c;
  std::vector<double> kk;
  c.ksize = float_coeffs(in_size, out_size, f.fn, f.support, /*clamp_size=*/false, c.min, c.size, kk);
  c.precision = 22;  // PRECISION_BITS = 32 - 8 - 2
  c.weights.resize(kk.size());
  for (size_t i = 0; i < kk.size(); ++i) c.weights[i] = round_fixed(kk[i] * (1 << c.precision));
  return c;
}

AxisCoeffs torch_aa_int16_coeffs(int in_size, int out_size, ResampleFilter filter) {
  double (*fn)(double) = nullptr;
  double support = 0;
  if (filter == ResampleFilter::kBilinear) {
    fn = torch_linear;
    support = 1.0;  // interp_size 2 * 0.5
  } else {
    ERIC_CHECK(filter == ResampleFilter::kBicubic, "torch_aa_int16_coeffs: filter {} unsupported",
               static_cast<int>(filter));
    fn = torch_cubic;
    support = 2.0;  // interp_size 4 * 0.5
  }
  AxisCoeffs c;
  std::vector<double> kk;
  c.ksize = float_coeffs(in_size, out_size, fn, support, /*clamp_size=*/true, c.min, c.size, kk);
  // Largest normalised weight over the whole axis decides the precision: the
  // most bits that keep every weight (times 2) inside int16.
  double wt_max = 0.0;
  for (int i = 0; i < out_size; ++i) {
    for (int j = 0; j < c.size[i]; ++j) wt_max = std::max(wt_max, kk[static_cast<size_t>(i) * c.ksize + j]);
  }
  unsigned int precision = 0;
  for (precision = 0; precision < 22; ++precision) {
    const int next_value = static_cast<int>(0.5 + wt_max * (1 << (precision + 1)));
    if (next_value >= (1 << 15)) break;
  }
  c.precision = static_cast<int>(precision);
  c.weights.resize(kk.size());
  for (size_t i = 0; i < kk.size(); ++i) {
    c.weights[i] = static_cast<int16_t>(round_fixed(kk[i] * (1 << precision)));
  }
  return c;
}

}  // namespace eric::media::detail
