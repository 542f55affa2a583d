// API-key authentication: with a key configured (--api-key or ERIC_API_KEY),
// every request except GET /health must carry `Authorization: Bearer <key>`.
// Checked on the request head, before any body is read, so an
// unauthenticated client cannot make the server buffer or parse anything.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "router/http_types.h"

namespace eric::router {

// Compares in time that depends only on the length of `presented` (the
// attacker's input), never on where the first difference is or on the
// key's content.
bool constant_time_equals(std::string_view presented, std::string_view expected);

class ApiKeyAuth {
 public:
  // An empty key disables authentication.
  explicit ApiKeyAuth(std::string key);

  bool enabled() const { return !key_.empty(); }
  // nullopt when the request may pass; otherwise the 401 JSON answer (with
  // WWW-Authenticate), saying whether the header was missing or wrong.
  std::optional<HttpResponse> check(const HttpRequest& head) const;

 private:
  std::string key_;
};

}  // namespace eric::router
