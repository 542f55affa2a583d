#include "router/chat_service.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "router/api_service.h"
#include "router/chat_request.h"

namespace eric::router {

using json = nlohmann::json;

HttpResponse ChatService::openai_error(int status, std::string_view message) {
  const char* type = status == 400 ? "BadRequestError" : (status >= 500 ? "InternalServerError" : "Error");
  if (status == 502) type = "BadGateway";
  if (status == 503) type = "ServiceUnavailableError";
  json body = {{"error", {{"message", std::string(message)}, {"type", type}, {"param", nullptr}, {"code", status}}}};
  return make_response(status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace));
}

ChatService::ChatService(ApiService* api, UpstreamClient* upstream) : api_(api), upstream_(upstream) {}

void ChatService::models(HttpRequest request, Responder respond) {
  upstream_->forward("GET", request.target, "", "", std::move(respond), &ChatService::openai_error);
}

void ChatService::completions(HttpRequest request, Responder respond) {
  if (api_->draining()) return respond(openai_error(503, "the server is shutting down and accepts no new requests"));
  auto parsed = parse_chat_request(request.body, api_->policy().modalities);
  if (!parsed.ok()) return respond(openai_error(400, parsed.status().message()));
  auto chat = std::make_shared<ChatRequest>(std::move(parsed).value());
  if (chat->media.empty()) {
    // Nothing to encode: the request goes on byte for byte.
    return upstream_->forward("POST", request.target, std::move(request.body), "application/json", std::move(respond),
                              &ChatService::openai_error);
  }
  if (chat->media.size() > api_->policy().max_items) {
    return respond(openai_error(400, fmt::format("the request has {} media parts; at most {} are allowed",
                                                 chat->media.size(), api_->policy().max_items)));
  }
  // One /embeddings-style item per media part, named by where it is, so a
  // failure reads "item 'messages[0].content[1]': cannot load '...'".
  auto items = std::make_shared<EmbeddingsRequest>();
  const std::string model_id = api_->policy().model_ids.empty() ? "" : api_->policy().model_ids.front();
  for (const ChatMediaPart& media : chat->media) {
    EmbeddingItemRequest item;
    item.id = media.where;
    item.modality = media.modality;
    item.model_id = model_id;
    item.url = media.url;
    items->items.push_back(std::move(item));
  }
  const uint64_t n = next_request_.fetch_add(1);
  api_->encode(items, /*want_embeddings=*/true,
               [this, chat, target = request.target, respond, n](EncodeOutcome outcome) mutable {
                 // On a preprocessing-pool thread: building the parts is CPU work.
                 if (!outcome.ok()) {
                   spdlog::info("chat request {}: not forwarded: {}", n, outcome.error);
                   return respond(openai_error(outcome.http_status, outcome.error));
                 }
                 std::vector<json> parts;
                 parts.reserve(outcome.items.size());
                 for (size_t i = 0; i < outcome.items.size(); ++i) {
                   auto part = vllm_part(outcome.items[i], api_->vllm_delivery(), chat->media[i].uuid);
                   if (!part.ok()) return respond(openai_error(500, part.status().message()));
                   parts.push_back(std::move(part).value());
                 }
                 auto body = rewrite_chat_request(*chat, std::move(parts));
                 if (!body.ok()) return respond(openai_error(500, body.status().message()));
                 upstream_->forward("POST", target, std::move(body).value(), "application/json", std::move(respond),
                                    &ChatService::openai_error);
               });
}

}  // namespace eric::router
