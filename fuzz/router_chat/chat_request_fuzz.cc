// The front door's chat-request parser on arbitrary bodies. Oracle: after
// every media part is replaced by an *_embeds part, the rewritten body parses
// again and holds no media part; the rewrite never fails for a parsed body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "router/chat_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using eric::router::parse_chat_request;
  const std::vector<std::string> modalities = {"image", "video"};
  auto parsed = parse_chat_request(std::string_view(reinterpret_cast<const char*>(data), size), modalities);
  if (!parsed.ok()) return 0;
  std::vector<nlohmann::json> parts;
  for (const auto& media : parsed->media) {
    if (media.url.empty() || (media.modality != "image" && media.modality != "video")) std::abort();
    const std::string key = media.modality + "_embeds";
    parts.push_back({{"type", key}, {key, "AAAA"}});
  }
  auto body = eric::router::rewrite_chat_request(*parsed, parts);
  if (!body.ok()) std::abort();
  auto again = parse_chat_request(*body, modalities);
  if (!again.ok() || !again->media.empty()) std::abort();
  return 0;
}
