// Strict parser for the safetensors header: an 8-byte little-endian length N,
// then N bytes of JSON describing every tensor, then the data buffer.
// Pure function of the bytes, so it is fuzzed directly.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "tensor/dtype.h"
#include "tensor/shape.h"

namespace eric {

struct SafetensorsEntry {
  std::string name;
  std::string dtype_name;      // as written in the file, e.g. "BF16" or "F64"
  std::optional<DType> dtype;  // empty for valid safetensors dtypes eric does not compute in
  Shape shape;
  uint64_t begin = 0;  // byte offsets into the data buffer
  uint64_t end = 0;
};

struct SafetensorsHeader {
  uint64_t header_size = 0;  // N
  uint64_t data_offset = 0;  // 8 + N: where the data buffer starts in the file
  std::vector<SafetensorsEntry> entries;  // sorted by begin offset
  std::map<std::string, size_t> index;    // name -> position in entries
  std::map<std::string, std::string> metadata;

  const SafetensorsEntry* find(std::string_view name) const;
};

// The official implementation's limit; larger headers are rejected.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Parses and validates the header of a safetensors file whose first
// `available` bytes are at `data` and whose total size is `file_size`.
// Validation: length prefix present and within limits, JSON object without
// duplicate keys, every entry well-formed, byte ranges inside the data buffer,
// consistent with dtype x shape, non-overlapping and covering the buffer.
Result<SafetensorsHeader> parse_safetensors_header(const uint8_t* data, size_t available, uint64_t file_size);

}  // namespace eric
