// BMP, read here following Pillow's BmpImagePlugin (9.x) rule by rule, so
// that the pixels and the accepted files are Pillow's:
//  - headers of 12 (OS/2 v1: 16-bit sizes, 3-byte palette entries), 40, 64,
//    108 or 124 bytes; a height whose top byte is 0xFF means top-down;
//  - 1/4/8-bit palettes (entries past the palette give Pillow's grey ramp),
//    16-bit as 5-5-5, 24-bit BGR, 32-bit BGRX; BI_BITFIELDS only with the
//    masks Pillow knows (32-bit BGRX/XBGR/ABGR/RGBA/BGRA, 24-bit BGR,
//    16-bit 5-6-5 and 5-5-5); RLE8/RLE4 with Pillow's run-length decoder;
//  - a palette that is exactly black/white (2 colours) or the grey ramp
//    makes Pillow read the rows with 1 or 8 bits per pixel whatever the file
//    says; that is reproduced (the lookup gives the same colours);
//  - pixel data starts at bfOffBits (plus the palette size when bfOffBits
//    points just past the header), rows padded to 4 bytes, and the last row
//    needs no padding.
#include <cstring>
#include <vector>

#include "media/format_decoders.h"

namespace eric::media {
namespace {

constexpr uint32_t kRaw = 0, kRle8 = 1, kRle4 = 2, kBitfields = 3;

uint32_t u16(const uint8_t* p) { return p[0] | (p[1] << 8); }
uint32_t u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

// How one row of the file becomes RGB (Pillow's rawmode).
enum class Layout { kIndexed, kBgr15, kBgr16, kBgr, kBgrx, kXbgr, kRgba };

struct BmpHeader {
  int64_t width = 0, height = 0;
  uint32_t bits = 0, compression = kRaw;
  bool top_down = false;
  int palette_entry_size = 4;
  uint64_t colors = 0;
  uint32_t masks[4] = {0, 0, 0, 0};
  size_t palette_pos = 0;  // where Pillow reads the palette from
};

Result<BmpHeader> parse_header(std::string_view bytes) {
  const auto* d = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < 18) return DataLoss("BMP data is truncated in the file header ({} bytes)", bytes.size());
  BmpHeader h;
  const uint32_t header_size = u32(d + 14);
  if (header_size != 12 && header_size != 40 && header_size != 64 && header_size != 108 && header_size != 124) {
    return Unimplemented("BMP header type of {} bytes is not supported", header_size);
  }
  if (bytes.size() < 14 + static_cast<size_t>(header_size)) {
    return DataLoss("BMP data is truncated in the {}-byte info header", header_size);
  }
  const uint8_t* info = d + 18;  // Pillow's header_data: the header without its size field
  size_t pos = 14 + header_size;
  if (header_size == 12) {
    h.width = u16(info);
    h.height = u16(info + 2);
    h.bits = u16(info + 6);
    h.palette_entry_size = 3;
  } else {
    h.top_down = info[7] == 0xFF;
    h.width = u32(info);
    h.height = h.top_down ? (int64_t{1} << 32) - u32(info + 4) : u32(info + 4);
    h.bits = u16(info + 10);
    h.compression = u32(info + 12);
    h.colors = u32(info + 28);
    if (h.compression == kBitfields) {
      if (header_size >= 56) {
        for (int i = 0; i < 4; ++i) h.masks[i] = u32(info + 36 + 4 * i);
      } else {
        if (bytes.size() < pos + 12) return DataLoss("BMP data is truncated in the bitfield masks");
        for (int i = 0; i < 3; ++i) h.masks[i] = u32(d + pos + 4 * i);
        pos += 12;
      }
    }
  }
  if (h.colors == 0 && h.bits < 64) h.colors = uint64_t{1} << h.bits;
  h.palette_pos = pos;
  return h;
}

Result<Layout> pick_layout(const BmpHeader& h) {
  const uint32_t* m = h.masks;
  auto masks_are = [&](uint32_t r, uint32_t g, uint32_t b, uint32_t a) {
    return m[0] == r && m[1] == g && m[2] == b && m[3] == a;
  };
  if (h.bits != 1 && h.bits != 4 && h.bits != 8 && h.bits != 16 && h.bits != 24 && h.bits != 32) {
    return Unimplemented("BMP pixel depth of {} bits is not supported", h.bits);
  }
  if (h.compression == kBitfields) {
    if (h.bits == 32) {
      if (masks_are(0xFF0000, 0xFF00, 0xFF, 0) || masks_are(0xFF0000, 0xFF00, 0xFF, 0xFF000000) ||
          masks_are(0, 0, 0, 0)) {
        return Layout::kBgrx;
      }
      if (masks_are(0xFF000000, 0xFF0000, 0xFF00, 0) || masks_are(0xFF000000, 0xFF0000, 0xFF00, 0xFF)) {
        return Layout::kXbgr;
      }
      if (masks_are(0xFF, 0xFF00, 0xFF0000, 0xFF000000)) return Layout::kRgba;
    } else if (h.bits == 24 && m[0] == 0xFF0000 && m[1] == 0xFF00 && m[2] == 0xFF) {
      return Layout::kBgr;
    } else if (h.bits == 16 && m[0] == 0xF800 && m[1] == 0x7E0 && m[2] == 0x1F) {
      return Layout::kBgr16;
    } else if (h.bits == 16 && m[0] == 0x7C00 && m[1] == 0x3E0 && m[2] == 0x1F) {
      return Layout::kBgr15;
    }
    return Unimplemented("BMP bitfields layout (masks {:#x} {:#x} {:#x} {:#x}, {} bits) is not supported", m[0],
                         m[1], m[2], m[3], h.bits);
  }
  if (h.compression == kRle8 || h.compression == kRle4) {
    if (h.bits != (h.compression == kRle8 ? 8u : 4u)) {
      return Unimplemented("BMP {} compression with {}-bit pixels is not supported",
                           h.compression == kRle8 ? "RLE8" : "RLE4", h.bits);
    }
    return Layout::kIndexed;
  }
  if (h.compression != kRaw) return Unimplemented("BMP compression type {} is not supported", h.compression);
  switch (h.bits) {
    case 16: return Layout::kBgr15;
    case 24: return Layout::kBgr;
    case 32: return Layout::kBgrx;
    default: return Layout::kIndexed;
  }
}

// Pillow's bmp_rle decoder (BmpRleDecoder), quirks included: runs are
// clipped to the row, a delta reads its two bytes twice (so it consumes
// four), odd RLE4 absolute runs read one byte too few, and the data ends at
// "end of bitmap" or when the input runs out. Produces one index per pixel,
// in file row order; fewer than width*height indices is an error.
Result<std::vector<uint8_t>> decode_rle(std::string_view bytes, size_t pos, int64_t width, int64_t height,
                                        bool rle4) {
  const auto* d = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t total = static_cast<size_t>(width) * static_cast<size_t>(height);
  std::vector<uint8_t> data;
  data.reserve(total);
  int64_t x = 0;
  auto remaining = [&] { return pos < bytes.size() ? bytes.size() - pos : 0; };
  while (data.size() < total) {
    if (remaining() < 2) break;
    const uint8_t count = d[pos], byte = d[pos + 1];
    pos += 2;
    if (count != 0) {
      const int64_t n = x + count > width ? std::max<int64_t>(0, width - x) : count;
      for (int64_t i = 0; i < n; ++i) {
        data.push_back(rle4 ? ((i % 2 == 0) ? byte >> 4 : byte & 0x0F) : byte);
      }
      x += n;
    } else if (byte == 0) {  // end of line
      while (data.size() % static_cast<size_t>(width) != 0) data.push_back(0);
      x = 0;
    } else if (byte == 1) {  // end of bitmap
      break;
    } else if (byte == 2) {  // delta: Pillow reads two bytes, then two more for (right, up)
      if (remaining() < 2) break;
      pos += 2;
      if (remaining() < 2) return DataLoss("BMP RLE data is truncated in a delta");
      const uint8_t right = d[pos], up = d[pos + 1];
      pos += 2;
      data.insert(data.end(), static_cast<size_t>(right) + static_cast<size_t>(up) * width, 0);
      x = static_cast<int64_t>(data.size() % static_cast<size_t>(width));
    } else {  // absolute run of `byte` pixels
      const size_t want = rle4 ? byte / 2 : byte;
      const size_t got = std::min(want, remaining());
      for (size_t i = 0; i < got; ++i) {
        if (rle4) {
          data.push_back(d[pos + i] >> 4);
          data.push_back(d[pos + i] & 0x0F);
        } else {
          data.push_back(d[pos + i]);
        }
      }
      pos += got;
      if (got < want) break;
      x += byte;
      if (pos % 2 != 0) ++pos;  // runs are padded to 16 bits
    }
  }
  if (data.size() < total) {
    return DataLoss("BMP RLE data is truncated: {} of {} pixels", data.size(), total);
  }
  data.resize(total);  // a final delta may overshoot; Pillow keeps the first width*height
  return data;
}

}  // namespace

