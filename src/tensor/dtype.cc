#include "tensor/dtype.h"

namespace eric {

size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::kF32: return 4;
    case DType::kBF16: return 2;
    case DType::kF16: return 2;
    case DType::kU8: return 1;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
    case DType::kBool: return 1;
  }
  return 0;
}

std::string_view dtype_name(DType dt) {
  switch (dt) {
    case DType::kF32: return "float32";
    case DType::kBF16: return "bfloat16";
    case DType::kF16: return "float16";
    case DType::kU8: return "uint8";
    case DType::kI32: return "int32";
    case DType::kI64: return "int64";
    case DType::kBool: return "bool";
  }
  return "?";
}

std::string_view dtype_safetensors_name(DType dt) {
  switch (dt) {
    case DType::kF32: return "F32";
    case DType::kBF16: return "BF16";
    case DType::kF16: return "F16";
    case DType::kU8: return "U8";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
    case DType::kBool: return "BOOL";
  }
  return "?";
}

Result<DType> dtype_from_safetensors_name(std::string_view name) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16, DType::kU8, DType::kI32, DType::kI64,
                   DType::kBool}) {
    if (name == dtype_safetensors_name(dt)) return dt;
  }
  return Unimplemented("unsupported safetensors dtype '{}'", name);
}

Result<DType> dtype_from_string(std::string_view name) {
  if (name == "float32" || name == "f32" || name == "fp32" || name == "F32") return DType::kF32;
  if (name == "bfloat16" || name == "bf16" || name == "BF16") return DType::kBF16;
  if (name == "float16" || name == "f16" || name == "fp16" || name == "half" || name == "F16")
    return DType::kF16;
  return InvalidArgument("unknown dtype '{}' (use float32, bfloat16 or float16)", name);
}

bool dtype_is_float(DType dt) {
  return dt == DType::kF32 || dt == DType::kBF16 || dt == DType::kF16;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t out;
  if (exp == 0x1f) {  // Inf / NaN
    out = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {  // normal
    out = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {  // zero
    out = sign;
  } else {  // subnormal: normalise
    int shift = 0;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      ++shift;
    }
    mant &= 0x3ffu;
    out = sign | (static_cast<uint32_t>(113 - shift) << 23) | (mant << 13);
  }
  return f32_from_bits(out);
}

uint16_t f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) {  // NaN: keep top payload bits, force quiet
    return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  }
  if (abs >= 0x477ff000u) {  // rounds to >= 65520 -> Inf (also Inf itself)
    return static_cast<uint16_t>(sign | 0x7c00u);
  }
  if (abs < 0x38800000u) {  // below the smallest normal f16 (2^-14): subnormal or zero
    if (abs < 0x33000000u) return sign;  // < 2^-25 rounds to zero (2^-25 ties to even -> 0)
    // value = m * 2^(e-150) with the implicit bit; f16 subnormal unit is 2^-24.
    uint32_t e = abs >> 23;
    uint32_t m = (abs & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // 150 - 24 = 126: right shift to units of 2^-24
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  // Normal: rebias exponent (127 -> 15) and round the mantissa to 10 bits.
  uint32_t rebased = abs - (112u << 23);
  uint32_t q = rebased >> 13;
  uint32_t rem = rebased & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) ++q;  // may carry into exponent: correct
  return static_cast<uint16_t>(sign | q);
}

