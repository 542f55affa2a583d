// A test-only model family, "eric_test_linear": embedding = pixel_values @
// W^T with W = visual.proj.weight [out, in]. Tensor parallel like a
// row-parallel layer: rank r multiplies its slice of the input features and
// the partial products are all-reduced. A negative pixel_values[0][0] makes
// the encoder sleep that many milliseconds (to keep a batch in flight while a
// test kills a worker). Registered by linking test_linear_family.cc.
#pragma once

#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace eric::testing {

inline constexpr const char* kTestLinearModelType = "eric_test_linear";

// Writes config.json + model.safetensors for in_features -> out_features.
void write_test_linear_model(const std::string& dir, int in_features, int out_features, uint64_t seed);

// The expected embedding, computed here in double precision.
Tensor test_linear_reference(const std::string& dir, const Tensor& pixel_values);

}  // namespace eric::testing
