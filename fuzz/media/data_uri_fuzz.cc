// Fuzzes data: URI parsing, the strict base64 decoder and Cornserve's JPEG
// frame lists. Strictness means a payload that decodes must be the one
// canonical encoding of its bytes, so re-encoding has to give it back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "media/base64.h"
#include "media/loader_parts.h"
#include "media/media_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto decoded = eric::media::base64_decode(input);
  if (decoded.ok()) {
    if (eric::media::base64_encode(*decoded) != input) __builtin_trap();
    if (static_cast<int64_t>(decoded->size()) != eric::media::base64_decoded_size(input)) __builtin_trap();
  }
  const std::string uri = "data:" + std::string(input);
  constexpr int64_t kCap = 1 << 16;
  auto media = eric::media::load_data_uri(uri, kCap);
  if (media.ok() && static_cast<int64_t>(media->bytes.size()) > kCap) __builtin_trap();
  auto frames = eric::media::MediaLoader::split_jpeg_frame_list(uri, kCap);
  if (frames.ok()) {
    int64_t total = 0;
    for (const auto& f : *frames) total += static_cast<int64_t>(f.size());
    if (total > kCap || frames->empty()) __builtin_trap();
  }
  eric::media::MediaLoader loader{eric::media::MediaLoaderOptions{}};
  (void)loader.load(uri);
  return 0;
}
