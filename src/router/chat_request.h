// OpenAI chat-completion requests on eric's front door: finds the media parts
// an LLM server would otherwise fetch and encode itself, and puts vLLM's
// precomputed-embedding parts in their place. Part shapes follow vLLM's chat
// parser (vllm/entrypoints/chat_utils.py, and vllm/renderers/chat_utils/
// {types,mm_parser_map}.py where video_embeds joined): a media part is
//   {"type": "image_url", "image_url": {"url": ...}}   (or "image_url": "<url>")
//   {"type": "video_url", "video_url": {"url": ...}}   (or "video_url": "<url>")
// optionally with "uuid" (vLLM's mm_hash for the item), or, without "type",
// any part holding an "image_url" / "video_url" key. Everything else in the
// request — text parts, other fields, their order — is left as it is.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace eric::router {

struct ChatMediaPart {
  size_t message = 0;      // index in "messages"
  size_t part = 0;         // index in that message's "content"
  std::string where;       // "messages[0].content[1]" for messages
  std::string modality;    // "image" or "video"
  std::string url;         // http(s) URL, data: URI or file:// URL
  std::string uuid;        // the part's "uuid" ("" when absent)
};

struct ChatRequest {
  nlohmann::json body;               // the request as parsed
  std::vector<ChatMediaPart> media;  // in request order
};

// Parses the body and lists its media parts. `modalities` are those this
// server encodes; a media part of another kind (audio, or video on an
// image-only model) is InvalidArgument naming the part, since forwarding it
// would make the LLM server encode it after all.
Result<ChatRequest> parse_chat_request(std::string_view body, const std::vector<std::string>& modalities);

// Replaces media part i with parts[i] (same order as request.media) and
// returns the JSON text to forward.
Result<std::string> rewrite_chat_request(ChatRequest& request, std::vector<nlohmann::json> parts);

}  // namespace eric::router
