// Reading (zero-copy, via mmap) and writing safetensors files.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "tensor/mapped_file.h"
#include "tensor/safetensors_header.h"
#include "tensor/tensor.h"

namespace eric {

class SafetensorsFile {
 public:
  // Maps the file and validates its header. The data is not touched.
  static Result<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const SafetensorsHeader& header() const { return header_; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  bool contains(std::string_view name) const { return header_.find(name) != nullptr; }
  std::vector<std::string> names() const;

  // A read-only tensor viewing the mapped bytes (no copy), kept alive by the
  // tensor itself. Misaligned data (headers not padded to 8 bytes) is copied
  // into aligned memory instead.
  Result<Tensor> get(std::string_view name) const;

 private:
  std::shared_ptr<MappedFile> file_;
  SafetensorsHeader header_;
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Serialises tensors (any strides; written contiguous) with optional string
// metadata. Entries are written widest dtype first, then by name, and the
// header is padded with spaces to a multiple of 8 bytes, as the reference
// implementation does, so every tensor is aligned in the file.
Result<std::string> safetensors_to_bytes(const NamedTensors& tensors,
                                         const std::map<std::string, std::string>& metadata = {});

// Writes to `path` atomically (temporary file + rename), streaming tensor data.
Status write_safetensors(const std::string& path, const NamedTensors& tensors,
                         const std::map<std::string, std::string>& metadata = {});

// Loads a whole safetensors file from memory (e.g. an HTTP body): copies
// tensors out of `bytes`.
Result<NamedTensors> safetensors_from_bytes(std::string_view bytes);

}  // namespace eric
