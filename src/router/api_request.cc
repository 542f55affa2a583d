#include "router/api_request.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <unordered_set>

namespace eric::router {

namespace {

using json = nlohmann::json;

std::string_view type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    case json::value_t::number_float: return "number";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    default: return "value";
  }
}

// "data[2] (id 'cat')" once the id is known, "data[2]" before.
std::string where(size_t index, const std::string& id) {
  return id.empty() ? fmt::format("data[{}]", index) : fmt::format("data[{}] (id '{}')", index, id);
}

Result<std::string> required_string(const json& item, const char* field, const std::string& at) {
  auto it = item.find(field);
  if (it == item.end() || it->is_null()) return InvalidArgument("{}: missing field '{}'", at, field);
  if (!it->is_string()) return InvalidArgument("{}: '{}' must be a string, got {}", at, field, type_name(*it));
  std::string value = it->get<std::string>();
  if (value.empty()) return InvalidArgument("{}: '{}' must not be empty", at, field);
  return value;
}

Result<std::optional<int64_t>> optional_pixels(const json& item, const char* field, const std::string& at) {
  auto it = item.find(field);
  if (it == item.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_number_integer()) {
    return InvalidArgument("{}: '{}' must be a positive integer, got {}", at, field, type_name(*it));
  }
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return InvalidArgument("{}: '{}' is too large", at, field);
  }
  int64_t v = it->get<int64_t>();
  if (v <= 0) return InvalidArgument("{}: '{}' must be a positive integer, got {}", at, field, v);
  return std::optional<int64_t>(v);
}

// The frame-selection fields of a video item; InvalidArgument on other items.
Status parse_video_fields(const json& item, const std::string& at, EmbeddingItemRequest& out) {
  const bool video = out.modality == "video";
  for (const char* field : {"max_num_frames", "fps", "min_frames", "max_frames"}) {
    auto it = item.find(field);
    if (it != item.end() && !it->is_null() && !video) {
      return InvalidArgument("{}: '{}' applies to video items only", at, field);
    }
  }
  if (!video) return Status::Ok();
  if (auto it = item.find("max_num_frames"); it != item.end() && !it->is_null()) {
    // 0 keeps every frame, as in Cornserve.
    // (nlohmann parses non-negative integers as unsigned.)
    if (!it->is_number_unsigned() || it->get<uint64_t>() > 1'000'000) {
      return InvalidArgument("{}: 'max_num_frames' must be an integer in [0, 1000000], got {}", at, it->dump());
    }
    out.max_num_frames = it->get<int64_t>();
  }
  if (auto it = item.find("fps"); it != item.end() && !it->is_null()) {
    if (!it->is_number() || !(it->get<double>() > 0) || !(it->get<double>() <= 1000)) {
      return InvalidArgument("{}: 'fps' must be a number in (0, 1000], got {}", at, it->dump());
    }
    out.fps = it->get<double>();
  }
  ERIC_ASSIGN_OR_RETURN(out.min_frames, optional_pixels(item, "min_frames", at));
  ERIC_ASSIGN_OR_RETURN(out.max_frames, optional_pixels(item, "max_frames", at));
  if ((out.min_frames || out.max_frames) && !out.fps) {
    return InvalidArgument("{}: 'min_frames' and 'max_frames' apply with 'fps' only", at);
  }
  if (out.fps && out.max_num_frames) {
    return InvalidArgument("{}: give either 'max_num_frames' (linspace selection) or 'fps', not both", at);
  }
  return Status::Ok();
}

Result<int32_t> rank_value(const json& v, const std::string& at) {
  if (!v.is_number_integer()) {
    return InvalidArgument("{}: 'receiver_sidecar_ranks' must hold integers, got {}", at, type_name(v));
  }
  bool too_large = v.is_number_unsigned() &&
                   v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int32_t>::max());
  int64_t r = too_large ? -1 : v.get<int64_t>();
  if (r < 0 || r > std::numeric_limits<int32_t>::max()) {
    return InvalidArgument("{}: 'receiver_sidecar_ranks' holds an invalid rank {}", at, v.dump());
  }
  return static_cast<int32_t>(r);
}

