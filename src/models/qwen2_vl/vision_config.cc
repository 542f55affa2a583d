#include "models/qwen2_vl/vision_config.h"

#include <cmath>

namespace eric::models::qwen2_vl {

namespace {

using nlohmann::json;

// First present key among `names`, as T; NotFound naming them all otherwise.
template <typename T>
Result<T> get(const json& j, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    auto it = j.find(n);
    if (it == j.end() || it->is_null()) continue;
    try {
      return it->get<T>();
    } catch (const json::exception& e) {
      return InvalidArgument("vision_config.{}: {}", n, e.what());
    }
  }
  std::string all;
  for (const char* n : names) all += (all.empty() ? "" : " / ") + std::string(n);
  return NotFound("config.json vision_config has no {}", all);
}

template <typename T>
Result<T> get_or(const json& j, std::initializer_list<const char*> names, T fallback) {
  auto r = get<T>(j, names);
  if (r.ok()) return r;
  if (r.status().code() == ErrorCode::kNotFound) return fallback;
  return r.status();
}

Result<const json*> vision_section(const json& config) {
  auto it = config.find("vision_config");
  if (it == config.end() || !it->is_object()) return InvalidArgument("config.json has no vision_config object");
  return &*it;
}

Status validate(const VisionConfig& c) {
  auto positive = [](int64_t v, const char* name) -> Status {
    if (v <= 0) return InvalidArgument("vision_config.{} must be positive, got {}", name, v);
    return Status::Ok();
  };
  ERIC_RETURN_IF_ERROR(positive(c.depth, "depth"));
  ERIC_RETURN_IF_ERROR(positive(c.embed_dim, "embed_dim"));
  ERIC_RETURN_IF_ERROR(positive(c.out_hidden, "hidden_size (output)"));
  ERIC_RETURN_IF_ERROR(positive(c.num_heads, "num_heads"));
  ERIC_RETURN_IF_ERROR(positive(c.mlp_hidden, "mlp hidden size"));
  ERIC_RETURN_IF_ERROR(positive(c.in_channels, "in_channels"));
  ERIC_RETURN_IF_ERROR(positive(c.patch_size, "patch_size"));
  ERIC_RETURN_IF_ERROR(positive(c.spatial_merge_size, "spatial_merge_size"));
  ERIC_RETURN_IF_ERROR(positive(c.temporal_patch_size, "temporal_patch_size"));
  if (c.embed_dim % c.num_heads != 0) {
    return InvalidArgument("vision_config: embed dim {} is not divisible by num_heads {}", c.embed_dim, c.num_heads);
  }
  if (c.head_dim() % 4 != 0) {
    // 2-D rotary: head_dim/2 rotary dims split evenly between rows and columns.
    return InvalidArgument("vision_config: head dim {} must be a multiple of 4 for the 2-D rotary embedding",
                           c.head_dim());
  }
  return Status::Ok();
}

}  // namespace

Result<VisionConfig> VisionConfig::parse_qwen2_vl(const json& config) {
  ERIC_ASSIGN_OR_RETURN(const json* v, vision_section(config));
  VisionConfig c;
  ERIC_ASSIGN_OR_RETURN(c.depth, get<int64_t>(*v, {"depth"}));
  ERIC_ASSIGN_OR_RETURN(c.embed_dim, get<int64_t>(*v, {"embed_dim"}));
  // vision_config.hidden_size is the merger's output width; very old configs
  // omit it and rely on the text model's hidden_size.
  auto out = get<int64_t>(*v, {"hidden_size"});
  if (!out.ok() && out.status().code() == ErrorCode::kNotFound) out = get<int64_t>(config, {"hidden_size"});
  ERIC_ASSIGN_OR_RETURN(c.out_hidden, std::move(out));
  ERIC_ASSIGN_OR_RETURN(c.num_heads, get<int64_t>(*v, {"num_heads"}));
  ERIC_ASSIGN_OR_RETURN(double mlp_ratio, get_or<double>(*v, {"mlp_ratio"}, 4.0));
  c.mlp_hidden = static_cast<int64_t>(static_cast<double>(c.embed_dim) * mlp_ratio);  // int(dim * ratio), as HF
  ERIC_ASSIGN_OR_RETURN(c.in_channels, get_or<int64_t>(*v, {"in_channels", "in_chans"}, 3));
  ERIC_ASSIGN_OR_RETURN(c.patch_size, get_or<int64_t>(*v, {"patch_size", "spatial_patch_size"}, 14));
  ERIC_ASSIGN_OR_RETURN(c.spatial_merge_size, get_or<int64_t>(*v, {"spatial_merge_size"}, 2));
  ERIC_ASSIGN_OR_RETURN(c.temporal_patch_size, get_or<int64_t>(*v, {"temporal_patch_size"}, 2));
  ERIC_ASSIGN_OR_RETURN(c.hidden_act, get_or<std::string>(*v, {"hidden_act"}, "quick_gelu"));
  ERIC_RETURN_IF_ERROR(validate(c));
  return c;
}

Result<VisionConfig> VisionConfig::parse_qwen2_5_vl(const json& config) {
  ERIC_ASSIGN_OR_RETURN(const json* v, vision_section(config));
  VisionConfig c;
  ERIC_ASSIGN_OR_RETURN(c.depth, get<int64_t>(*v, {"depth"}));
  ERIC_ASSIGN_OR_RETURN(c.embed_dim, get<int64_t>(*v, {"hidden_size", "embed_dim"}));
  ERIC_ASSIGN_OR_RETURN(c.out_hidden, get<int64_t>(*v, {"out_hidden_size"}));
  ERIC_ASSIGN_OR_RETURN(c.num_heads, get<int64_t>(*v, {"num_heads"}));
  ERIC_ASSIGN_OR_RETURN(c.mlp_hidden, get<int64_t>(*v, {"intermediate_size"}));
  ERIC_ASSIGN_OR_RETURN(c.in_channels, get_or<int64_t>(*v, {"in_channels", "in_chans"}, 3));
  ERIC_ASSIGN_OR_RETURN(c.patch_size, get_or<int64_t>(*v, {"patch_size", "spatial_patch_size"}, 14));
  ERIC_ASSIGN_OR_RETURN(c.spatial_merge_size, get_or<int64_t>(*v, {"spatial_merge_size"}, 2));
  ERIC_ASSIGN_OR_RETURN(c.temporal_patch_size, get_or<int64_t>(*v, {"temporal_patch_size"}, 2));
  ERIC_ASSIGN_OR_RETURN(c.hidden_act, get_or<std::string>(*v, {"hidden_act"}, "silu"));
  ERIC_ASSIGN_OR_RETURN(c.window_size, get<int64_t>(*v, {"window_size"}));
  ERIC_ASSIGN_OR_RETURN(c.fullatt_block_indexes,
                        get_or<std::vector<int64_t>>(*v, {"fullatt_block_indexes"}, std::vector<int64_t>{}));
  ERIC_RETURN_IF_ERROR(validate(c));
  const int64_t unit = c.spatial_merge_size * c.patch_size;
  if (c.window_size < unit) {
    return InvalidArgument("vision_config.window_size {} is smaller than one merge unit ({} pixels)", c.window_size,
                           unit);
  }
  for (int64_t i : c.fullatt_block_indexes) {
    if (i < 0 || i >= c.depth) {
      return InvalidArgument("vision_config.fullatt_block_indexes: {} is outside [0, {})", i, c.depth);
    }
  }
  return c;
}

}  // namespace eric::models::qwen2_vl
