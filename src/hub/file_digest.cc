#include "hub/file_digest.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

namespace eric::hub {

namespace {

Result<std::string> digest_file(const std::string& path, const EVP_MD* md, const std::string& prefix) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) return IoError("{}: cannot open for hashing", path);
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) return Internal("OpenSSL digest init failed");
  if (!prefix.empty()) EVP_DigestUpdate(ctx.get(), prefix.data(), prefix.size());
  std::vector<unsigned char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) EVP_DigestUpdate(ctx.get(), buf.data(), n);
  if (std::ferror(f.get())) return IoError("{}: read error while hashing", path);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), out, &len);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 15]);
  }
  return hex;
}

bool is_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

}  // namespace

Result<std::string> sha256_file_hex(const std::string& path) { return digest_file(path, EVP_sha256(), ""); }

Result<std::string> git_blob_sha1_file_hex(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return IoError("{}: cannot stat: {}", path, ec.message());
  std::string prefix = "blob " + std::to_string(size);
  prefix.push_back('\0');
  return digest_file(path, EVP_sha1(), prefix);
}

Status verify_file_against_etag(const std::string& path, const std::string& etag) {
  std::string want = etag;
  std::transform(want.begin(), want.end(), want.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!is_hex(want) || (want.size() != 64 && want.size() != 40)) return Status::Ok();
  ERIC_ASSIGN_OR_RETURN(std::string got, want.size() == 64 ? sha256_file_hex(path) : git_blob_sha1_file_hex(path));
  if (got != want) {
    return DataLoss("{}: checksum mismatch: the Hub announced {} {}, the downloaded file has {}", path,
                    want.size() == 64 ? "SHA-256" : "git SHA-1", want, got);
  }
  return Status::Ok();
}

}  // namespace eric::hub
