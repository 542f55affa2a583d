#include "router/api_service.h"

#include <spdlog/spdlog.h>

#include "router/api_response.h"
#include "router/chat_service.h"

namespace eric::router {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int preprocess_http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInternal: return 500;
    case ErrorCode::kResourceExhausted: return 413;
    case ErrorCode::kDeadlineExceeded: return 504;
    default: return 400;
  }
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
  } else if (path == "/v1/chat/completions" && chat_ != nullptr) {
    if (method_is(request, "POST", counted)) chat_->completions(std::move(request), track(counted));
  } else if (path == "/v1/models" && chat_ != nullptr) {
    if (method_is(request, "GET", counted)) chat_->models(std::move(request), counted);
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
  // The items count against --max-queued-items until answered (the HTTP
  // layer already holds the request's place; see RequestGate).
  std::shared_ptr<Admission::Ticket> items_ticket;
  if (admission_ != nullptr) {
    std::string refusal;
    items_ticket = admission_->try_admit(0, static_cast<int64_t>(shared->items.size()), &refusal);
    if (!items_ticket) return respond(admission_->busy(refusal));
  }
  const bool binary = wants_safetensors(request.accept);
  const bool want_embeddings = binary || shared->return_embeddings || shared->format == EmbeddingsFormat::kVllm ||
                               !ec_storage_path_.empty();
  Responder finish = track(std::move(respond));
  const uint64_t deadline_timer = arm_deadline(finish, timeout_of(*shared));
  encode(shared, want_embeddings, [this, shared, binary, finish, items_ticket, deadline_timer](EncodeOutcome outcome) {
    if (items_ticket) items_ticket->release();
    deadlines_.cancel(deadline_timer);
    finish(embeddings_answer(*shared, binary, std::move(outcome)));
  });
}

std::chrono::milliseconds ApiService::timeout_of(const EmbeddingsRequest& request) const {
  if (request.timeout_ms > 0 && request.timeout_ms < request_timeout_.count()) {
    return std::chrono::milliseconds(request.timeout_ms);
  }
  return request_timeout_;
}

uint64_t ApiService::arm_deadline(Responder respond, std::chrono::milliseconds timeout) {
  return deadlines_.schedule(Clock::now() + timeout, [this, respond, timeout] {
    metrics_->count_deadline_exceeded();
    spdlog::warn("a request passed its deadline ({} ms): answered 504", timeout.count());
    respond(json_error(504, fmt::format("the request did not finish within its deadline of {} ms "
                                        "(--request-timeout, or the request's shorter timeout_ms)",
                                        timeout.count())));
  });
}

Responder ApiService::track(Responder respond) {
  // Track the request until its answer leaves, whatever path it takes.
  in_flight_.fetch_add(1);
  metrics_->set_queue_length(in_flight());
  auto start = Clock::now();
  return Responder([this, respond, start](HttpResponse response) {
    in_flight_.fetch_sub(1);
    metrics_->set_queue_length(in_flight());
    metrics_->observe_request_seconds(seconds_since(start));
    respond(std::move(response));
  });
}

void ApiService::encode(std::shared_ptr<const EmbeddingsRequest> request, bool want_embeddings, EncodeDone done) {
  const auto n_items = static_cast<int64_t>(request->items.size());
  metrics_->count_items(n_items);
  metrics_->observe_request_items(n_items);
  const auto deadline = Clock::now() + timeout_of(*request);
  pool_->process(request, [this, request, want_embeddings, deadline, done](Result<PreprocessedRequest> result) {
    on_preprocessed(request, want_embeddings, std::move(result), deadline, done);
  });
}

