#include "router/vllm_delivery.h"

namespace eric::router {

namespace {

using json = nlohmann::json;

const json* find_string(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? &*it : nullptr;
}

}  // namespace

Result<VllmDelivery> vllm_delivery_from_config(const json& config, std::string_view dtype_override) {
  VllmDelivery out;
  std::string name(dtype_override);
  if (name.empty()) {
    const json* found = nullptr;
    for (const json* scope : {&config, config.is_object() && config.contains("text_config") ? &config["text_config"]
                                                                                          : nullptr}) {
      if (scope == nullptr || found != nullptr) continue;
      found = find_string(*scope, "torch_dtype");
      if (found == nullptr) found = find_string(*scope, "dtype");
    }
    name = found != nullptr ? found->get<std::string>() : "float32";
  }
  auto dtype = dtype_from_string(name);
  if (!dtype.ok() || !dtype_is_float(*dtype)) {
    return InvalidArgument("embedding dtype '{}' (from {}) is not float32, bfloat16 or float16", name,
                           dtype_override.empty() ? "config.json" : "--vllm-dtype");
  }
  out.dtype = *dtype;
  // vLLM downcasts float32 models under --dtype auto; an explicit float32 stays.
  if (dtype_override.empty() && out.dtype == DType::kF32) out.dtype = DType::kBF16;
  if (config.is_object()) {
    if (auto vision = config.find("vision_config"); vision != config.end() && vision->is_object()) {
      if (auto merge = vision->find("spatial_merge_size"); merge != vision->end()) {
        if (!merge->is_number_integer() || merge->get<int64_t>() < 1) {
          return InvalidArgument("config.json: vision_config.spatial_merge_size must be a positive integer");
        }
        out.spatial_merge_size = merge->get<int64_t>();
      }
    }
  }
  return out;
}

}  // namespace eric::router
