// Fuzzes the router<->engine protocol decoder with arbitrary headers and
// payload frames (they come from another process). Input layout: byte 0 =
// number of payload frames (mod 8); then per frame a 2-byte little-endian
// length and its bytes (clipped to what is left); the rest is the msgpack
// header. Any input must decode or fail cleanly; what decodes must
// re-encode and decode again (round trip).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "engine/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t pos = 0;
  const int frames = data[pos++] % 8;
  std::vector<eric::Tensor> payloads;
  for (int i = 0; i < frames; ++i) {
    size_t len = 0;
    if (pos + 2 <= size) {
      len = static_cast<size_t>(data[pos]) | (static_cast<size_t>(data[pos + 1]) << 8);
      pos += 2;
    }
    len = std::min(len, size - pos);
    auto t = eric::Tensor::empty(eric::DType::kU8, {static_cast<int64_t>(len)});
    if (!t.ok()) __builtin_trap();
    if (len > 0) std::memcpy(t->mutable_raw_data(), data + pos, len);
    pos += len;
    payloads.push_back(std::move(t).value());
  }
  std::string_view header(reinterpret_cast<const char*>(data + pos), size - pos);
  (void)eric::engine::peek_request_id(header);
  auto decoded = eric::engine::decode_message(header, std::move(payloads));
  if (!decoded.ok()) return 0;
  auto encoded = eric::engine::encode_message(*decoded);
  if (!encoded.ok()) __builtin_trap();
  auto again = eric::engine::decode_message(encoded->header, encoded->payloads);
  if (!again.ok() || again->index() != decoded->index()) __builtin_trap();
  return 0;
}
