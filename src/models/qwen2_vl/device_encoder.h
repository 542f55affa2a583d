// Choosing where a Qwen vision tower runs: `--device cuda` loads a
// CudaVisionEncoder (qwen2_vl/vision_tower_cuda.h) running the family's plan;
// builds without the CUDA backend answer with an error naming the device.
#pragma once

#include <memory>

#include "models/qwen2_vl/tower_plan.h"
#include "models/qwen2_vl/vision_common.h"

namespace eric::models::qwen2_vl {

// True when this binary has the CUDA backend.
bool cuda_backend_built();

// The tower of `style` on GPU options.device_index, running `plan`'s
// reordering and attention segments. Unavailable without the CUDA backend or
// a usable GPU; Unimplemented with tensor parallelism.
Result<std::unique_ptr<PackedVisionEncoder>> load_cuda_vision_encoder(const VisionConfig& cfg, const WeightMap& weights,
                                                                      const BlockStyle& style, PlanBuilder plan,
                                                                      const EncoderOptions& options);

}  // namespace eric::models::qwen2_vl
