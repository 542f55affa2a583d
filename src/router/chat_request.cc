#include "router/chat_request.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace eric::router {

namespace {

using json = nlohmann::json;

// The URL of an "image_url"/"video_url" value: {"url": "..."} or the plain string form.
Result<std::string> media_url(const json& value, const std::string& key, const std::string& where) {
  const json* url = &value;
  if (value.is_object()) {
    auto it = value.find("url");
    if (it == value.end()) return InvalidArgument("{}: '{}' has no 'url'", where, key);
    url = &*it;
  }
  if (!url->is_string() || url->get_ref<const std::string&>().empty()) {
    return InvalidArgument("{}: '{}' must hold a non-empty URL string", where, key);
  }
  return url->get<std::string>();
}

bool contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// The media kind of a part, following vLLM's parser: the "type" when it is a
// media type, else (no type) the first media key present. "" for other parts.
std::string media_kind(const json& part) {
  auto type = part.find("type");
  if (type != part.end() && type->is_string()) {
    const std::string& t = type->get_ref<const std::string&>();
    if (t == "image_url" || t == "video_url" || t == "audio_url" || t == "input_audio") return t;
    // Other typed parts (text, *_embeds, ...) pass; with a "uuid" vLLM looks at the keys instead.
    if (part.find("uuid") == part.end()) return "";
  }
  for (const char* key : {"image_url", "video_url", "audio_url", "input_audio"}) {
    if (part.contains(key)) return key;
  }
  return "";
}

}  // namespace

Result<ChatRequest> parse_chat_request(std::string_view body, const std::vector<std::string>& modalities) {
  ChatRequest out;
  out.body = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out.body.is_discarded()) return InvalidArgument("malformed JSON body");
  if (!out.body.is_object()) return InvalidArgument("the body must be a JSON object");
  auto messages = out.body.find("messages");
  if (messages == out.body.end() || !messages->is_array()) return InvalidArgument("'messages' must be a list");
  for (size_t m = 0; m < messages->size(); ++m) {
    const json& message = (*messages)[m];
    if (!message.is_object()) return InvalidArgument("messages[{}] must be an object", m);
    auto content = message.find("content");
    if (content == message.end() || !content->is_array()) continue;  // a string, null or absent: no media
    for (size_t p = 0; p < content->size(); ++p) {
      const json& part = (*content)[p];
      if (!part.is_object()) continue;
      std::string kind = media_kind(part);
      if (kind.empty()) continue;
      const std::string where = fmt::format("messages[{}].content[{}]", m, p);
      const std::string key = kind;
      ChatMediaPart media{m, p, where, key == "input_audio" ? "audio" : key.substr(0, key.find('_')), "", ""};
      if (!contains(modalities, media.modality)) {
        return InvalidArgument("{}: {} parts are not supported: this server's model encodes {}", where,
                               media.modality, fmt::join(modalities, ", "));
      }
      auto value = part.find(key);
      if (value == part.end()) return InvalidArgument("{}: a '{}' part needs an '{}' field", where, key, key);
      ERIC_ASSIGN_OR_RETURN(media.url, media_url(*value, key, where));
      if (auto uuid = part.find("uuid"); uuid != part.end() && !uuid->is_null()) {
        if (!uuid->is_string()) return InvalidArgument("{}: 'uuid' must be a string", where);
        media.uuid = uuid->get<std::string>();
      }
      out.media.push_back(std::move(media));
    }
  }
  return out;
}

Result<std::string> rewrite_chat_request(ChatRequest& request, std::vector<json> parts) {
  if (parts.size() != request.media.size()) {
    return Internal("{} embedding parts for {} media parts", parts.size(), request.media.size());
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    const ChatMediaPart& media = request.media[i];
    request.body["messages"][media.message]["content"][media.part] = std::move(parts[i]);
  }
  // Invalid UTF-8 in text is passed on as the replacement character rather than failing.
  return request.body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace eric::router
