// Feeds arbitrary bytes to one image decoder (ERIC_FUZZ_DECODER, set per
// target in CMakeLists.txt) and to the format-sniffing entry point: each
// must return an image of the announced size or an error, never crash or
// allocate beyond the pixel limit.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "media/format_decoders.h"
#include "media/image_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  eric::media::DecodeOptions options;
  options.max_pixels = 1 << 20;  // keeps each run fast and far below -rss_limit_mb
  auto image = eric::media::ERIC_FUZZ_DECODER(bytes, options);
  if (image.ok()) {
    if (image->width <= 0 || image->height <= 0) __builtin_trap();
    if (static_cast<int64_t>(image->width) * image->height > options.max_pixels) __builtin_trap();
    if (image->pixels.size() != static_cast<size_t>(image->width) * image->height * 3) __builtin_trap();
  } else if (image.status().message().empty()) {
    __builtin_trap();
  }
  (void)eric::media::decode_image(bytes, options);
  return 0;
}
