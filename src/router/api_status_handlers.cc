// GET /health, /info and /modalities.
#include <nlohmann/json.hpp>

#include "router/api_response.h"
#include "router/api_service.h"

namespace eric::router {

using json = nlohmann::json;

void ApiService::health(Responder respond) {
  if (engine_->dead()) return respond(json_error(503, "the engine process is not running; see the server log"));
  if (auto probation = engine_->probation(); !probation.empty()) return respond(json_error(503, probation));
  // Ask the engine itself: a live process whose workers died must not look healthy.
  engine_->query_status(
      [respond](Result<engine::StatusReply> reply) {
        if (!reply.ok()) return respond(json_error(503, "engine not answering: " + reply.status().message()));
        json body = {{"status", reply->ready ? 0 : 1},
                     {"error_message", nullptr},
                     {"workers_alive", reply->workers_alive},
                     {"workers_total", reply->workers_total},
                     {"engine_queue_length", reply->queue_length}};
        if (!reply->ready) {
          body["error_message"] = reply->detail.empty() ? std::string("engine not ready") : "engine not ready: " + reply->detail;
        }
        respond(HttpResponse{reply->ready ? 200 : 503, "application/json",
                             body.dump(-1, ' ', false, json::error_handler_t::replace)});
      },
      kHealthTimeout);
}

HttpResponse ApiService::info() const {
  json body = {{"model", info_.model},
               {"served_model_name", info_.served_model_name.empty() ? json(nullptr) : json(info_.served_model_name)},
               {"model_ids", policy_.model_ids},
               {"model_type", info_.model_type},
               {"modalities", policy_.modalities},
               {"dtype", info_.dtype},
               {"tp", info_.tp},
               // On cuda: the compute dtype and the memory cap (null: none); null on cpu.
               {"device",
                {{"kind", info_.device},
                 {"cuda_dtype", info_.device == "cuda" ? json(info_.cuda_dtype) : json(nullptr)},
                 {"cuda_memory_limit", info_.device == "cuda" && !info_.cuda_memory_limit.empty()
                                           ? json(info_.cuda_memory_limit)
                                           : json(nullptr)}}},
               {"max_batch_size", info_.max_batch_size},
               {"max_batch_tokens", info_.max_batch_tokens},
               {"preprocess_workers", info_.preprocess_workers},
               {"threads_per_worker", info_.threads_per_worker},
               {"max_items_per_request", policy_.max_items},
               {"max_body_bytes", info_.max_body_bytes},
               {"limits",
                {{"max_body_bytes", info_.limits.max_body_bytes},
                 {"max_header_bytes", info_.limits.max_header_bytes},
                 {"max_connections", info_.limits.max_connections},
                 {"max_items_per_request", info_.limits.max_items_per_request},
                 {"max_image_pixels", info_.limits.max_image_pixels},
                 {"max_video_frames", info_.limits.max_video_frames},
                 {"max_audio_seconds", info_.limits.max_audio_seconds},
                 {"max_download_bytes", info_.limits.max_download_bytes},
                 {"download_timeout_ms", info_.limits.download_timeout_ms},
                 {"download_connect_timeout_ms", info_.limits.download_connect_timeout_ms},
                 {"max_queued_requests", info_.limits.max_queued_requests},
                 {"max_queued_items", info_.limits.max_queued_items},
                 {"retry_after_seconds", info_.limits.retry_after_seconds}}},
               {"version", info_.version}};
  return HttpResponse{200, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

HttpResponse ApiService::modalities() const {
  return HttpResponse{200, "application/json", json(policy_.modalities).dump()};
}

}  // namespace eric::router
