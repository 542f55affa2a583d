// How embeddings are handed to vLLM for a given checkpoint: in the dtype vLLM
// runs the model in (config.json "torch_dtype", or "dtype" as transformers
// ≥ 4.56 writes it, or the text config's), and with the vision config's
// spatial_merge_size relating Qwen grids to embedding rows.
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

#include "common/status.h"
#include "router/api_response.h"

namespace eric::router {

// `dtype_override` ("" = from the config) matches a vLLM started with an
// explicit --dtype. Like vLLM's --dtype auto (vllm/config/model.py,
// _resolve_auto_dtype), a float32 checkpoint — or one naming no dtype — is
// served in bfloat16, the first dtype current GPUs support; pass
// --vllm-dtype float16 for a vLLM on GPUs without bfloat16.
Result<VllmDelivery> vllm_delivery_from_config(const nlohmann::json& config, std::string_view dtype_override);

}  // namespace eric::router
