// PNG through libpng, with the sample conversions done here so they are
// Pillow's (PngImagePlugin's mode table + convert("RGB")), not libpng's:
//   grey 1/2/4/8-bit   -> "1"/"L;2"/"L;4"/"L": 0/255, v*85, v*17, v
//   grey 16-bit        -> "I", and I->RGB CLIPS to 0..255 (not v>>8)
//   grey+alpha 8/16    -> grey (16-bit: high byte), alpha dropped
//   RGB/RGBA 16-bit    -> high byte of each sample, alpha dropped
//   palette            -> lookup in a 256-entry table whose entries past
//                         PLTE keep Pillow's default grey ramp (i, i, i);
//                         tRNS and gAMA/iCCP are ignored, as Pillow does.
#include <png.h>

#include <csetjmp>
#include <cstring>
#include <optional>
#include <vector>

#include "media/format_decoders.h"
#include "media/png_damaged.h"

namespace eric::media {
namespace {

struct PngReader {
  std::string_view bytes;
  size_t pos = 8;  // after the signature, which png_set_sig_bytes skips
  std::string error;
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* reader = static_cast<PngReader*>(png_get_error_ptr(png));
  reader->error = message ? message : "unknown libpng error";
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

void read_from_memory(png_structp png, png_bytep out, png_size_t length) {
  auto* reader = static_cast<PngReader*>(png_get_io_ptr(png));
  if (length > reader->bytes.size() - reader->pos) png_error(png, "data is truncated");
  std::memcpy(out, reader->bytes.data() + reader->pos, length);
  reader->pos += length;
}


// One decoded row of raw samples (1/2/4-bit samples already unpacked to a
// byte each by png_set_packing) to RGB.
void convert_row(const PngLayout& l, const uint8_t* in, uint8_t* out) {
  const int w = l.width;
  const bool wide = l.bit_depth == 16;
  switch (l.color_type) {
    case PNG_COLOR_TYPE_GRAY:
      for (int x = 0; x < w; ++x) {
        int v;
        if (wide) {
          const int s = (in[2 * x] << 8) | in[2 * x + 1];
          v = s > 255 ? 255 : s;
        } else {
          static constexpr int kScale[9] = {0, 255, 85, 0, 17, 0, 0, 0, 1};
          v = in[x] * kScale[l.bit_depth];
        }
        out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = static_cast<uint8_t>(v);
      }
      break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: {
      const int step = wide ? 4 : 2;
      for (int x = 0; x < w; ++x) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[step * x];
      break;
    }
    case PNG_COLOR_TYPE_RGB:
    case PNG_COLOR_TYPE_RGB_ALPHA: {
      const int channels = l.color_type == PNG_COLOR_TYPE_RGB ? 3 : 4;
      if (!wide && channels == 3) {
        std::memcpy(out, in, static_cast<size_t>(w) * 3);
        break;
      }
      const int sample = wide ? 2 : 1;
      for (int x = 0; x < w; ++x) {
        const uint8_t* p = in + static_cast<size_t>(x) * channels * sample;
        out[3 * x] = p[0];
        out[3 * x + 1] = p[sample];
        out[3 * x + 2] = p[2 * sample];
      }
      break;
    }
    case PNG_COLOR_TYPE_PALETTE:
      for (int x = 0; x < w; ++x) std::memcpy(out + 3 * x, l.palette[in[x]], 3);
      break;
  }
}

struct PngDecodeState {
  // Rows whose image data libpng has fully inflated and unfiltered (counted
  // in a user transform, which runs just before the row is stored).
  int64_t rows_complete = 0;
  int64_t rows_expected = 0;
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngReader reader;
  PngLayout layout;
  RgbImage image;
  std::vector<uint8_t> raw;  // one row, or the whole image when interlaced
  std::vector<png_bytep> rows;
  Status status;
  ~PngDecodeState() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

void count_row(png_structp png, png_row_infop, png_bytep) {
  ++static_cast<PngDecodeState*>(png_get_user_transform_ptr(png))->rows_complete;
}

// Rows libpng delivers: the image height, or the rows of every non-empty
// Adam7 pass.
int64_t expected_rows(const PngLayout& l) {
  if (!l.interlaced) return l.height;
  int64_t rows = 0;
  for (int pass = 0; pass < 7; ++pass) {
    if (PNG_PASS_COLS(l.width, pass) > 0) rows += PNG_PASS_ROWS(l.height, pass);
  }
  return rows;
}

void decode_into(PngDecodeState& s, const DecodeOptions& options) {
  png_structp png = s.png;
  png_infop info = s.info;
  // CRCs as Pillow checks them: every chunk before the image data must be
  // intact (ancillary ones too), but IDAT checksums are never verified.
  png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);
  png_read_info(png, info);
  png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
  PngLayout& l = s.layout;
  png_uint_32 w = 0, h = 0;
  int interlace = 0;
  png_get_IHDR(png, info, &w, &h, &l.bit_depth, &l.color_type, &interlace, nullptr, nullptr);
  s.status = check_image_dimensions("PNG", w, h, options);
  if (!s.status.ok()) return;
  l.width = static_cast<int>(w);
  l.height = static_cast<int>(h);
  l.interlaced = interlace != PNG_INTERLACE_NONE;
  for (int i = 0; i < 256; ++i) l.palette[i][0] = l.palette[i][1] = l.palette[i][2] = static_cast<uint8_t>(i);
  if (l.color_type == PNG_COLOR_TYPE_PALETTE) {
    png_colorp plte = nullptr;
    int n = 0;
    if (png_get_PLTE(png, info, &plte, &n) != PNG_INFO_PLTE) {
      s.status = DataLoss("PNG palette image has no PLTE chunk");
      return;
    }
    for (int i = 0; i < n && i < 256; ++i) {
      l.palette[i][0] = plte[i].red;
      l.palette[i][1] = plte[i].green;
      l.palette[i][2] = plte[i].blue;
    }
  }
  if (l.bit_depth < 8) png_set_packing(png);
  const int passes = png_set_interlace_handling(png);
  s.rows_expected = expected_rows(l);
  png_set_read_user_transform_fn(png, count_row);
  png_set_user_transform_info(png, &s, 0, 0);
  png_read_update_info(png, info);
  const size_t rowbytes = png_get_rowbytes(png, info);
  s.image = RgbImage(l.width, l.height);
  if (!l.interlaced) {
    s.raw.resize(rowbytes);
    for (int y = 0; y < l.height; ++y) {
      png_read_row(png, s.raw.data(), nullptr);
      convert_row(l, s.raw.data(), s.image.row(y));
    }
    return;
  }
  // Adam7 passes refine the whole image, so the raw samples are kept whole.
  s.raw.resize(rowbytes * l.height);
  s.rows.resize(l.height);
  for (int y = 0; y < l.height; ++y) s.rows[y] = s.raw.data() + rowbytes * y;
  for (int pass = 0; pass < passes; ++pass) {
    for (int y = 0; y < l.height; ++y) png_read_row(png, s.rows[y], nullptr);
  }
  for (int y = 0; y < l.height; ++y) convert_row(l, s.rows[y], s.image.row(y));
}

Result<RgbImage> decode_png_once(std::string_view bytes, const DecodeOptions& options,
                                 std::optional<PngLayout>& layout) {
  PngDecodeState s;
  s.reader.bytes = bytes;
  s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s.reader, on_png_error, on_png_warning);
  if (s.png == nullptr) return Internal("PNG: png_create_read_struct failed");
  s.info = png_create_info_struct(s.png);
  if (s.info == nullptr) return Internal("PNG: png_create_info_struct failed");
  if (setjmp(png_jmpbuf(s.png))) {
    // Pillow stops reading once it has every row, so damage after the image
    // data (a cut-off checksum, extra or corrupt trailing deflate data) does
    // not matter there. libpng fails on it while finishing the last row,
    // after that row was stored.
    if (s.status.ok() && s.rows_expected > 0 && s.rows_complete == s.rows_expected) {
      if (s.layout.interlaced) {
        for (int y = 0; y < s.layout.height; ++y) convert_row(s.layout, s.rows[y], s.image.row(y));
      } else {  // rows above the last were converted as they came
        convert_row(s.layout, s.raw.data(), s.image.row(s.layout.height - 1));
      }
      return std::move(s.image);
    }
    if (s.layout.width > 0) layout = s.layout;
    return DataLoss("PNG decoding failed: {}", s.reader.error);
  }
  png_set_read_fn(s.png, &s.reader, read_from_memory);
  png_set_sig_bytes(s.png, 8);
  // Pillow looks out-of-range palette indices up in its default ramp
  // instead of failing; libpng would flag them.
  png_set_check_for_invalid_index(s.png, 0);
  // Our own limit is checked on IHDR; lift libpng's smaller default so the
  // two do not disagree, while its per-chunk allocation cap stays.
  png_set_user_limits(s.png, 0x7fffffff, 0x7fffffff);
  decode_into(s, options);
  if (!s.status.ok()) return s.status;
  return std::move(s.image);
}

}  // namespace

Result<RgbImage> decode_png(std::string_view bytes, const DecodeOptions& options) {
  if (bytes.size() < 8 || png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) != 0) {
    return DataLoss("PNG data has no PNG signature ({} bytes)", bytes.size());
  }
  std::optional<PngLayout> layout;
  auto image = decode_png_once(bytes, options, layout);
  // Pillow stops reading as soon as it has every row and never checks IDAT
  // checksums or chunk lengths against the file size, so a file cut off
  // after the data for the last row, with a damaged end of its deflate
  // stream, or with an IDAT length pointing past the end still decodes
  // there. When the image data read Pillow's way is complete, decode the
  // file with that data rewritten as one intact IDAT; every other chunk is
  // kept, so the second decode checks everything else again.
  if (!image.ok() && !layout) layout = layout_from_ihdr(bytes, options);
  if (!image.ok() && layout) {
    if (auto data = read_image_data_like_pillow(bytes, filtered_image_bytes(*layout))) {
      std::optional<PngLayout> unused;
      auto repaired = decode_png_once(repaired_png(bytes, *data), options, unused);
      if (repaired.ok()) return repaired;
    }
  }
  return image;
}

}  // namespace eric::media