void ApiService::on_preprocessed(std::shared_ptr<const EmbeddingsRequest> request, bool want_embeddings,
                                 Result<PreprocessedRequest> result, Clock::time_point deadline, EncodeDone done) {
  if (!result.ok()) {
    // Media that cannot be fetched, decoded or preprocessed is the client's
    // problem (400), except a limit it passed (413: pixels, download size)
    // or a download that ran out of time (504); only a failure of ours is 500.
    const Status& st = result.status();
    return done(EncodeOutcome{preprocess_http_status(st.code()), st.message(), {}});
  }
  PreprocessedRequest pre = std::move(result).value();
  for (double s : pre.seconds) metrics_->observe_preprocess_seconds(s);

  engine::EncodeRequest encode;
  encode.items.reserve(pre.items.size());
  // The grids (3 integers each) stay here: vLLM's Qwen parts carry them.
  std::vector<Tensor> grids(pre.items.size());
  for (size_t i = 0; i < pre.items.size(); ++i) {
    const EmbeddingItemRequest& item = request->items[i];
    // (Looked up here: ProcessedItem::find lives in the models library, which eric_router_core does not link.)
    for (const auto& [name, tensor] : pre.items[i].tensors) {
      if (name != item.modality + "_grid_thw") continue;
      auto copy = tensor.clone();
      if (copy.ok()) grids[i] = std::move(copy).value();
    }
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
  // The engine gets what is left of the deadline (as wall-clock time: it
  // drops the items once it passes); the client gives up at the same time.
  auto sent = Clock::now();
  const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - sent);
  if (remaining.count() <= 0) {
    return done(EncodeOutcome{504, "the request's deadline passed before its items reached the engine", {}});
  }
  encode.deadline_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count() + remaining.count();
  engine_->submit(std::move(encode), [this, request, grids = std::move(grids), done, sent](
                                         Result<engine::EncodeResponse> answer) mutable {
    metrics_->observe_engine_seconds(seconds_since(sent));
    if (answer.ok()) {
      metrics_->observe_engine_queue_seconds(static_cast<double>(answer->queue_us) * 1e-6);
      metrics_->observe_engine_encode_seconds(static_cast<double>(answer->encode_us) * 1e-6);
      for (int32_t size : answer->batch_sizes) metrics_->observe_batch_size(size);
    }
    // Building the answer (base64 of large embeddings) is CPU work: keep it
    // off the engine client's socket thread.
    pool_->post([this, request, grids = std::move(grids), done, answer = std::move(answer)]() mutable {
      done(on_encoded(*request, std::move(grids), std::move(answer)));
    });
  }, remaining);
}

EncodeOutcome ApiService::on_encoded(const EmbeddingsRequest& request, std::vector<Tensor> grids,
                                     Result<engine::EncodeResponse> result) const {
  if (!result.ok()) {
    spdlog::warn("request with {} item(s) failed: {}", request.items.size(), result.status().to_string());
    return EncodeOutcome{http_status_for(result.status().code()), result.status().message(), {}};
  }
  engine::EncodeResponse& answer = *result;
  if (answer.code != ErrorCode::kOk) return EncodeOutcome{http_status_for(answer.code), answer.error_message, {}};
  EncodeOutcome outcome;
  if (answer.items.empty()) return outcome;  // no embeddings asked for
  if (answer.items.size() != request.items.size()) {
    return EncodeOutcome{500, fmt::format("the engine answered {} item(s) for a request of {}", answer.items.size(),
                                          request.items.size()), {}};
  }
  outcome.items.reserve(answer.items.size());
  for (size_t i = 0; i < answer.items.size(); ++i) {
    if (answer.items[i].item_id != request.items[i].id) {
      return EncodeOutcome{500, fmt::format("the engine answered item '{}' where '{}' was expected",
                                            answer.items[i].item_id, request.items[i].id), {}};
    }
    outcome.items.push_back(ItemEmbedding{answer.items[i].item_id, std::move(answer.items[i].embedding),
                                          request.items[i].modality, std::move(grids[i])});
  }
  return outcome;
}

HttpResponse ApiService::embeddings_answer(const EmbeddingsRequest& request, bool binary, EncodeOutcome outcome) const {
  if (!outcome.ok()) return json_error(outcome.http_status, outcome.error);
  if (!ec_storage_path_.empty()) {
    for (const ItemEmbedding& item : outcome.items) {
      // vLLM's consumer reads the tensor in its model dtype.
      Status written = write_ec_storage(ec_storage_path_, item, vllm_);
      if (!written.ok()) return json_error(written.code() == ErrorCode::kInvalidArgument ? 400 : 500, written.message());
    }
  }
  Result<HttpResponse> body = json_ok();
  if (binary) {
    body = embeddings_safetensors(outcome.items);
  } else if (request.format == EmbeddingsFormat::kVllm) {
    body = embeddings_vllm_json(outcome.items, vllm_);
  } else if (request.return_embeddings) {
    body = embeddings_json(outcome.items);
  }
  if (!body.ok()) return json_error(500, body.status().message());
  return std::move(body).value();
}

}  // namespace eric::router
