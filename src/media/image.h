// Decoded images: 8-bit RGB, interleaved, row-major, no padding. This is what
// Pillow's Image.convert("RGB") holds, and what every image processor takes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace eric::media {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3 bytes: R, G, B per pixel

  RgbImage() = default;
  RgbImage(int w, int h) : width(w), height(h), pixels(static_cast<size_t>(w) * static_cast<size_t>(h) * 3) {}

  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * static_cast<size_t>(width) * 3; }
  const uint8_t* row(int y) const {
    return pixels.data() + static_cast<size_t>(y) * static_cast<size_t>(width) * 3;
  }
  bool empty() const { return width == 0 || height == 0; }
};

}  // namespace eric::media
