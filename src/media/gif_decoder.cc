// GIF: the first image, read exactly as Pillow's GifImagePlugin (9.x) and
// its LZW decoder (libImaging/GifDecode.c) read it, so valid files give the
// same pixels and damaged ones are refused in the same cases. (giflib was
// tried first: it accepts LZW streams with out-of-range codes that Pillow
// rejects, and rejects files Pillow reads, e.g. ones whose data after the
// last pixel is damaged.) Pillow's rules reproduced here:
//  - container: unknown bytes between blocks are skipped; a graphic control
//    extension needs >= 3 bytes (4 with the transparency flag); an
//    application extension needs a data block (NETSCAPE2.0 a second one);
//  - the canvas is the logical screen, grown to hold the frame when the
//    frame reaches past it; outside the frame it holds the frame's
//    transparency index, or 0;
//  - transparent pixels inside frame 0 keep their index, and the result is
//    a palette lookup (local table, else global); indices past the table
//    (or with no table) give Pillow's grey ramp (i, i, i);
//  - LZW: the first code after a clear must be a literal, a code above the
//    next free entry is an error, and decoding stops as soon as the last
//    pixel is written; running out of data first is an error;
//  - Pillow feeds its decoder 64 KiB at a time and an end code makes the
//    decoder ask for more: when the file has no more, that is a truncated
//    image; otherwise decoding goes on after the end code, reading the
//    following bytes as further sub-blocks.
#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "media/format_decoders.h"

namespace eric::media {
namespace {

// Python-style reads over the input: short at the end, never failing.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  std::string_view read(size_t n) {
    const size_t k = std::min(n, bytes_.size() - pos_);
    std::string_view out = bytes_.substr(pos_, k);
    pos_ += k;
    return out;
  }
  std::optional<uint8_t> byte() {
    if (pos_ >= bytes_.size()) return std::nullopt;
    return static_cast<uint8_t>(bytes_[pos_++]);
  }
  // GifImageFile.data(): a sub-block, or nothing for a terminator or at the end.
  std::optional<std::string_view> sub_block() {
    auto size = byte();
    if (!size || *size == 0) return std::nullopt;
    return read(*size);
  }
  size_t pos() const { return pos_; }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

uint32_t u16(std::string_view s, size_t at) {
  return static_cast<uint8_t>(s[at]) | (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 8);
}

struct Frame {
  int64_t x = 0, y = 0, width = 0, height = 0;
  bool interlaced = false;
  int lzw_bits = 0;
  int transparency = -1;
  std::string_view local_palette;  // raw RGB triples, empty if none
  size_t data_offset = 0;          // first sub-block of the LZW data
};

Result<Frame> find_first_frame(Reader& in) {
  Frame f;
  std::optional<uint8_t> s = in.byte();
  for (;;) {
    if (!s) s = in.byte();
    if (!s || *s == ';') return DataLoss("GIF file contains no image");
    if (*s == '!') {
      auto label = in.byte();
      if (!label) return DataLoss("GIF data is truncated in an extension");
      auto block = in.sub_block();
      if (*label == 0xF9) {  // graphic control extension
        if (!block || block->size() < 3 || ((*block)[0] & 1 && block->size() < 4)) {
          return DataLoss("GIF graphic control extension is too short");
        }
        if ((*block)[0] & 1) f.transparency = static_cast<uint8_t>((*block)[3]);
      } else if (*label == 0xFE) {  // comment: its blocks are consumed here
        while (block) block = in.sub_block();
        s.reset();
        continue;
      } else if (*label == 0xFF) {  // application extension
        if (!block) return DataLoss("GIF application extension has no data");
        if (block->substr(0, 11) == "NETSCAPE2.0" && !in.sub_block()) {
          return DataLoss("GIF NETSCAPE2.0 extension has no loop block");
        }
      }
      while (in.sub_block()) {
      }
    } else if (*s == ',') {
      const std::string_view d = in.read(9);
      if (d.size() < 9) return DataLoss("GIF data is truncated in the image descriptor");
      f.x = u16(d, 0);
      f.y = u16(d, 2);
      f.width = u16(d, 4);
      f.height = u16(d, 6);
      const uint8_t flags = static_cast<uint8_t>(d[8]);
      f.interlaced = (flags & 64) != 0;
      if (flags & 128) {
        const size_t size = size_t{3} << ((flags & 7) + 1);
        f.local_palette = in.read(size);
        if (f.local_palette.size() < size) return DataLoss("GIF data is truncated in the local colour table");
      }
      auto bits = in.byte();
      if (!bits) return DataLoss("GIF data is truncated before the image data");
      f.lzw_bits = *bits;
      f.data_offset = in.pos();
      return f;
    }
    // Any other byte is skipped, as Pillow does.
    s.reset();
  }
}

// Writes decoded indices in GIF row order (with interlacing) into the
// canvas; reports when the frame's last row is complete.
class PixelWriter {
 public:
  PixelWriter(std::vector<uint8_t>& canvas, int64_t canvas_width, const Frame& f)
      : canvas_(canvas), stride_(canvas_width), f_(f), step_(f.interlaced ? 8 : 1), pass_(f.interlaced ? 1 : 0) {}
  bool done() const { return done_; }
  void put(uint8_t index) {
    canvas_[static_cast<size_t>(f_.y + y_) * stride_ + f_.x + x_] = index;
    if (++x_ < f_.width) return;
    x_ = 0;
    y_ += step_;
    while (y_ >= f_.height) {  // Pillow's NEWLINE: next interlace pass, or done
      switch (pass_) {
        case 1: y_ = 4; pass_ = 2; break;
        case 2: step_ = 4; y_ = 2; pass_ = 3; break;
        case 3: step_ = 2; y_ = 1; pass_ = 0; break;
        default: done_ = true; return;
      }
    }
  }

