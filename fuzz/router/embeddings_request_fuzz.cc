// Fuzzes the /embeddings JSON schema (parse_embeddings_request). Oracles: a
// refusal is InvalidArgument with a message; an accepted request holds
// 1..max_items items with unique non-empty ids, an accepted model_id and
// modality, a URL, and consistent video frame-selection fields.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>

#include "router/api_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const eric::router::RequestPolicy policy = [] {
    eric::router::RequestPolicy p;
    p.model_ids = {"qwen", "/models/qwen"};
    p.modalities = {"image", "video"};
    p.max_items = 16;
    return p;
  }();
  auto r = eric::router::parse_embeddings_request(std::string_view(reinterpret_cast<const char*>(data), size), policy);
  if (!r.ok()) {
    if (r.status().code() != eric::ErrorCode::kInvalidArgument || r.status().message().empty()) __builtin_trap();
    return 0;
  }
  if (r->items.empty() || r->items.size() > policy.max_items) __builtin_trap();
  std::set<std::string> ids;
  for (const auto& item : r->items) {
    if (item.id.empty() || item.url.empty() || !ids.insert(item.id).second) __builtin_trap();
    if (std::find(policy.model_ids.begin(), policy.model_ids.end(), item.model_id) == policy.model_ids.end()) {
      __builtin_trap();
    }
    if (std::find(policy.modalities.begin(), policy.modalities.end(), item.modality) == policy.modalities.end()) {
      __builtin_trap();
    }
    if (item.min_pixels && item.max_pixels && *item.min_pixels > *item.max_pixels) __builtin_trap();
    // Frame selection: video items only, fps > 0 and never with max_num_frames,
    // min/max_frames only with fps.
    const bool selects = item.max_num_frames || item.fps || item.min_frames || item.max_frames;
    if (selects && item.modality != "video") __builtin_trap();
    if (item.fps && (!(*item.fps > 0) || item.max_num_frames)) __builtin_trap();
    if ((item.min_frames || item.max_frames) && !item.fps) __builtin_trap();
    if (item.max_num_frames && *item.max_num_frames < 0) __builtin_trap();
  }
  return 0;
}
