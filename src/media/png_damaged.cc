#include "media/png_damaged.h"

#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "media/format_decoders.h"

namespace eric::media {

int64_t filtered_image_bytes(const PngLayout& l) {
  static constexpr int kChannels[7] = {1, 0, 3, 1, 2, 0, 4};
  const int64_t bits_per_pixel = static_cast<int64_t>(kChannels[l.color_type & 7]) * l.bit_depth;
  auto rows_bytes = [&](int64_t cols, int64_t rows) { return rows * ((cols * bits_per_pixel + 7) / 8 + 1); };
  if (!l.interlaced) return rows_bytes(l.width, l.height);
  int64_t total = 0;
  for (int pass = 0; pass < 7; ++pass) {
    const int64_t cols = PNG_PASS_COLS(l.width, pass), rows = PNG_PASS_ROWS(l.height, pass);
    if (cols > 0 && rows > 0) total += rows_bytes(cols, rows);
  }
  return total;
}

std::optional<PillowImageData> read_image_data_like_pillow(std::string_view png, int64_t needed) {
  auto u32_at = [&](size_t at) {
    return (static_cast<uint32_t>(static_cast<uint8_t>(png[at])) << 24) |
           (static_cast<uint32_t>(static_cast<uint8_t>(png[at + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<uint8_t>(png[at + 2])) << 8) | static_cast<uint8_t>(png[at + 3]);
  };
  PillowImageData out;
  size_t pos = 8;
  while (pos + 8 <= png.size() && png.substr(pos + 4, 4) != "IDAT") pos += 12 + static_cast<size_t>(u32_at(pos));
  if (pos + 8 > png.size()) return std::nullopt;
  out.first_idat = pos;
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return std::nullopt;
  out.inflated.resize(static_cast<size_t>(needed));
  z.next_out = reinterpret_cast<Bytef*>(out.inflated.data());
  bool broken = false;
  while (!broken && z.total_out < static_cast<uLong>(needed) && pos + 8 <= png.size() &&
         png.substr(pos + 4, 4) == "IDAT") {
    const size_t length = std::min<size_t>(u32_at(pos), png.size() - (pos + 8));
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(png.data() + pos + 8));
    z.avail_in = static_cast<uInt>(length);
    while (z.total_out < static_cast<uLong>(needed)) {
      z.avail_out = static_cast<uInt>(static_cast<uLong>(needed) - z.total_out);
      const int ret = inflate(&z, Z_NO_FLUSH);
      // Pillow inflates row by row and fails on any zlib error reported
      // while it still needs rows, even in the call that completes the last
      // one (zlib goes on to the end-of-stream check when input remains).
      if (ret != Z_OK && ret != Z_BUF_ERROR && ret != Z_STREAM_END) broken = true;
      if (ret == Z_STREAM_END && z.total_out < static_cast<uLong>(needed)) broken = true;
      if (ret != Z_OK || z.avail_in == 0) break;
    }
    pos += 12 + length;
  }
  const bool complete = z.total_out >= static_cast<uLong>(needed);
  inflateEnd(&z);
  if (!complete || broken) return std::nullopt;
  return out;
}

std::string repaired_png(std::string_view png, const PillowImageData& data) {
  std::string out(png.substr(0, data.first_idat));
  uLongf size = compressBound(static_cast<uLong>(data.inflated.size()));
  std::string idat(8 + size + 4, '\0');
  compress2(reinterpret_cast<Bytef*>(idat.data() + 8), &size, reinterpret_cast<const Bytef*>(data.inflated.data()),
            static_cast<uLong>(data.inflated.size()), 1);
  idat.resize(8 + size + 4);
  auto put_u32 = [](std::string& s, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (24 - 8 * i));
  };
  put_u32(idat, 0, static_cast<uint32_t>(size));
  std::memcpy(idat.data() + 4, "IDAT", 4);
  put_u32(idat, 8 + size, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(idat.data() + 4), size + 4)));
  out += idat;
  out += std::string("\0\0\0\0IEND\xAE\x42\x60\x82", 12);
  return out;
}

std::optional<PngLayout> layout_from_ihdr(std::string_view png, const DecodeOptions& options) {
  if (png.size() < 33 || png.substr(12, 4) != "IHDR") return std::nullopt;
  const auto* d = reinterpret_cast<const uint8_t*>(png.data()) + 16;
  const int64_t w = (int64_t{d[0]} << 24) | (d[1] << 16) | (d[2] << 8) | d[3];
  const int64_t h = (int64_t{d[4]} << 24) | (d[5] << 16) | (d[6] << 8) | d[7];
  if (!check_image_dimensions("PNG", w, h, options).ok()) return std::nullopt;
  PngLayout l;
  l.width = static_cast<int>(w);
  l.height = static_cast<int>(h);
  l.bit_depth = d[8];
  l.color_type = d[9];
  l.interlaced = d[12] != 0;
  const bool valid = (l.color_type == 0 && (l.bit_depth == 1 || l.bit_depth == 2 || l.bit_depth == 4 ||
                                            l.bit_depth == 8 || l.bit_depth == 16)) ||
                     (l.color_type == 3 && (l.bit_depth == 1 || l.bit_depth == 2 || l.bit_depth == 4 ||
                                            l.bit_depth == 8)) ||
                     ((l.color_type == 2 || l.color_type == 4 || l.color_type == 6) &&
                      (l.bit_depth == 8 || l.bit_depth == 16));
  if (!valid) return std::nullopt;
  return l;
}

}  // namespace eric::media
