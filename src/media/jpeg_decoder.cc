// JPEG through libjpeg-turbo's libjpeg API, configured as Pillow configures
// it (default islow IDCT, fancy upsampling, block smoothing), so the decoded
// pixels are Pillow's. Pillow opens 1-component JPEGs as "L", 3-component as
// "RGB" and 4-component as "CMYK" with inverted (Adobe) polarity, and then
// convert("RGB") applies its own cmyk2rgb.
#include <cstdio>  // jpeglib.h needs FILE and size_t first

#include <jpeglib.h>
#include <jerror.h>

#include <algorithm>
#include <csetjmp>
#include <vector>

#include "media/format_decoders.h"

namespace eric::media {
namespace {

// A progressive JPEG may announce thousands of tiny scans to burn CPU;
// real encoders write about ten. libjpeg-turbo's TurboJPEG API caps at 500.
constexpr int kMaxScans = 500;

struct JpegErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {0};
  bool truncated = false;
};

[[noreturn]] void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Pillow ignores libjpeg's warnings (corrupt-data notes are recoverable),
// except that running out of input is an error there ("image file is
// truncated"); libjpeg reports it as the JWRN_JPEG_EOF warning and pads with
// a fake EOI, so that one warning aborts the decode here.
void on_message(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    err->truncated = true;
    std::snprintf(err->message, sizeof(err->message), "data is truncated");
    std::longjmp(err->jump, 1);
  }
}

void on_progress(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxScans) {
    auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
    std::snprintf(err->message, sizeof(err->message), "more than %d scans", kMaxScans);
    std::longjmp(err->jump, 1);
  }
}

// Pillow's MULDIV255 and cmyk2rgb (libImaging/Convert.c), on the inverted
// ("CMYK;I") samples Pillow stores.
inline uint8_t clip8(int v) { return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v)); }
inline int muldiv255(int a, int b) {
  int tmp = a * b + 128;
  return ((tmp >> 8) + tmp) >> 8;
}

void cmyk_row_to_rgb(const uint8_t* in, uint8_t* out, int width) {
  for (int x = 0; x < width; ++x, in += 4, out += 3) {
    const int c = 255 - in[0], m = 255 - in[1], y = 255 - in[2], k = 255 - in[3];
    const int nk = 255 - k;
    out[0] = clip8(nk - muldiv255(c, nk));
    out[1] = clip8(nk - muldiv255(m, nk));
    out[2] = clip8(nk - muldiv255(y, nk));
  }
}

// Everything that lives across setjmp is declared before it, in this struct,
// so no automatic variable is modified between setjmp and longjmp.
struct JpegDecodeState {
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  jpeg_progress_mgr progress;
  bool created = false;
  RgbImage image;
  std::vector<uint8_t> row;
  Status status;
  ~JpegDecodeState() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

void decode_into(JpegDecodeState& s, std::string_view bytes, const DecodeOptions& options) {
  jpeg_decompress_struct& cinfo = s.cinfo;
  jpeg_read_header(&cinfo, TRUE);
  s.status = check_image_dimensions("JPEG", cinfo.image_width, cinfo.image_height, options);
  if (!s.status.ok()) return;
  switch (cinfo.num_components) {
    case 1: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case 3: cinfo.out_color_space = JCS_RGB; break;
    case 4: cinfo.out_color_space = JCS_CMYK; break;
    default:
      s.status = Unimplemented("JPEG with {} colour components is not supported (Pillow reads 1, 3 or 4)",
                               cinfo.num_components);
      return;
  }
  jpeg_start_decompress(&cinfo);
  const int width = static_cast<int>(cinfo.output_width);
  const int height = static_cast<int>(cinfo.output_height);
  s.image = RgbImage(width, height);
  if (cinfo.output_components != 3) s.row.resize(static_cast<size_t>(width) * cinfo.output_components);
  while (cinfo.output_scanline < cinfo.output_height) {
    const int y = static_cast<int>(cinfo.output_scanline);
    uint8_t* out = s.image.row(y);
    JSAMPROW target = cinfo.output_components == 3 ? out : s.row.data();
    if (jpeg_read_scanlines(&cinfo, &target, 1) != 1) {
      s.status = DataLoss("JPEG data ended at row {} of {}", y, height);
      return;
    }
    if (cinfo.output_components == 1) {
      for (int x = 0; x < width; ++x) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = s.row[x];
    } else if (cinfo.output_components == 4) {
      cmyk_row_to_rgb(s.row.data(), out, width);
    }
  }
  // Pillow finishes the decompression too: data after the last scan must
  // parse up to the EOI marker, and a file that ends before it is truncated.
  jpeg_finish_decompress(&cinfo);
}

}  // namespace

Result<RgbImage> decode_jpeg(std::string_view bytes, const DecodeOptions& options) {
  if (bytes.empty()) return DataLoss("JPEG data is empty");
  JpegDecodeState s;
  s.cinfo.err = jpeg_std_error(&s.err.pub);
  s.err.pub.error_exit = on_error;
  s.err.pub.emit_message = on_message;
  if (setjmp(s.err.jump)) {
    return DataLoss("JPEG decoding failed: {}", s.err.message);
  }
  jpeg_create_decompress(&s.cinfo);
  s.created = true;
  // Work memory beyond the output image (progressive coefficient buffers):
  // bounded by the pixel limit; exceeding it makes libjpeg fail cleanly
  // ("backing store not supported") instead of allocating.
  s.cinfo.mem->max_memory_to_use = static_cast<long>(std::min<int64_t>(options.max_pixels, 1ll << 30) * 8 + (64 << 20));
  s.progress.progress_monitor = on_progress;
  s.cinfo.progress = &s.progress;
  jpeg_mem_src(&s.cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  decode_into(s, bytes, options);
  if (!s.status.ok()) return s.status;
  return std::move(s.image);
}

}  // namespace eric::media
