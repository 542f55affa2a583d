// Fixed-point convolution coefficients for one axis of a separable resize
// (internal to resample.cc; exposed for tests).
#pragma once

#include <cstdint>
#include <vector>

#include "media/resample.h"

namespace eric::media::detail {

// For each output index i, `size[i]` taps starting at input index `min[i]`,
// with integer weights weights[i * ksize .. i * ksize + size[i]). The sum of
// pixel * weight, plus 1 << (precision - 1), shifted right by `precision`
// and clamped to [0, 255] is the output value.
struct AxisCoeffs {
  int ksize = 0;
  int precision = 0;
  std::vector<int> min;
  std::vector<int> size;
  std::vector<int32_t> weights;
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc (PRECISION_BITS = 22).
// `filter` must not be kNearest.
AxisCoeffs pillow_coeffs(int in_size, int out_size, ResampleFilter filter);

// PyTorch's _compute_index_ranges_weights (antialias=True) +
// _compute_index_ranges_int16_weights. `filter` is kBilinear or kBicubic.
AxisCoeffs torch_aa_int16_coeffs(int in_size, int out_size, ResampleFilter filter);

}  // namespace eric::media::detail
