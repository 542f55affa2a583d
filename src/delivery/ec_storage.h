// vLLM's encoder-cache connector storage (ECExampleConnector): the consumer
// loads <shared_storage_path>/<mm_hash>/encoder_cache.safetensors, one tensor
// named "ec_cache" (CPU, model dtype), and only checks that the file exists
// — so the file is written under a temporary name and renamed into place.
#pragma once

#include <string>

#include "common/status.h"
#include "tensor/tensor.h"

namespace eric::delivery {

inline constexpr const char* kEcCacheFileName = "encoder_cache.safetensors";
inline constexpr const char* kEcCacheTensorName = "ec_cache";

// mm_hash must be one path component (it becomes a folder name).
Status write_ec_cache(const std::string& storage_path, const std::string& mm_hash, const Tensor& embedding);
std::string ec_cache_path(const std::string& storage_path, const std::string& mm_hash);

}  // namespace eric::delivery
