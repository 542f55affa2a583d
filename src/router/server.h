// `eric serve`: the router process. Sets up the run folder, starts and
// supervises the engine child, serves HTTP until SIGINT/SIGTERM, then drains
// in-flight requests and stops the engine, leaving nothing behind.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "router/limits.h"

namespace eric::router {

struct ServeOptions {
  std::string model;              // checkpoint folder; "" serves the built-in demo
  std::string served_model_name;  // extra accepted model_id
  std::string host = "127.0.0.1";
  uint16_t port = 8000;
  int tp = 1;
  int64_t max_batch_size = 16;
  int64_t max_batch_tokens = 16384;
  int preprocess_workers = 2;
  int threads_per_worker = 0;  // 0: the engine divides the cores among workers
  std::string device = "cpu";       // --device: cpu or cuda (worker rank r uses GPU r)
  std::string cuda_dtype = "bf16";  // --cuda-dtype: bf16 or f32 on the GPU
  std::string cuda_memory_limit;    // --cuda-memory-limit: 20GiB, 512MiB or 40% per GPU ("": none)
  int io_threads = 2;
  RequestLimits limits;  // body/header/items/pixels/download/queue bounds
  // Required as `Authorization: Bearer <key>` on every endpoint but /health
  // ("" = no authentication). --api-key or ERIC_API_KEY.
  std::string api_key;
  std::vector<std::string> allowed_local_media_paths;
  bool allow_private_network = false;
  // Non-public networks (CIDR) media URLs may reach without
  // allow_private_network, e.g. an internal image store.
  std::vector<std::string> allowed_media_networks;
  // vLLM delivery: the front door's upstream (http://host:port), its API key,
  // the embedding dtype ("" = the checkpoint's), EC-connector storage folder.
  std::string llm_upstream;
  std::string llm_upstream_api_key;
  std::string vllm_dtype;
  std::string ec_storage_path;
  std::string log_level = "info";  // passed on to the engine
  std::chrono::seconds engine_start_timeout{600};
  std::chrono::seconds drain_timeout{60};
  // Every /embeddings request is answered within this (504 past it); the
  // engine drops its items once it passes. --request-timeout (ms).
  std::chrono::milliseconds request_timeout{120000};
  // A dead engine is restarted after this, doubling up to the max.
  std::chrono::milliseconds engine_restart_backoff{1000};
  std::chrono::milliseconds engine_restart_backoff_max{30000};
};

// The demo checkpoint folder ($XDG_CACHE_HOME or ~/.cache, then eric/demo-qwen2_vl),
// written with the qwen2_vl family's write_test_model when missing.
Result<std::string> ensure_demo_model();

// Runs the server until a signal stops it. Blocks SIGINT/SIGTERM in the
// calling thread (and in every thread it starts); call it from main's thread.
Status run_server(ServeOptions options);

}  // namespace eric::router
