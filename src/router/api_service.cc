#include "router/api_service.h"

#include <spdlog/spdlog.h>

#include "router/api_response.h"

namespace eric::router {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Answers that only differ by method: 405 for a known path, 404 otherwise.
bool method_is(const HttpRequest& request, const char* method, const Responder& respond) {
  if (request.method == method) return true;
  respond(json_error(405, fmt::format("method {} is not allowed on {} (use {})", request.method, request.path(), method)));
  return false;
}

}  // namespace

ApiService::ApiService(ServerInfo info, RequestPolicy policy, ProcessorPool* pool, EngineClient* engine,
                       Metrics* metrics)
    : info_(std::move(info)), policy_(std::move(policy)), pool_(pool), engine_(engine), metrics_(metrics) {}

void ApiService::handle(HttpRequest request, Responder respond) {
  // Every answer is counted by status code, whichever path produced it.
  Responder counted([metrics = metrics_, respond](HttpResponse response) {
    metrics->count_response(response.status);
    respond(std::move(response));
  });
  const std::string path = request.path();
  if (path == "/embeddings") {
    if (method_is(request, "POST", counted)) embeddings(std::move(request), counted);
  } else if (path == "/health") {
    if (method_is(request, "GET", counted)) health(counted);
  } else if (path == "/info") {
    if (method_is(request, "GET", counted)) counted(info());
  } else if (path == "/modalities") {
    if (method_is(request, "GET", counted)) counted(modalities());
  } else if (path == "/queue_length") {
    if (method_is(request, "GET", counted)) counted(HttpResponse{200, "application/json", std::to_string(in_flight())});
  } else if (path == "/metrics") {
    if (method_is(request, "GET", counted)) {
      metrics_->set_queue_length(in_flight());
      metrics_->set_engine_up(!engine_->dead());
      counted(HttpResponse{200, "text/plain; version=0.0.4", metrics_->serialize()});
    }
  } else {
    counted(json_error(404, fmt::format("no such endpoint: {}", path)));
  }
}

void ApiService::embeddings(HttpRequest request, Responder respond) {
  if (draining_) return respond(json_error(503, "the server is shutting down and accepts no new requests"));
  if (engine_->dead()) return respond(json_error(503, "the engine is not running; see the server log"));
  auto parsed = parse_embeddings_request(request.body, policy_);
  if (!parsed.ok()) return respond(json_error(400, parsed.status().message()));
  auto shared = std::make_shared<const EmbeddingsRequest>(std::move(parsed).value());
  const bool binary = wants_safetensors(request.accept);
  const auto n_items = static_cast<int64_t>(shared->items.size());
  metrics_->count_items(n_items);
  metrics_->observe_request_items(n_items);

  // Track the request until its answer leaves, whatever path it takes.
  in_flight_.fetch_add(1);
  metrics_->set_queue_length(in_flight());
  auto start = Clock::now();
  Responder finish([this, respond, start](HttpResponse response) {
    in_flight_.fetch_sub(1);
    metrics_->set_queue_length(in_flight());
    metrics_->observe_request_seconds(seconds_since(start));
    respond(std::move(response));
  });
  pool_->process(shared, [this, shared, binary, finish](Result<PreprocessedRequest> result) {
    on_preprocessed(shared, binary, std::move(result), finish);
  });
}

void ApiService::on_preprocessed(std::shared_ptr<const EmbeddingsRequest> request, bool binary,
                                 Result<PreprocessedRequest> result, Responder respond) {
  if (!result.ok()) {
    // Media that cannot be fetched, decoded or preprocessed is the client's
    // problem (400); only a failure of ours is a 500.
    const Status& st = result.status();
    return respond(json_error(st.code() == ErrorCode::kInternal ? 500 : 400, st.message()));
  }
  PreprocessedRequest pre = std::move(result).value();
  for (double s : pre.seconds) metrics_->observe_preprocess_seconds(s);

  engine::EncodeRequest encode;
  encode.items.reserve(pre.items.size());
  const bool want_embeddings = binary || request->return_embeddings;
  for (size_t i = 0; i < pre.items.size(); ++i) {
    const EmbeddingItemRequest& item = request->items[i];
    engine::EncodeItem e;
    e.item_id = item.id;
    e.modality = item.modality;
    e.model_id = item.model_id;
    e.num_tokens = pre.items[i].num_tokens;
    e.tensors = std::move(pre.items[i].tensors);
    e.receiver_sidecar_ranks = item.receiver_sidecar_ranks;
    e.return_embedding = want_embeddings;
    encode.items.push_back(std::move(e));
  }
  auto sent = Clock::now();
  engine_->submit(std::move(encode), [this, request, binary, respond, sent](Result<engine::EncodeResponse> answer) {
    metrics_->observe_engine_seconds(seconds_since(sent));
    // Building the answer (base64 of large embeddings) is CPU work: keep it
    // off the engine client's socket thread.
    pool_->post([this, request, binary, respond, answer = std::move(answer)]() mutable {
      on_encoded(request, binary, std::move(answer), respond);
    });
  });
}

void ApiService::on_encoded(std::shared_ptr<const EmbeddingsRequest> request, bool binary,
                            Result<engine::EncodeResponse> result, Responder respond) {
  if (!result.ok()) {
    spdlog::warn("request with {} item(s) failed: {}", request->items.size(), result.status().to_string());
    return respond(json_error(result.status()));
  }
  const engine::EncodeResponse& answer = *result;
  if (answer.code != ErrorCode::kOk) {
    return respond(json_error(http_status_for(answer.code), answer.error_message));
  }
  if (!binary && !request->return_embeddings) return respond(json_ok());

  if (answer.items.size() != request->items.size()) {
    return respond(json_error(500, fmt::format("the engine answered {} item(s) for a request of {}",
                                               answer.items.size(), request->items.size())));
  }
  std::vector<ItemEmbedding> items;
  items.reserve(answer.items.size());
  for (size_t i = 0; i < answer.items.size(); ++i) {
    if (answer.items[i].item_id != request->items[i].id) {
      return respond(json_error(500, fmt::format("the engine answered item '{}' where '{}' was expected",
                                                 answer.items[i].item_id, request->items[i].id)));
    }
    items.push_back(ItemEmbedding{answer.items[i].item_id, answer.items[i].embedding});
  }
  auto body = binary ? embeddings_safetensors(items) : embeddings_json(items);
  if (!body.ok()) return respond(json_error(500, body.status().message()));
  respond(std::move(body).value());
}

}  // namespace eric::router
