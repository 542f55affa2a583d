// Element types and exact conversions between the float formats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "common/status.h"

namespace eric {

enum class DType : uint8_t { kF32, kBF16, kF16, kU8, kI32, kI64, kBool };

size_t dtype_size(DType dt);
// Lower-case name for messages: "float32", "bfloat16", ...
std::string_view dtype_name(DType dt);
// The safetensors spelling: "F32", "BF16", "F16", "U8", "I32", "I64", "BOOL".
std::string_view dtype_safetensors_name(DType dt);
Result<DType> dtype_from_safetensors_name(std::string_view name);
// Accepts "float32"/"f32"/"fp32", "bfloat16"/"bf16", "float16"/"f16"/"fp16".
Result<DType> dtype_from_string(std::string_view name);
bool dtype_is_float(DType dt);

// ---- bit-exact float conversions -------------------------------------------
// f32 -> bf16/f16 round to nearest, ties to even; NaN stays NaN (quiet, sign
// kept), +-Inf stays +-Inf; f16 handles subnormals and overflow to Inf.

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float bf16_to_f32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep sign and top payload, force quiet
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  }
  uint32_t rounding_bias = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding_bias) >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// Converts n elements between dtypes (float types and integer types; values
// outside the target's range follow C++ conversion for integers).
Status convert_elements(const void* src, DType src_dt, void* dst, DType dst_dt, size_t n);

}  // namespace eric
