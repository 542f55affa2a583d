#include "models/qwen2_vl/image_processor_config.h"

#include <string>

namespace eric::models::qwen2_vl {

namespace {

// JSON null means "not set" (transformers' None), as does a missing key.
bool has(const nlohmann::json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

Status read_bool(const nlohmann::json& j, const char* key, bool& out) {
  if (!has(j, key)) return Status::Ok();
  if (!j.at(key).is_boolean()) return InvalidArgument("preprocessor_config.json: '{}' must be a boolean", key);
  out = j.at(key).get<bool>();
  return Status::Ok();
}

Status read_positive_int(const nlohmann::json& j, const char* key, int64_t& out) {
  if (!has(j, key)) return Status::Ok();
  const auto& v = j.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() <= 0) {
    return InvalidArgument("preprocessor_config.json: '{}' must be a positive integer, got {}", key, v.dump());
  }
  out = v.get<int64_t>();
  return Status::Ok();
}

// A float applies to every channel; a list must have one value per channel.
Status read_per_channel(const nlohmann::json& j, const char* key, std::array<double, 3>& out) {
  if (!has(j, key)) return Status::Ok();
  const auto& v = j.at(key);
  if (v.is_number()) {
    out.fill(v.get<double>());
    return Status::Ok();
  }
  if (!v.is_array() || v.size() != 3) {
    return InvalidArgument("preprocessor_config.json: '{}' must be a number or a list of 3 numbers, got {}", key,
                           v.dump());
  }
  for (size_t i = 0; i < 3; ++i) {
    if (!v[i].is_number()) return InvalidArgument("preprocessor_config.json: '{}'[{}] is not a number", key, i);
    out[i] = v[i].get<double>();
  }
  return Status::Ok();
}

}  // namespace

Result<ImageProcessorConfig> ImageProcessorConfig::from_json(const nlohmann::json& j) {
  ImageProcessorConfig c;
  if (!j.is_object()) return InvalidArgument("preprocessor_config.json is not a JSON object");
  ERIC_RETURN_IF_ERROR(read_bool(j, "do_resize", c.do_resize));
  ERIC_RETURN_IF_ERROR(read_bool(j, "do_rescale", c.do_rescale));
  ERIC_RETURN_IF_ERROR(read_bool(j, "do_normalize", c.do_normalize));
  ERIC_RETURN_IF_ERROR(read_bool(j, "do_convert_rgb", c.do_convert_rgb));
  if (has(j, "resample")) {
    if (!j.at("resample").is_number_integer()) {
      return InvalidArgument("preprocessor_config.json: 'resample' must be an integer (PIL filter), got {}",
                             j.at("resample").dump());
    }
    ERIC_ASSIGN_OR_RETURN(c.resample, media::resample_filter_from_pillow(j.at("resample").get<int>()));
  }
  if (has(j, "rescale_factor")) {
    if (!j.at("rescale_factor").is_number()) {
      return InvalidArgument("preprocessor_config.json: 'rescale_factor' must be a number");
    }
    c.rescale_factor = j.at("rescale_factor").get<double>();
  }
  ERIC_RETURN_IF_ERROR(read_per_channel(j, "image_mean", c.image_mean));
  ERIC_RETURN_IF_ERROR(read_per_channel(j, "image_std", c.image_std));
  for (double s : c.image_std) {
    if (s == 0.0) return InvalidArgument("preprocessor_config.json: 'image_std' has a zero entry");
  }
  // Newer configs: size {shortest_edge, longest_edge} (pixel counts, despite the names).
  if (has(j, "size")) {
    const auto& size = j.at("size");
    if (!size.is_object()) return InvalidArgument("preprocessor_config.json: 'size' must be an object");
    ERIC_RETURN_IF_ERROR(read_positive_int(size, "shortest_edge", c.min_pixels));
    ERIC_RETURN_IF_ERROR(read_positive_int(size, "longest_edge", c.max_pixels));
    const bool complete = (has(size, "shortest_edge") || has(j, "min_pixels")) &&
                          (has(size, "longest_edge") || has(j, "max_pixels"));
    if (!complete) {
      return InvalidArgument("preprocessor_config.json: size must contain 'shortest_edge' and 'longest_edge' keys, "
                             "got {}",
                             size.dump());
    }
  }
  // Older configs: top-level min_pixels / max_pixels, which win over size.
  ERIC_RETURN_IF_ERROR(read_positive_int(j, "min_pixels", c.min_pixels));
  ERIC_RETURN_IF_ERROR(read_positive_int(j, "max_pixels", c.max_pixels));
  if (c.min_pixels > c.max_pixels) {
    return InvalidArgument("preprocessor_config.json: min_pixels {} exceeds max_pixels {}", c.min_pixels,
                           c.max_pixels);
  }
  ERIC_RETURN_IF_ERROR(read_positive_int(j, "patch_size", c.patch_size));
  ERIC_RETURN_IF_ERROR(read_positive_int(j, "temporal_patch_size", c.temporal_patch_size));
  ERIC_RETURN_IF_ERROR(read_positive_int(j, "merge_size", c.merge_size));
  return c;
}

}  // namespace eric::models::qwen2_vl