namespace {

template <typename T>
double load_as_double(const void* p, size_t i) {
  return static_cast<double>(static_cast<const T*>(p)[i]);
}

double load_any(const void* src, DType dt, size_t i) {
  switch (dt) {
    case DType::kF32: return load_as_double<float>(src, i);
    case DType::kBF16: return bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
    case DType::kF16: return f16_to_f32(static_cast<const uint16_t*>(src)[i]);
    case DType::kU8: return load_as_double<uint8_t>(src, i);
    case DType::kI32: return load_as_double<int32_t>(src, i);
    case DType::kI64: return load_as_double<int64_t>(src, i);
    case DType::kBool: return static_cast<const uint8_t*>(src)[i] ? 1.0 : 0.0;
  }
  return 0.0;
}

void store_any(void* dst, DType dt, size_t i, double v) {
  switch (dt) {
    case DType::kF32: static_cast<float*>(dst)[i] = static_cast<float>(v); break;
    case DType::kBF16: static_cast<uint16_t*>(dst)[i] = f32_to_bf16(static_cast<float>(v)); break;
    case DType::kF16: static_cast<uint16_t*>(dst)[i] = f32_to_f16(static_cast<float>(v)); break;
    case DType::kU8: static_cast<uint8_t*>(dst)[i] = static_cast<uint8_t>(v); break;
    case DType::kI32: static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(v); break;
    case DType::kI64: static_cast<int64_t*>(dst)[i] = static_cast<int64_t>(v); break;
    case DType::kBool: static_cast<uint8_t*>(dst)[i] = v != 0.0; break;
  }
}

}  // namespace

Status convert_elements(const void* src, DType src_dt, void* dst, DType dst_dt, size_t n) {
  if (src_dt == dst_dt) {
    std::memcpy(dst, src, n * dtype_size(src_dt));
    return Status::Ok();
  }
  // Fast paths for the conversions weight loading does.
  if (dst_dt == DType::kF32 && src_dt == DType::kBF16) {
    auto* s = static_cast<const uint16_t*>(src);
    auto* d = static_cast<uint32_t*>(dst);
    for (size_t i = 0; i < n; ++i) d[i] = static_cast<uint32_t>(s[i]) << 16;
    return Status::Ok();
  }
  if (dst_dt == DType::kF32 && src_dt == DType::kF16) {
    auto* s = static_cast<const uint16_t*>(src);
    auto* d = static_cast<float*>(dst);
    for (size_t i = 0; i < n; ++i) d[i] = f16_to_f32(s[i]);
    return Status::Ok();
  }
  if (src_dt == DType::kF32 && dst_dt == DType::kBF16) {
    auto* s = static_cast<const float*>(src);
    auto* d = static_cast<uint16_t*>(dst);
    for (size_t i = 0; i < n; ++i) d[i] = f32_to_bf16(s[i]);
    return Status::Ok();
  }
  if (src_dt == DType::kF32 && dst_dt == DType::kF16) {
    auto* s = static_cast<const float*>(src);
    auto* d = static_cast<uint16_t*>(dst);
    for (size_t i = 0; i < n; ++i) d[i] = f32_to_f16(s[i]);
    return Status::Ok();
  }
  // General path through double: exact for every value these types hold
  // except int64 beyond 2^53, which only the i64 <-> i64 memcpy path keeps.
  if ((src_dt == DType::kI64) != (dst_dt == DType::kI64) && !dtype_is_float(src_dt) &&
      !dtype_is_float(dst_dt)) {
    // integer <-> integer without double: keep exactness for large values
    for (size_t i = 0; i < n; ++i) {
      int64_t v = 0;
      switch (src_dt) {
        case DType::kU8: case DType::kBool: v = static_cast<const uint8_t*>(src)[i]; break;
        case DType::kI32: v = static_cast<const int32_t*>(src)[i]; break;
        case DType::kI64: v = static_cast<const int64_t*>(src)[i]; break;
        default: break;
      }
      switch (dst_dt) {
        case DType::kU8: static_cast<uint8_t*>(dst)[i] = static_cast<uint8_t>(v); break;
        case DType::kBool: static_cast<uint8_t*>(dst)[i] = v != 0; break;
        case DType::kI32: static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(v); break;
        case DType::kI64: static_cast<int64_t*>(dst)[i] = v; break;
        default: break;
      }
    }
    return Status::Ok();
  }
  for (size_t i = 0; i < n; ++i) store_any(dst, dst_dt, i, load_any(src, src_dt, i));
  return Status::Ok();
}

}  // namespace eric
