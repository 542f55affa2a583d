// The pieces MediaLoader::load dispatches to, one per URL scheme. Internal
// to src/media (tests and fuzz targets use them directly).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "media/media_loader.h"

namespace eric::media {

// "data:<mime>[;param...];base64,<payload>". The decoded size is checked
// against max_bytes before anything is decoded.
Result<LoadedMedia> load_data_uri(std::string_view uri, int64_t max_bytes);

// "file://<absolute path>" (percent-escapes decoded), read only when its
// canonical path lies inside one of `canonical_roots`.
Result<LoadedMedia> load_local_file(std::string_view url, const std::vector<std::string>& canonical_roots,
                                    int64_t max_bytes);

// Canonical forms of the allow-listed folders (missing folders are kept in
// weakly-canonical form, so they match nothing that does not exist).
std::vector<std::string> canonicalize_roots(const std::vector<std::string>& paths);

Result<LoadedMedia> fetch_http(std::string_view url, const MediaLoaderOptions& options);

// A URL shortened for error messages (data: URIs can be megabytes).
std::string describe_url(std::string_view url);

}  // namespace eric::media
