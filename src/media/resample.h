// Image resizing for 8-bit RGB, exactly as the Hugging Face processors do it.
//
// resize_pillow() re-implements Pillow's Image.resize(size, resample,
// reducing_gap=None) (Pillow 9.4: src/libImaging/Resample.c, and
// Geometry.c's ImagingScaleAffine for NEAREST): separable convolution with
// the filter support widened by the scale when down-sampling, coefficients
// normalised to sum 1 and rounded to 22-bit fixed point, a horizontal pass
// over only the rows the vertical pass will read, then the vertical pass,
// each rounding to uint8. The output is bit-exact with Pillow.
//
// resize_torchvision_aa() follows torch.nn.functional.interpolate(...,
// antialias=True) on uint8 CPU tensors with AVX2 (the path torchvision's
// F.resize takes for bilinear/bicubic, and so transformers' "fast" image
// processors): the same PIL-style separable filter, but with the bicubic
// written as PyTorch writes it and the weights rounded to int16 with a
// precision chosen from the largest weight (UpSampleKernel.cpp,
// _compute_index_ranges_int16_weights).
#pragma once

#include "common/status.h"
#include "media/image.h"

namespace eric::media {

// Pillow's filter numbering (PIL.Image.Resampling), as preprocessor_config.json
// stores it in "resample".
enum class ResampleFilter {
  kNearest = 0,
  kLanczos = 1,
  kBilinear = 2,
  kBicubic = 3,
  kBox = 4,
  kHamming = 5,
};

Result<ResampleFilter> resample_filter_from_pillow(int value);
const char* resample_filter_name(ResampleFilter filter);

// Pillow's Image.resize((width, height), filter) on an RGB image.
Result<RgbImage> resize_pillow(const RgbImage& src, int width, int height, ResampleFilter filter);

// torchvision's F.resize(uint8 tensor, [height, width], interpolation, antialias=True)
// on CPU with AVX2. Supports kBilinear and kBicubic (the modes torchvision
// resizes natively in uint8); kNearest is torchvision's (legacy) nearest.
Result<RgbImage> resize_torchvision_aa(const RgbImage& src, int width, int height, ResampleFilter filter);

}  // namespace eric::media