// null/absent: no delivery; [0, 1]: one group; [[0, 1], [2, 3]]: several.
Result<std::vector<std::vector<int32_t>>> sidecar_ranks(const json& item, const std::string& at) {
  std::vector<std::vector<int32_t>> groups;
  auto it = item.find("receiver_sidecar_ranks");
  if (it == item.end() || it->is_null()) return groups;
  if (!it->is_array()) {
    return InvalidArgument("{}: 'receiver_sidecar_ranks' must be a list or null, got {}", at, type_name(*it));
  }
  if (it->empty()) return groups;
  bool nested = (*it)[0].is_array();
  if (!nested) {
    groups.emplace_back();
    for (const auto& v : *it) {
      ERIC_ASSIGN_OR_RETURN(int32_t r, rank_value(v, at));
      groups.back().push_back(r);
    }
    return groups;
  }
  for (const auto& group : *it) {
    if (!group.is_array()) {
      return InvalidArgument("{}: 'receiver_sidecar_ranks' mixes lists and {}", at, type_name(group));
    }
    if (group.empty()) return InvalidArgument("{}: 'receiver_sidecar_ranks' holds an empty group", at);
    groups.emplace_back();
    for (const auto& v : group) {
      ERIC_ASSIGN_OR_RETURN(int32_t r, rank_value(v, at));
      groups.back().push_back(r);
    }
  }
  return groups;
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

Result<EmbeddingItemRequest> parse_item(const json& item, size_t index, const RequestPolicy& policy) {
  std::string at = where(index, "");
  if (!item.is_object()) return InvalidArgument("{} must be an object, got {}", at, type_name(item));
  EmbeddingItemRequest out;
  ERIC_ASSIGN_OR_RETURN(out.id, required_string(item, "id", at));
  at = where(index, out.id);
  ERIC_ASSIGN_OR_RETURN(out.modality, required_string(item, "modality", at));
  ERIC_ASSIGN_OR_RETURN(out.model_id, required_string(item, "model_id", at));
  ERIC_ASSIGN_OR_RETURN(out.url, required_string(item, "url", at));
  ERIC_ASSIGN_OR_RETURN(out.receiver_sidecar_ranks, sidecar_ranks(item, at));
  ERIC_ASSIGN_OR_RETURN(out.min_pixels, optional_pixels(item, "min_pixels", at));
  ERIC_ASSIGN_OR_RETURN(out.max_pixels, optional_pixels(item, "max_pixels", at));
  if (out.min_pixels && out.max_pixels && *out.min_pixels > *out.max_pixels) {
    return InvalidArgument("{}: 'min_pixels' ({}) is larger than 'max_pixels' ({})", at, *out.min_pixels,
                           *out.max_pixels);
  }
  if (!contains(policy.model_ids, out.model_id)) {
    return InvalidArgument("{}: unsupported model_id '{}' (this server serves {})", at, out.model_id,
                           fmt::join(policy.model_ids, ", "));
  }
  if (!contains(policy.modalities, out.modality)) {
    return InvalidArgument("{}: unsupported modality '{}' (this model supports {})", at, out.modality,
                           fmt::join(policy.modalities, ", "));
  }
  ERIC_RETURN_IF_ERROR(parse_video_fields(item, at, out));
  return out;
}

}  // namespace

Result<EmbeddingsRequest> parse_embeddings_request(std::string_view body, const RequestPolicy& policy) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    // Parse again with exceptions, only to get nlohmann's position message.
    try {
      json ignored = json::parse(body);
      (void)ignored;
    } catch (const json::exception& e) {
      return InvalidArgument("malformed JSON body: {}", e.what());
    }
    return InvalidArgument("malformed JSON body");
  }
  if (!doc.is_object()) return InvalidArgument("the body must be a JSON object, got {}", type_name(doc));

  EmbeddingsRequest request;
  if (auto it = doc.find("return_embeddings"); it != doc.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      return InvalidArgument("'return_embeddings' must be a boolean, got {}", type_name(*it));
    }
    request.return_embeddings = it->get<bool>();
  }
  if (auto it = doc.find("format"); it != doc.end() && !it->is_null()) {
    if (!it->is_string()) return InvalidArgument("'format' must be a string, got {}", type_name(*it));
    const std::string format = it->get<std::string>();
    if (format == "vllm") {
      request.format = EmbeddingsFormat::kVllm;
    } else if (format != "raw") {
      return InvalidArgument("unknown 'format' '{}' (use \"raw\" or \"vllm\")", format);
    }
  }
  if (auto it = doc.find("timeout_ms"); it != doc.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1) {
      return InvalidArgument("'timeout_ms' must be a positive integer (milliseconds), got {}", it->dump());
    }
    request.timeout_ms = it->get<int64_t>();
  }
  auto data = doc.find("data");
  if (data == doc.end() || data->is_null()) return InvalidArgument("missing field 'data'");
  if (!data->is_array()) return InvalidArgument("'data' must be a list, got {}", type_name(*data));
  if (data->empty()) return InvalidArgument("'data' is empty: nothing to embed");
  if (data->size() > policy.max_items) {
    return InvalidArgument("'data' has {} items; at most {} are allowed per request", data->size(), policy.max_items);
  }
  std::unordered_set<std::string> seen;
  request.items.reserve(data->size());
  for (size_t i = 0; i < data->size(); ++i) {
    ERIC_ASSIGN_OR_RETURN(EmbeddingItemRequest item, parse_item((*data)[i], i, policy));
    if (!seen.insert(item.id).second) return InvalidArgument("data[{}]: duplicate id '{}'", i, item.id);
    request.items.push_back(std::move(item));
  }
  return request;
}

}  // namespace eric::router
