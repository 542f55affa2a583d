// eric's OpenAI-compatible front door (`eric serve --llm-upstream URL`):
//   POST /v1/chat/completions  every image_url / video_url part is encoded on
//        eric (the same preprocessing pool and engine batches as /embeddings),
//        replaced by vLLM's matching *_embeds part (in the LLM's dtype, with
//        the grid for Qwen-VL families), and the request is forwarded to the
//        upstream, whose answer — status, body, server-sent events for
//        "stream": true — comes back unchanged. A media part that cannot be
//        loaded or encoded gives 400 naming it, and nothing is forwarded.
//   GET  /v1/models            the upstream's answer, unchanged.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "router/http_types.h"
#include "router/upstream_client.h"

namespace eric::router {

class ApiService;

class ChatService {
 public:
  // `api` and `upstream` must outlive the service.
  ChatService(ApiService* api, UpstreamClient* upstream);

  void completions(HttpRequest request, Responder respond);
  void models(HttpRequest request, Responder respond);

  // OpenAI's error body: {"error": {"message", "type", "param", "code"}}.
  static HttpResponse openai_error(int status, std::string_view message);

 private:
  ApiService* api_;
  UpstreamClient* upstream_;
  std::atomic<uint64_t> next_request_{0};
};

}  // namespace eric::router
