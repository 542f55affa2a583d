// A minimal ZIP writer for uncompressed (STORED) archives, as PyTorch's
// torch.save container uses: each entry's data starts on a 64-byte boundary
// (padded through the local header's extra field, as PyTorchStreamWriter
// does), CRC-32 from zlib, no ZIP64 (archives stay below 4 GiB).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace eric::delivery {

class ZipWriter {
 public:
  Status add(std::string_view name, std::string_view data);
  // The archive's bytes (local entries + central directory + end record).
  Result<std::string> finish();

 private:
  struct Entry {
    std::string name;
    uint32_t crc = 0;
    uint32_t size = 0;
    uint32_t offset = 0;
    uint16_t extra = 0;
  };
  std::string out_;
  std::vector<Entry> entries_;
  bool finished_ = false;
};

}  // namespace eric::delivery
