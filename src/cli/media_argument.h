// Reads a media command-line argument: a URL with a scheme (http:, https:,
// data:, file:) goes through MediaLoader; anything else is a local path read
// directly, since the CLI user is trusted. Shared by preprocess and encode.
#pragma once

#include <string>

#include "common/status.h"

namespace eric::cli {

Result<std::string> read_media_argument(const std::string& path_or_url);

}  // namespace eric::cli
