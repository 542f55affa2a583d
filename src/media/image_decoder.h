// Image decoding: encoded bytes (JPEG, PNG, WebP, GIF, BMP) to 8-bit RGB with
// exactly the pixels of Pillow's Image.open(f).convert("RGB") (alpha dropped,
// no EXIF orientation applied, no colour management), so that preprocessing
// downstream matches the Hugging Face processors bit for bit.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "media/image.h"

namespace eric::media {

struct DecodeOptions {
  // Images with more pixels than this are refused from their header, before
  // any pixel buffer is allocated.
  int64_t max_pixels = 100'000'000;
};

// Detects the format from magic bytes (JPEG, PNG, WebP, GIF, BMP) and decodes to 8-bit RGB,
// giving the same pixels as Pillow's Image.open(f).convert("RGB").
Result<RgbImage> decode_image(std::string_view bytes, const DecodeOptions& options = {});

}  // namespace eric::media
