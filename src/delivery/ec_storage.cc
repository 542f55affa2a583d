#include "delivery/ec_storage.h"

#include <filesystem>

#include "tensor/safetensors.h"

namespace eric::delivery {

std::string ec_cache_path(const std::string& storage_path, const std::string& mm_hash) {
  return (std::filesystem::path(storage_path) / mm_hash / kEcCacheFileName).string();
}

Status write_ec_cache(const std::string& storage_path, const std::string& mm_hash, const Tensor& embedding) {
  if (mm_hash.empty() || mm_hash.size() > 255 || mm_hash == "." || mm_hash == ".." ||
      mm_hash.find('/') != std::string::npos || mm_hash.find('\0') != std::string::npos) {
    return InvalidArgument("item id '{}' cannot name an EC-connector storage folder", mm_hash);
  }
  std::filesystem::path dir = std::filesystem::path(storage_path) / mm_hash;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("{}: cannot create: {}", dir.string(), ec.message());
  // write_safetensors writes a temporary file and renames it into place.
  return write_safetensors(ec_cache_path(storage_path, mm_hash), {{kEcCacheTensorName, embedding}});
}

}  // namespace eric::delivery
