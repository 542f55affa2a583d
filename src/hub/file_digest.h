// Digests the Hub uses as ETags: SHA-256 of the content for LFS files, and
// git's blob SHA-1 ("blob <size>\0" + content) for regular files.
#pragma once

#include <string>

#include "common/status.h"

namespace eric::hub {

// Lower-case hex.
Result<std::string> sha256_file_hex(const std::string& path);
Result<std::string> git_blob_sha1_file_hex(const std::string& path);

// Checks `path` against an ETag when the ETag has a digest's shape (64 hex:
// SHA-256, 40 hex: git SHA-1). Other ETags cannot be checked and pass.
Status verify_file_against_etag(const std::string& path, const std::string& etag);

}  // namespace eric::hub
