// A small blocking HTTP client on libcurl for the Hub: HEAD for metadata,
// GET streamed into a file (with Range for resuming), redirects handled by
// the caller (the Hub's logic depends on whether a redirect is relative).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace eric::hub {

struct HttpResponse {
  long status = 0;
  // Header names lower-cased; the last value wins.
  std::map<std::string, std::string> headers;
  std::string body;  // HEAD: empty; small GETs into memory only

  std::string header(const std::string& lower_name) const;
};

struct HttpOptions {
  long connect_timeout_ms = 10'000;
  long low_speed_timeout_s = 60;  // abort a transfer slower than 1 KB/s for this long
  std::vector<std::string> headers;  // "Name: value"
};

// Called with (bytes received so far in this transfer). Return false to abort.
using ProgressFn = std::function<bool(int64_t)>;

// Transport failures (DNS, refused, reset, timeout) are Unavailable; any HTTP
// status is a successful response for the caller to judge.
Result<HttpResponse> http_head(const std::string& url, const HttpOptions& options);
Result<HttpResponse> http_get_to_memory(const std::string& url, const HttpOptions& options, int64_t max_bytes);
// Appends the body to `path` when the server answers 206, truncates and
// writes it when 200; other statuses leave the file alone. resume_from > 0
// sends "Range: bytes=<resume_from>-".
Result<HttpResponse> http_get_to_file(const std::string& url, const HttpOptions& options, const std::string& path,
                                      int64_t resume_from, const ProgressFn& progress);

// Percent-encodes everything but unreserved characters (and '/' when keep_slash).
std::string url_quote(const std::string& s, bool keep_slash);

}  // namespace eric::hub
