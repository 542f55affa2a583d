#include "media/media_loader.h"

#include <cctype>

#include "media/loader_parts.h"

namespace eric::media {

std::string describe_url(std::string_view url) {
  constexpr size_t kMax = 96;
  if (url.size() <= kMax) return fmt::format("'{}'", url);
  return fmt::format("'{}...' ({} characters)", url.substr(0, kMax), url.size());
}

MediaLoader::MediaLoader(MediaLoaderOptions options)
    : options_(std::move(options)), allowed_roots_(canonicalize_roots(options_.allowed_local_media_paths)) {}

Result<LoadedMedia> MediaLoader::load(std::string_view url) const {
  const size_t colon = url.find(':');
  std::string scheme;
  bool valid = colon != std::string_view::npos && colon > 0 && std::isalpha(static_cast<unsigned char>(url[0]));
  for (size_t i = 0; valid && i < colon; ++i) {
    const auto c = static_cast<unsigned char>(url[i]);
    valid = std::isalnum(c) || c == '+' || c == '-' || c == '.';
    scheme += static_cast<char>(std::tolower(c));
  }
  if (!valid) {
    return InvalidArgument("media URL {} has no scheme; use http://, https://, data: or file://", describe_url(url));
  }
  if (scheme == "http" || scheme == "https") return fetch_http(url, options_);
  if (scheme == "data") return load_data_uri(url, options_.max_data_uri_bytes);
  if (scheme == "file") {
    if (url.substr(colon, 3) != "://") {
      return InvalidArgument("file URL must start with file:// : {}", describe_url(url));
    }
    return load_local_file(url, allowed_roots_, options_.max_bytes);
  }
  return InvalidArgument("unsupported URL scheme '{}' in {}; supported: http, https, data, file", scheme,
                         describe_url(url));
}

}  // namespace eric::media
