// The HTTP API: routes requests to handlers and runs POST /embeddings
// through preprocessing (ProcessorPool) and the engine (EngineClient), each
// stage completing asynchronously, so no I/O thread ever waits.
//
//   POST /embeddings   Cornserve-compatible; optional embeddings in the answer
//   GET  /health       200 only when the engine reports ready and all workers alive
//   GET  /info         model, served name, dtype, tp, limits, version
//   GET  /modalities   e.g. ["image"]
//   GET  /queue_length requests accepted and not yet answered
//   GET  /metrics      Prometheus text format
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "router/api_request.h"
#include "router/engine_client.h"
#include "router/http_types.h"
#include "router/metrics.h"
#include "router/processor_pool.h"

namespace eric::router {

// What GET /info reports.
struct ServerInfo {
  std::string model;              // --model exactly as given (or the demo folder)
  std::string served_model_name;  // --served-model-name ("" when unset)
  std::string model_type;         // config.json model_type
  std::string dtype = "float32";  // embedding dtype
  int tp = 1;
  int64_t max_batch_size = 0;
  int64_t max_batch_tokens = 0;
  int preprocess_workers = 0;
  int threads_per_worker = 0;
  size_t max_body_bytes = 0;
  std::string version;
};

class ApiService {
 public:
  // The pool, engine client and metrics must outlive the service.
  ApiService(ServerInfo info, RequestPolicy policy, ProcessorPool* pool, EngineClient* engine, Metrics* metrics);

  // The HttpHandler.
  void handle(HttpRequest request, Responder respond);

  // From now on new /embeddings requests get 503 (the server is draining).
  void stop_accepting_embeddings() { draining_ = true; }
  // /embeddings requests accepted and not yet answered.
  int64_t in_flight() const { return in_flight_.load(); }

  // Timeout of the engine status query behind /health.
  static constexpr std::chrono::milliseconds kHealthTimeout{2000};

 private:
  void embeddings(HttpRequest request, Responder respond);
  void on_preprocessed(std::shared_ptr<const EmbeddingsRequest> request, bool binary, Result<PreprocessedRequest> result,
                       Responder respond);
  void on_encoded(std::shared_ptr<const EmbeddingsRequest> request, bool binary, Result<engine::EncodeResponse> result,
                  Responder respond);
  void health(Responder respond);
  HttpResponse info() const;
  HttpResponse modalities() const;

  ServerInfo info_;
  RequestPolicy policy_;
  ProcessorPool* pool_;
  EngineClient* engine_;
  Metrics* metrics_;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> in_flight_{0};
};

}  // namespace eric::router