Result<RgbImage> decode_bmp(std::string_view bytes, const DecodeOptions& options) {
  if (bytes.size() < 2 || bytes.substr(0, 2) != "BM") return DataLoss("BMP data has no 'BM' signature");
  ERIC_ASSIGN_OR_RETURN(BmpHeader h, parse_header(bytes));
  ERIC_RETURN_IF_ERROR(check_image_dimensions("BMP", h.width, h.height, options));
  ERIC_ASSIGN_OR_RETURN(Layout layout, pick_layout(h));
  const auto* d = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint32_t header_size = u32(d + 14);

  uint8_t palette[256][3];
  for (int i = 0; i < 256; ++i) palette[i][0] = palette[i][1] = palette[i][2] = static_cast<uint8_t>(i);
  uint32_t unpack_bits = h.bits;  // bits per pixel Pillow's unpacker uses
  size_t after_palette = h.palette_pos;
  if (layout == Layout::kIndexed) {
    if (h.colors == 0 || h.colors > 256) {
      return Unimplemented("BMP palette of {} colours is not supported", h.colors);
    }
    const size_t entry = h.palette_entry_size;
    const size_t palette_bytes = entry * h.colors;
    if (bytes.size() < h.palette_pos + palette_bytes) return DataLoss("BMP data is truncated in the palette");
    const uint8_t* p = d + h.palette_pos;
    bool greyscale = true;
    for (uint64_t i = 0; i < h.colors; ++i) {
      const uint8_t v = h.colors == 2 ? (i == 0 ? 0 : 255) : static_cast<uint8_t>(i);
      const uint8_t* e = p + i * entry;
      if (e[0] != v || e[1] != v || e[2] != v) greyscale = false;
      palette[i][0] = e[2];
      palette[i][1] = e[1];
      palette[i][2] = e[0];
    }
    if (greyscale) unpack_bits = h.colors == 2 ? 1 : 8;
    after_palette += palette_bytes;
  }

  uint64_t offset = u32(d + 10);
  if (offset == 14 + header_size && h.bits <= 8) offset += 4 * h.colors;
  if (offset == 0) offset = after_palette;
  if (offset > bytes.size()) return DataLoss("BMP pixel data offset {} is past the end ({} bytes)", offset, bytes.size());

  const int width = static_cast<int>(h.width), height = static_cast<int>(h.height);
  RgbImage image(width, height);
  auto out_row = [&](int64_t file_row) { return image.row(h.top_down ? file_row : height - 1 - file_row); };

  if (h.compression == kRle8 || h.compression == kRle4) {
    ERIC_ASSIGN_OR_RETURN(std::vector<uint8_t> indices,
                          decode_rle(bytes, offset, h.width, h.height, h.compression == kRle4));
    for (int y = 0; y < height; ++y) {
      uint8_t* out = out_row(y);
      const uint8_t* in = indices.data() + static_cast<size_t>(y) * width;
      for (int x = 0; x < width; ++x) std::memcpy(out + 3 * x, palette[in[x]], 3);
    }
    return image;
  }

  const uint64_t stride = ((static_cast<uint64_t>(h.width) * h.bits + 31) >> 3) & ~uint64_t{3};
  const uint64_t row_bytes = (static_cast<uint64_t>(h.width) * unpack_bits + 7) / 8;
  if (row_bytes > stride) {
    return Unimplemented("BMP with {}-bit pixels and a {}-entry greyscale palette is not supported", h.bits,
                         h.colors);
  }
  const uint64_t needed = stride * static_cast<uint64_t>(height - 1) + row_bytes;
  if (bytes.size() - offset < needed) {
    return DataLoss("BMP pixel data is truncated: {} bytes present, {} needed", bytes.size() - offset, needed);
  }
  for (int y = 0; y < height; ++y) {
    const uint8_t* in = d + offset + stride * static_cast<uint64_t>(y);
    uint8_t* out = out_row(y);
    switch (layout) {
      case Layout::kIndexed:
        for (int x = 0; x < width; ++x) {
          uint8_t index;
          if (unpack_bits == 8) {
            index = in[x];
          } else if (unpack_bits == 4) {
            index = (in[x >> 1] >> ((x & 1) ? 0 : 4)) & 0x0F;
          } else {
            index = (in[x >> 3] >> (7 - (x & 7))) & 1;
          }
          std::memcpy(out + 3 * x, palette[index], 3);
        }
        break;
      case Layout::kBgr15:
      case Layout::kBgr16:
        for (int x = 0; x < width; ++x) {
          const uint32_t v = u16(in + 2 * x);
          if (layout == Layout::kBgr15) {
            out[3 * x] = static_cast<uint8_t>(((v >> 10) & 31) * 255 / 31);
            out[3 * x + 1] = static_cast<uint8_t>(((v >> 5) & 31) * 255 / 31);
          } else {
            out[3 * x] = static_cast<uint8_t>(((v >> 11) & 31) * 255 / 31);
            out[3 * x + 1] = static_cast<uint8_t>(((v >> 5) & 63) * 255 / 63);
          }
          out[3 * x + 2] = static_cast<uint8_t>((v & 31) * 255 / 31);
        }
        break;
      case Layout::kBgr:
      case Layout::kBgrx: {
        const int step = layout == Layout::kBgr ? 3 : 4;
        for (int x = 0; x < width; ++x) {
          out[3 * x] = in[step * x + 2];
          out[3 * x + 1] = in[step * x + 1];
          out[3 * x + 2] = in[step * x];
        }
        break;
      }
      case Layout::kXbgr:
        for (int x = 0; x < width; ++x) {
          out[3 * x] = in[4 * x + 3];
          out[3 * x + 1] = in[4 * x + 2];
          out[3 * x + 2] = in[4 * x + 1];
        }
        break;
      case Layout::kRgba:
        for (int x = 0; x < width; ++x) std::memcpy(out + 3 * x, in + 4 * x, 3);
        break;
    }
  }
  return image;
}

}  // namespace eric::media
