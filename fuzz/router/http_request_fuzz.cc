// Fuzzes the server's request parsing path (parse_http_request: the raw head
// scan, Beast's parser with the limits, head validation and the body) over
// a byte stream holding pipelined requests. Oracles: every refusal is one of
// the statuses the server sends for malformed input; a parsed request
// consumed bytes within the input, has an origin-form target and a body
// within the limit; the parse is deterministic.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "router/http_guard.h"

namespace {

constexpr size_t kHeaderLimit = 4096;
constexpr size_t kBodyLimit = 16384;

bool expected_status(int s) { return s == 400 || s == 405 || s == 413 || s == 431 || s == 501 || s == 505; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  // At most a few pipelined requests, as on one keep-alive connection.
  for (int i = 0; i < 8 && !rest.empty(); ++i) {
    eric::router::ParsedRequest p = eric::router::parse_http_request(rest, kHeaderLimit, kBodyLimit);
    if (p.error) {
      if (!expected_status(p.error->status) || p.error->message.empty() || p.request) __builtin_trap();
      return 0;
    }
    if (!p.request) return 0;  // needs more bytes
    if (p.consumed == 0 || p.consumed > rest.size()) __builtin_trap();
    if (p.request->target.empty() || p.request->target.front() != '/') __builtin_trap();
    if (p.request->body.size() > kBodyLimit) __builtin_trap();
    eric::router::ParsedRequest again = eric::router::parse_http_request(rest, kHeaderLimit, kBodyLimit);
    if (!again.request || again.consumed != p.consumed || again.request->body != p.request->body) __builtin_trap();
    rest.remove_prefix(p.consumed);
  }
  return 0;
}
