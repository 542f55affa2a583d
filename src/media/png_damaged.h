// Reading damaged PNG files the way Pillow does. Pillow stops reading as
// soon as it has every row, never verifies IDAT checksums and trusts IDAT
// lengths (reading what the file holds), so it decodes files that libpng
// refuses: cut off in the deflate checksum, with damaged data after the last
// row, or with an IDAT length past the end of the file. png_decoder.cc uses
// these helpers when libpng fails: it reads the image data Pillow's way and,
// when that data is complete, decodes the file again with it re-wrapped as
// one intact IDAT chunk (every other chunk kept, so checked again).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "media/image_decoder.h"

namespace eric::media {

struct PngLayout {
  int width = 0, height = 0, bit_depth = 0, color_type = 0;
  bool interlaced = false;
  uint8_t palette[256][3];
};

// Filtered image bytes (filter byte + packed samples per row, per Adam7
// pass when interlaced) that the deflate stream must produce.
int64_t filtered_image_bytes(const PngLayout& layout);

// The layout from the IHDR chunk, when libpng failed before reporting it;
// only valid bit depth / colour type pairs within the pixel limit.
std::optional<PngLayout> layout_from_ihdr(std::string_view png, const DecodeOptions& options);

struct PillowImageData {
  size_t first_idat = 0;  // offset of the first IDAT chunk
  std::string inflated;   // exactly the filtered image bytes
};

// The image data as Pillow reads it: consecutive IDAT chunks from the first
// one, each cut short where the file ends, inflated until the image is
// complete. Nothing when the data runs out first, zlib reports an error
// while rows are still needed (also in the call completing the last row,
// as Pillow inflates row by row), or the stream ends early. (Pillow gives
// an image with zero rows at the bottom when the stream ends exactly at a
// row boundary; that rare case is refused here.)
std::optional<PillowImageData> read_image_data_like_pillow(std::string_view png, int64_t needed);

// The same PNG with its image data rewritten as one intact IDAT chunk.
std::string repaired_png(std::string_view png, const PillowImageData& data);

}  // namespace eric::media