 private:
  std::vector<uint8_t>& canvas_;
  int64_t stride_;
  const Frame& f_;
  int64_t x_ = 0, y_ = 0;
  int step_, pass_;
  bool done_ = false;
};

Status decode_lzw(std::string_view bytes, size_t pos, int bits, PixelWriter& out) {
  constexpr int kTable = 4096, kMaxCodeSize = 12;
  if (bits > 12) return DataLoss("GIF LZW minimum code size {} is above 12", bits);
  const int clear = 1 << bits, end = clear + 1;
  std::vector<uint8_t> data(kTable);
  std::vector<uint16_t> link(kTable);
  std::vector<uint8_t> string;  // suffixes of the current code, last first
  string.reserve(kTable);
  int next = 0, code_size = 0, code_mask = 0, last_code = 0;
  uint8_t last_data = 0;
  bool after_clear = true;
  auto reset = [&] {
    next = clear + 2;
    code_size = bits + 1;
    code_mask = (1 << code_size) - 1;
    after_clear = true;
  };
  reset();
  uint32_t bit_buffer = 0;
  int bit_count = 0;
  size_t block_left = 0;
  // The bytes Pillow has handed its decoder so far: 64 KiB chunks from the
  // start of the image data. Asking for more at the end of the file fails.
  constexpr size_t kChunk = 65536;
  size_t available = std::min(bytes.size(), pos + kChunk);
  auto read_more = [&]() -> bool {
    if (available == bytes.size()) return false;
    available = std::min(bytes.size(), available + kChunk);
    return true;
  };
  while (!out.done()) {
    while (bit_count < code_size) {
      if (block_left > 0) {
        bit_buffer |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[pos++])) << bit_count;
        bit_count += 8;
        --block_left;
        continue;
      }
      // Next sub-block; Pillow only starts one that it holds completely.
      if (pos >= available || available - pos < static_cast<size_t>(static_cast<uint8_t>(bytes[pos])) + 1) {
        if (!read_more()) return DataLoss("GIF image data is truncated");
        continue;
      }
      block_left = static_cast<uint8_t>(bytes[pos]);
      ++pos;
    }
    int c = static_cast<int>(bit_buffer & static_cast<uint32_t>(code_mask));
    bit_buffer >>= code_size;
    bit_count -= code_size;

