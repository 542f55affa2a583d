// Fuzzes the safetensors header parser and the in-memory loader with
// arbitrary bytes: any input must give a value or an error, never a crash,
// a sanitizer report or a huge allocation.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tensor/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto header = eric::parse_safetensors_header(data, size, size);
  if (header.ok()) {
    // A valid header must describe bytes inside the input.
    for (const auto& e : header->entries) {
      if (header->data_offset + e.end > size) __builtin_trap();
    }
    auto tensors = eric::safetensors_from_bytes(std::string_view(reinterpret_cast<const char*>(data), size));
    (void)tensors;
  }
  return 0;
}
