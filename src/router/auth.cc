#include "router/auth.h"

#include <cctype>

#include "router/api_response.h"

namespace eric::router {

bool constant_time_equals(std::string_view presented, std::string_view expected) {
  // Walk the presented string only; index the key cyclically so the loop
  // never ends early and never depends on the key's length. An empty key
  // never matches (ApiKeyAuth does not call this then).
  if (expected.empty()) return false;
  volatile unsigned char diff = presented.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < presented.size(); ++i) {
    diff = diff | static_cast<unsigned char>(presented[i] ^ expected[i % expected.size()]);
  }
  return diff == 0;
}

ApiKeyAuth::ApiKeyAuth(std::string key) : key_(std::move(key)) {}

namespace {

HttpResponse unauthorized(std::string_view message, std::string_view error) {
  HttpResponse r = json_error(401, message);
  // RFC 6750: the scheme, and for a wrong token the error code.
  std::string challenge = "Bearer realm=\"eric\"";
  if (!error.empty()) challenge += ", error=\"" + std::string(error) + "\"";
  r.headers.emplace_back("WWW-Authenticate", std::move(challenge));
  return r;
}

}  // namespace

std::optional<HttpResponse> ApiKeyAuth::check(const HttpRequest& head) const {
  if (!enabled()) return std::nullopt;
  // /health stays open so that load balancers and orchestrators need no key.
  if (head.path() == "/health") return std::nullopt;
  std::string_view value = head.authorization;
  if (value.empty()) {
    return unauthorized("missing API key: send the header 'Authorization: Bearer <key>'", "");
  }
  // The scheme is case-insensitive (RFC 7235); exactly one space before the token.
  constexpr std::string_view kScheme = "bearer ";
  bool bearer = value.size() > kScheme.size();
  for (size_t i = 0; bearer && i < kScheme.size(); ++i) {
    bearer = std::tolower(static_cast<unsigned char>(value[i])) == kScheme[i];
  }
  if (!bearer) {
    return unauthorized("the Authorization header must use the Bearer scheme: 'Authorization: Bearer <key>'",
                        "invalid_request");
  }
  if (!constant_time_equals(value.substr(kScheme.size()), key_)) {
    return unauthorized("invalid API key", "invalid_token");
  }
  return std::nullopt;
}

}  // namespace eric::router
