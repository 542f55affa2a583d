// Fetching media named by a URL: http(s) through libcurl with an SSRF guard,
// data: URIs with strict base64, and file:// inside allow-listed folders.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace eric::media {

struct MediaLoaderOptions {
  std::vector<std::string> allowed_local_media_paths;  // --allowed-local-media-path (repeatable)
  bool allow_private_network = false;  // permit loopback/private/link-local/multicast targets (tests use it)
  // Non-public blocks reachable anyway (CIDR, e.g. "10.1.0.0/16"); every
  // other non-public address stays refused, also after redirects.
  std::vector<std::string> allowed_networks;
  int connect_timeout_ms = 10'000;
  int total_timeout_ms = 60'000;
  int64_t max_bytes = 256ll << 20;
  int max_redirects = 5;
  int64_t max_data_uri_bytes = 256ll << 20;
};

struct LoadedMedia {
  std::string bytes;
  std::string mime_type;  // from data: URI or Content-Type, may be empty
};

class MediaLoader {
 public:
  explicit MediaLoader(MediaLoaderOptions options);
  // http(s)://, data:<mime>;base64,<payload>, file://<abs path>. Anything else: clear error naming the scheme.
  Result<LoadedMedia> load(std::string_view url) const;
  // Cornserve's data:video/jpeg;base64,<f1>,<f2>,... form: the decoded frames.
  static Result<std::vector<std::string>> split_jpeg_frame_list(std::string_view data_uri, int64_t max_bytes);

 private:
  MediaLoaderOptions options_;
  std::vector<std::string> allowed_roots_;  // canonicalised allowed_local_media_paths
};

}  // namespace eric::media
