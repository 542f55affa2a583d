// Comparing an embedding the server sent back (JSON: base64 little-endian
// float32 bytes) with a reference tensor from `eric encode`.
#pragma once

#include <nlohmann/json.hpp>

#include "tensor/tensor.h"

namespace eric::integration {

// ‖a − ref‖ / ‖ref‖, or +inf when the data is not base64 of ref's byte size.
double relative_error(const nlohmann::json& embedding, const Tensor& ref);

}  // namespace eric::integration
