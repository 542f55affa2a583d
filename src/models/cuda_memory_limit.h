// `--cuda-memory-limit`: how much of its GPU's memory eric may hold, for
// sharing a card with an LLM server (as vLLM's --gpu-memory-utilization and
// SGLang's --mem-fraction-static do on their side).
//
// Syntax (one of):
//   20, 20GiB, 1.5GiB, 512MiB   a size; a bare number is GiB
//   40%, 37.5%                  a share of the card's total memory, (0, 100]
//   "" (the default)            no limit
// A bare number below 1 ("0.4") is refused as ambiguous: it reads as vLLM's
// fraction syntax, and 0.4 GiB is rarely meant; write 40% or 0.4GiB. Decimal
// units (GB, MB) are refused too, so 20 always means 2^30-byte GiB.
//
// The limit caps the caching allocator (backend/cuda/block_cache.h): weights,
// activations and the cached blocks; not the CUDA context or NCCL's buffers
// (a few hundred MiB the driver reports on top). A share is resolved on the
// GPU at load from the device's total memory.
//
// Header-only and CUDA-free: parsed (and unit-tested) on every build; the CLI
// validates with it before starting anything.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace eric::models {

struct CudaMemoryLimit {
  uint64_t bytes = 0;   // a size, or
  double fraction = 0;  // a share of the card's total memory in (0, 1]; both 0: no limit

  bool none() const { return bytes == 0 && fraction == 0; }
  // The cap in bytes on a card with `total_bytes` of memory (0: no limit).
  uint64_t resolve(uint64_t total_bytes) const {
    if (fraction > 0) return static_cast<uint64_t>(std::floor(fraction * static_cast<double>(total_bytes)));
    return bytes;
  }
};

namespace detail {
inline bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace detail

inline Result<CudaMemoryLimit> cuda_memory_limit_from_string(std::string_view spec) {
  constexpr const char* kSyntax = "a size such as 20GiB or 512MiB (a bare number is GiB), or a share such as 40%";
  const std::string_view s = detail::trim(spec);
  if (s.empty()) return CudaMemoryLimit{};
  // Digits and one '.', nothing else: no sign, exponent, hex, inf or nan.
  size_t n = 0;
  while (n < s.size() && ((s[n] >= '0' && s[n] <= '9') || s[n] == '.')) ++n;
  double value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + n, value, std::chars_format::fixed);
  if (n == 0 || ec != std::errc() || end != s.data() + n) {
    return InvalidArgument("--cuda-memory-limit '{}': not a number; give {}", spec, kSyntax);
  }
  const std::string_view unit = detail::trim(s.substr(n));
  if (!(value > 0)) {
    return InvalidArgument("--cuda-memory-limit '{}' must be positive (leave the option out for no limit)", spec);
  }
  CudaMemoryLimit limit;
  if (unit == "%") {
    if (value > 100) return InvalidArgument("--cuda-memory-limit '{}': a share is at most 100%", spec);
    limit.fraction = value / 100;
    return limit;
  }
  double unit_bytes = 0;
  if (unit.empty()) {
    if (value < 1) {
      return InvalidArgument(
          "--cuda-memory-limit '{}' is ambiguous: write {:g}% for a share of the GPU's memory or {}GiB for a size",
          spec, value * 100, s);
    }
    unit_bytes = double(uint64_t{1} << 30);
  } else if (detail::ieq(unit, "GiB")) {
    unit_bytes = double(uint64_t{1} << 30);
  } else if (detail::ieq(unit, "MiB")) {
    unit_bytes = double(uint64_t{1} << 20);
  } else if (detail::ieq(unit, "TiB")) {
    unit_bytes = double(uint64_t{1} << 40);
  } else {
    return InvalidArgument("--cuda-memory-limit '{}': unknown unit '{}'; give {} (GiB/MiB/TiB are powers of 1024)",
                           spec, unit, kSyntax);
  }
  const double bytes = value * unit_bytes;
  // Below 1 MiB nothing fits (cuBLASLt's workspace alone is larger); above
  // 1 PiB is a typo, and would overflow on the way to an integer.
  if (bytes < double(uint64_t{1} << 20)) return InvalidArgument("--cuda-memory-limit '{}' is below 1 MiB", spec);
  if (bytes > double(uint64_t{1} << 50)) return InvalidArgument("--cuda-memory-limit '{}' is above 1 PiB", spec);
  limit.bytes = static_cast<uint64_t>(bytes);
  return limit;
}

}  // namespace eric::models
