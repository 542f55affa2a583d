#include "media/image_decoder.h"

#include <limits>

#include "media/format_decoders.h"

namespace eric::media {

ImageFormat detect_image_format(std::string_view b) {
  if (b.size() >= 3 && b.substr(0, 3) == std::string_view("\xFF\xD8\xFF", 3)) return ImageFormat::kJpeg;
  if (b.size() >= 8 && b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1A\n", 8)) return ImageFormat::kPng;
  if (b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") return ImageFormat::kWebp;
  if (b.size() >= 6 && (b.substr(0, 6) == "GIF87a" || b.substr(0, 6) == "GIF89a")) return ImageFormat::kGif;
  if (b.size() >= 2 && b.substr(0, 2) == "BM") return ImageFormat::kBmp;
  return ImageFormat::kUnknown;
}

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return "JPEG";
    case ImageFormat::kPng: return "PNG";
    case ImageFormat::kWebp: return "WebP";
    case ImageFormat::kGif: return "GIF";
    case ImageFormat::kBmp: return "BMP";
    case ImageFormat::kUnknown: break;
  }
  return "unknown";
}

Status check_image_dimensions(const char* format, int64_t width, int64_t height, const DecodeOptions& options) {
  if (width <= 0 || height <= 0) {
    return DataLoss("{} image has invalid dimensions {}x{}", format, width, height);
  }
  // RgbImage stores int width/height; also keep w*h*4 (the widest buffer a
  // codec asks for) far from overflow.
  constexpr int64_t kMaxSide = std::numeric_limits<int>::max() / 4;
  if (width > kMaxSide || height > kMaxSide || width > options.max_pixels / height) {
    // The product is formatted as a double: it may not fit in 64 bits.
    return ResourceExhausted("{} image of {}x{} = {:.0f} pixels exceeds the limit of {} pixels", format, width,
                             height, static_cast<double>(width) * static_cast<double>(height), options.max_pixels);
  }
  return Status::Ok();
}

Result<RgbImage> decode_image(std::string_view bytes, const DecodeOptions& options) {
  if (bytes.empty()) return DataLoss("cannot decode an image from empty data");
  switch (detect_image_format(bytes)) {
    case ImageFormat::kJpeg: return decode_jpeg(bytes, options);
    case ImageFormat::kPng: return decode_png(bytes, options);
    case ImageFormat::kWebp: return decode_webp(bytes, options);
    case ImageFormat::kGif: return decode_gif(bytes, options);
    case ImageFormat::kBmp: return decode_bmp(bytes, options);
    case ImageFormat::kUnknown: break;
  }
  std::string head;
  for (size_t i = 0; i < bytes.size() && i < 8; ++i) {
    head += fmt::format("{}{:02x}", i ? " " : "", static_cast<uint8_t>(bytes[i]));
  }
  return Unimplemented("unrecognised image format ({} bytes starting {}); supported: JPEG, PNG, WebP, GIF, BMP",
                       bytes.size(), head);
}

}  // namespace eric::media