    if (c == clear) {
      if (!after_clear) reset();
      continue;
    }
    if (c == end) {
      if (!read_more()) return DataLoss("GIF image data ends before the last pixel");
      continue;
    }
    if (after_clear) {
      if (c > clear) return DataLoss("GIF LZW data starts with code {} after a clear", c);
      last_data = static_cast<uint8_t>(c);
      last_code = c;
      after_clear = false;
      out.put(last_data);
      continue;
    }
    const int this_code = c;
    if (c > next) return DataLoss("GIF LZW code {} is beyond the table ({} entries)", c, next);
    string.clear();
    if (c == next) {
      string.push_back(last_data);
      c = last_code;
    }
    while (c >= clear) {
      if (string.size() >= static_cast<size_t>(kTable) || c >= kTable) {
        return DataLoss("GIF LZW data has an invalid code chain");
      }
      string.push_back(data[c]);
      c = link[c];
    }
    last_data = static_cast<uint8_t>(c);
    if (next < kTable) {
      data[next] = static_cast<uint8_t>(c);
      link[next] = static_cast<uint16_t>(last_code);
      if (next == code_mask && code_size < kMaxCodeSize) {
        ++code_size;
        code_mask = (1 << code_size) - 1;
      }
      ++next;
    }
    last_code = this_code;
    out.put(last_data);
    for (auto it = string.rbegin(); it != string.rend() && !out.done(); ++it) out.put(*it);
  }
  return Status::Ok();
}

}  // namespace

Result<RgbImage> decode_gif(std::string_view bytes, const DecodeOptions& options) {
  Reader in(bytes);
  const std::string_view header = in.read(13);
  if (header.size() < 13) return DataLoss("GIF data is truncated in the screen descriptor");
  if (header.substr(0, 6) != "GIF87a" && header.substr(0, 6) != "GIF89a") {
    return DataLoss("GIF data has no GIF87a/GIF89a signature");
  }
  const int64_t screen_w = u16(header, 6), screen_h = u16(header, 8);
  const uint8_t flags = static_cast<uint8_t>(header[10]);
  std::string_view global_palette;
  if (flags & 128) {
    const size_t size = size_t{3} << ((flags & 7) + 1);
    global_palette = in.read(size);
    if (global_palette.size() < size) return DataLoss("GIF data is truncated in the global colour table");
  }
  ERIC_ASSIGN_OR_RETURN(Frame frame, find_first_frame(in));
  const int64_t canvas_w = std::max(screen_w, frame.x + frame.width);
  const int64_t canvas_h = std::max(screen_h, frame.y + frame.height);
  ERIC_RETURN_IF_ERROR(check_image_dimensions("GIF", canvas_w, canvas_h, options));
  if (frame.width == 0 || frame.height == 0) {
    return DataLoss("GIF image is empty ({}x{})", frame.width, frame.height);
  }

  std::vector<uint8_t> indices(static_cast<size_t>(canvas_w) * static_cast<size_t>(canvas_h),
                               static_cast<uint8_t>(frame.transparency >= 0 ? frame.transparency : 0));
  PixelWriter writer(indices, canvas_w, frame);
  ERIC_RETURN_IF_ERROR(decode_lzw(bytes, frame.data_offset, frame.lzw_bits, writer));

  uint8_t palette[256][3];
  for (int i = 0; i < 256; ++i) palette[i][0] = palette[i][1] = palette[i][2] = static_cast<uint8_t>(i);
  const std::string_view table = frame.local_palette.empty() ? global_palette : frame.local_palette;
  for (size_t i = 0; i < 256 && 3 * i + 2 < table.size(); ++i) std::memcpy(palette[i], table.data() + 3 * i, 3);
  RgbImage image(static_cast<int>(canvas_w), static_cast<int>(canvas_h));
  for (size_t i = 0; i < indices.size(); ++i) std::memcpy(&image.pixels[3 * i], palette[indices[i]], 3);
  return image;
}

}  // namespace eric::media
