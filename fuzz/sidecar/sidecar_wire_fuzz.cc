// Fuzzes the sidecar's message decoder (control socket and sidecar-to-sidecar
// TCP messages come from other processes and other machines). The input is
// one frame: 24-byte header, then the body. Anything must decode or fail
// cleanly; what decodes must validate without crashing and survive a round
// trip (encode, decode, same fields).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sidecar/wire.h"

using namespace eric::sidecar;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto h = decode_frame_header(in);
  if (!h.ok()) return 0;
  std::string_view body = in.substr(kFrameHeaderBytes);
  if (body.size() > h->body_len) body = body.substr(0, h->body_len);
  auto m = decode_message_body(*h, body);
  if (!m.ok()) return 0;
  (void)validate_tensor(*m);
  (void)status_of(*m);
  const std::string again = encode_message(*m);
  auto h2 = decode_frame_header(again);
  if (!h2.ok()) __builtin_trap();
  auto m2 = decode_message_body(*h2, std::string_view(again).substr(kFrameHeaderBytes));
  if (!m2.ok()) __builtin_trap();
  if (m2->type != m->type || m2->seq != m->seq || m2->chunk != m->chunk || m2->rank != m->rank ||
      m2->offset != m->offset || m2->bytes != m->bytes || m2->timeout_ms != m->timeout_ms || m2->code != m->code ||
      m2->id != m->id || m2->dtype != m->dtype || m2->text != m->text || m2->shape != m->shape ||
      m2->groups != m->groups || m2->payload_len != m->payload_len) {
    __builtin_trap();
  }
  // The exact bytes come back (one canonical encoding).
  if (again != std::string(in.substr(0, kFrameHeaderBytes + h->body_len))) __builtin_trap();
  return 0;
}
