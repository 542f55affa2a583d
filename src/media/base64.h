// Standard base64 (RFC 4648 §4, '+' and '/', '=' padding). Decoding is
// strict: the length must be a multiple of 4, padding only at the end and
// only as needed, no whitespace or other characters, and the unused bits of
// the last group must be zero, so every payload has exactly one encoding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace eric::media {

std::string base64_encode(std::string_view bytes);

// Size of the decoded data, from the length and padding alone (no
// validation); lets callers enforce a size cap before decoding.
int64_t base64_decoded_size(std::string_view text);

// DataLoss naming the first offending character and its offset.
Result<std::string> base64_decode(std::string_view text);

}  // namespace eric::media
