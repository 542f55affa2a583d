// Randomly initialised Qwen2-VL / Qwen2.5-VL checkpoints for tests and
// benchmarks (`eric make-test-model`): the published config.json and
// preprocessor_config.json layout, and weights under the published tensor
// names and shapes, sharded with model.safetensors.index.json.
//
// The weights depend only on (seed, tensor name, element index), through a
// counter-based generator with integer arithmetic and exact float sums, so
// the same seed gives bit-identical files on every machine and for any
// shard count — golden test data can be regenerated instead of committed.
#pragma once

#include <cstdint>
#include <string>

#include "models/model.h"

namespace eric::models::qwen2_vl {

// model_type "qwen2_vl" or "qwen2_5_vl".
Status write_test_model(const std::string& model_type, const std::string& out_dir, const TestModelOptions& options);

// Element `index` of tensor `name`: approximately standard normal (sum of
// four uniforms, rescaled to unit variance), identical on every platform.
float test_weight_normal(uint64_t seed, const std::string& name, uint64_t index);

}  // namespace eric::models::qwen2_vl
