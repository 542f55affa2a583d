// One decoder per image format, each behind decode_image(). Exposed so the
// fuzz targets and tests can drive a single format directly.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "media/image.h"
#include "media/image_decoder.h"

namespace eric::media {

enum class ImageFormat { kUnknown, kJpeg, kPng, kWebp, kGif, kBmp };

// The format named by the leading magic bytes, or kUnknown.
ImageFormat detect_image_format(std::string_view bytes);
const char* image_format_name(ImageFormat format);

Result<RgbImage> decode_jpeg(std::string_view bytes, const DecodeOptions& options);
Result<RgbImage> decode_png(std::string_view bytes, const DecodeOptions& options);
Result<RgbImage> decode_webp(std::string_view bytes, const DecodeOptions& options);
Result<RgbImage> decode_gif(std::string_view bytes, const DecodeOptions& options);
Result<RgbImage> decode_bmp(std::string_view bytes, const DecodeOptions& options);

// The check every decoder runs on the header's dimensions before it
// allocates: zero-sized -> DataLoss, above options.max_pixels (or beyond
// what an RgbImage can index) -> ResourceExhausted. `format` names the format
// in the message.
Status check_image_dimensions(const char* format, int64_t width, int64_t height, const DecodeOptions& options);

}  // namespace eric::media
