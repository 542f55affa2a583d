// The HTTP API: routes requests to handlers and runs POST /embeddings
// through preprocessing (ProcessorPool) and the engine (EngineClient), each
// stage completing asynchronously, so no I/O thread ever waits.
//
//   POST /embeddings   Cornserve-compatible; optional embeddings in the answer
//                      ("format": "vllm": as vLLM content parts)
//   POST /v1/chat/completions, GET /v1/models  OpenAI-compatible front door to
//                      an LLM server (ChatService; with --llm-upstream)
//   GET  /health       200 only when the engine reports ready and all workers alive
//   GET  /info         model, served name, dtype, device, tp, limits, version
//   GET  /modalities   e.g. ["image"]
//   GET  /queue_length requests accepted and not yet answered
//   GET  /metrics      Prometheus text format
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "router/admission.h"
#include "router/api_request.h"
#include "router/api_response.h"
#include "router/deadline_timer.h"
#include "router/engine_client.h"
#include "router/http_types.h"
#include "router/limits.h"
#include "router/metrics.h"
#include "router/processor_pool.h"

namespace eric::router {

class ChatService;

// What GET /info reports.
struct ServerInfo {
  std::string model;              // --model exactly as given (or the demo folder)
  std::string served_model_name;  // --served-model-name ("" when unset)
  std::string model_type;         // config.json model_type
  std::string dtype = "float32";  // embedding dtype
  int tp = 1;
  // Where the encoder runs: --device (cpu or cuda), and on cuda the compute
  // dtype and the per-GPU memory cap ("" when none).
  std::string device = "cpu";
  std::string cuda_dtype;
  std::string cuda_memory_limit;
  int64_t max_batch_size = 0;
  int64_t max_batch_tokens = 0;
  int preprocess_workers = 0;
  int threads_per_worker = 0;
  size_t max_body_bytes = 0;
  RequestLimits limits;  // reported under "limits"
  std::string version;
};

class ApiService {
 public:
  // The pool, engine client and metrics must outlive the service.
  ApiService(ServerInfo info, RequestPolicy policy, ProcessorPool* pool, EngineClient* engine, Metrics* metrics);

  // The HttpHandler.
  void handle(HttpRequest request, Responder respond);

  // vLLM delivery (format "vllm", /v1/chat/completions) and EC-connector
  // storage (every /embeddings item also written to <dir>/<id>/; "" = off).
  // Set before serving.
  void set_vllm_delivery(VllmDelivery vllm) { vllm_ = vllm; }
  const VllmDelivery& vllm_delivery() const { return vllm_; }
  void set_ec_storage_path(std::string dir) { ec_storage_path_ = std::move(dir); }
  // The OpenAI-compatible front door (/v1/...); null answers those paths 404.
  void set_chat(ChatService* chat) { chat_ = chat; }
  const RequestPolicy& policy() const { return policy_; }
  // Bounds the items of /embeddings requests accepted and not yet answered
  // (429 past it); null: no bound. Set before serving; must outlive the service.
  void set_admission(Admission* admission) { admission_ = admission; }

  // Runs the items through preprocessing and the engine exactly as
  // /embeddings does (same pool, same engine batches). `done` runs once, on a
  // preprocessing-pool thread; with `want_embeddings` its items hold the
  // embeddings (and grids).
  using EncodeDone = std::function<void(EncodeOutcome)>;
  void encode(std::shared_ptr<const EmbeddingsRequest> request, bool want_embeddings, EncodeDone done);

  // Every /embeddings request is answered within this time: 504 when it
  // passes first, whatever preprocessing (a stalled download) or the engine
  // is doing; the engine drops the request's items once it passes. Set before
  // serving (--request-timeout); a request's "timeout_ms" can only shorten it.
  void set_request_timeout(std::chrono::milliseconds timeout) { request_timeout_ = timeout; }
  std::chrono::milliseconds request_timeout() const { return request_timeout_; }

  // From now on new /embeddings requests get 503 (the server is draining).
  void stop_accepting_embeddings() { draining_ = true; }
  bool draining() const { return draining_; }
  // /embeddings requests accepted and not yet answered.
  int64_t in_flight() const { return in_flight_.load(); }

  // Timeout of the engine status query behind /health.
  static constexpr std::chrono::milliseconds kHealthTimeout{2000};

 private:
  void embeddings(HttpRequest request, Responder respond);
  // Wraps `respond` to count the request in in_flight() until it is answered.
  Responder track(Responder respond);
  void on_preprocessed(std::shared_ptr<const EmbeddingsRequest> request, bool want_embeddings,
                       Result<PreprocessedRequest> result, std::chrono::steady_clock::time_point deadline,
                       EncodeDone done);
  // The request's deadline: --request-timeout, or its shorter "timeout_ms".
  std::chrono::milliseconds timeout_of(const EmbeddingsRequest& request) const;
  // Answers 504 through `respond` when `timeout` passes; returns the timer to
  // cancel when the request ends first.
  uint64_t arm_deadline(Responder respond, std::chrono::milliseconds timeout);
  EncodeOutcome on_encoded(const EmbeddingsRequest& request, std::vector<Tensor> grids,
                           Result<engine::EncodeResponse> result) const;
  HttpResponse embeddings_answer(const EmbeddingsRequest& request, bool binary, EncodeOutcome outcome) const;
  void health(Responder respond);
  HttpResponse info() const;
  HttpResponse modalities() const;

  ServerInfo info_;
  RequestPolicy policy_;
  ProcessorPool* pool_;
  EngineClient* engine_;
  Metrics* metrics_;
  VllmDelivery vllm_;
  std::string ec_storage_path_;
  ChatService* chat_ = nullptr;
  Admission* admission_ = nullptr;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> in_flight_{0};
  std::chrono::milliseconds request_timeout_{std::chrono::seconds(120)};
  // Last: destroyed first, while what its callbacks use still exists.
  DeadlineTimer deadlines_;
};

}  // namespace eric::router
