// `eric serve`: the HTTP server (router process), which starts and supervises
// the engine. See src/router/server.h.
#include <stdlib.h>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "router/server.h"

namespace eric::cli {

namespace {

void add_serve_command(CLI::App& app) {
  auto opts = std::make_shared<router::ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "serve embeddings over HTTP (without --model: a random-weight demo)");
  cmd->add_option("--model", opts->model, "checkpoint folder (Hugging Face layout); omit for the demo model");
  cmd->add_option("--served-model-name", opts->served_model_name, "also accept this model_id in requests");
  cmd->add_option("--host", opts->host, "address to listen on (127.0.0.1 or 0.0.0.0)")->capture_default_str();
  cmd->add_option("--port", opts->port, "TCP port (0: any free port)")->capture_default_str();
  cmd->add_option("--tp", opts->tp, "tensor-parallel worker processes")->capture_default_str();
  cmd->add_option("--max-batch-size", opts->max_batch_size, "items per engine batch")->capture_default_str();
  cmd->add_option("--max-batch-tokens", opts->max_batch_tokens, "embedding tokens per engine batch")
      ->capture_default_str();
  cmd->add_option("--preprocess-workers", opts->preprocess_workers, "threads loading and preprocessing media")
      ->capture_default_str();
  cmd->add_option("--threads-per-worker", opts->threads_per_worker, "compute threads per worker (0: share the cores)")
      ->capture_default_str();
  cmd->add_option("--device", opts->device, "where the workers run the encoder: cpu or cuda (worker rank r on GPU r)")
      ->capture_default_str();
  cmd->add_option("--cuda-dtype", opts->cuda_dtype, "weights and activations on the GPU: bf16 or f32")
      ->capture_default_str();
  cmd->add_option("--cuda-memory-limit", opts->cuda_memory_limit,
                  "GPU memory each worker may hold (weights, activations, cache): a size (20GiB, 512MiB; "
                  "a bare number is GiB) or a share of the card (40%); default: no limit; needs --device cuda");
  cmd->add_option("--io-threads", opts->io_threads, "HTTP I/O threads")->capture_default_str();
  cmd->add_option_function<int64_t>(
         "--request-timeout", [opts](const int64_t& ms) { opts->request_timeout = std::chrono::milliseconds(ms); },
         "ms within which every /embeddings request is answered (504 past it; the engine drops its items)")
      ->default_str(std::to_string(opts->request_timeout.count()));
  // Limits (router/limits.h); each error names the option it hit.
  router::RequestLimits& l = opts->limits;
  cmd->add_option("--max-body-bytes", l.max_body_bytes, "largest request body (413)")->capture_default_str();
  cmd->add_option("--max-header-bytes", l.max_header_bytes, "largest request head (431)")->capture_default_str();
  cmd->add_option("--max-connections", l.max_connections, "open HTTP connections (one more: 503)")
      ->capture_default_str();
  cmd->add_option("--max-items-per-request", l.max_items_per_request, "items in one request")->capture_default_str();
  cmd->add_option("--max-image-pixels", l.max_image_pixels, "decoded width*height of one image (413)")
      ->capture_default_str();
  cmd->add_option("--max-video-frames", l.max_video_frames, "frames taken from one video")->capture_default_str();
  cmd->add_option("--max-audio-seconds", l.max_audio_seconds, "length of one audio clip")->capture_default_str();
  cmd->add_option("--max-download-bytes", l.max_download_bytes, "size of one media download or data: URI (413)")
      ->capture_default_str();
  cmd->add_option("--download-timeout-ms", l.download_timeout_ms, "time for one media download (504)")
      ->capture_default_str();
  cmd->add_option("--download-connect-timeout-ms", l.download_connect_timeout_ms, "time to connect for a download")
      ->capture_default_str();
  cmd->add_option("--max-queued-requests", l.max_queued_requests, "requests accepted and not yet answered (then 429)")
      ->capture_default_str();
  cmd->add_option("--max-queued-items", l.max_queued_items, "items accepted and not yet answered (then 429)")
      ->capture_default_str();
  cmd->add_option("--retry-after-seconds", l.retry_after_seconds, "Retry-After of a 429")->capture_default_str();
  cmd->add_option("--api-key", opts->api_key,
                  "require 'Authorization: Bearer KEY' on every endpoint but /health (or set ERIC_API_KEY)")
      ->envname("ERIC_API_KEY");
  cmd->add_option("--allowed-local-media-path", opts->allowed_local_media_paths,
                  "folder whose files may be named by file:// URLs (repeatable)");
  cmd->add_flag("--allow-private-network", opts->allow_private_network,
                "allow http(s) media URLs on loopback/private addresses");
  cmd->add_option("--allow-media-network", opts->allowed_media_networks,
                  "a non-public network (CIDR) media URLs may reach, also after redirects (repeatable)");
  cmd->add_option("--llm-upstream", opts->llm_upstream,
                  "LLM server (vLLM with --enable-mm-embeds) behind /v1/chat/completions and /v1/models, "
                  "e.g. http://127.0.0.1:8001");
  cmd->add_option("--llm-upstream-api-key", opts->llm_upstream_api_key, "sent to the upstream as a Bearer token");
  cmd->add_option("--vllm-dtype", opts->vllm_dtype,
                  "dtype of embeddings for vLLM (format vllm, front door, EC storage); default: the checkpoint's");
  cmd->add_option("--ec-storage-path", opts->ec_storage_path,
                  "also write every /embeddings item as vLLM EC-connector storage: DIR/<id>/encoder_cache.safetensors");
  // The tensor sidecar (docs/sidecar.md): exported to the engine and its
  // workers through their inherited environment (sidecar/producer.h).
  auto sidecar_socket = std::make_shared<std::string>();
  auto sidecar_timeout_ms = std::make_shared<int>(30000);
  cmd->add_option("--sidecar", *sidecar_socket,
                  "control socket of this node's `eric sidecar`: items with receiver_sidecar_ranks are delivered there");
  cmd->add_option("--sidecar-timeout-ms", *sidecar_timeout_ms,
                  "time for an item to be acknowledged by every receiving sidecar")->capture_default_str();
  cmd->callback([opts, sidecar_socket, sidecar_timeout_ms] {
    if (!sidecar_socket->empty()) {
      if (*sidecar_timeout_ms <= 0) fail(InvalidArgument("--sidecar-timeout-ms must be positive"));
      setenv("ERIC_SIDECAR_SOCKET", sidecar_socket->c_str(), 1);
      setenv("ERIC_SIDECAR_TIMEOUT_MS", std::to_string(*sidecar_timeout_ms).c_str(), 1);
    }
    opts->log_level = spdlog::level::to_string_view(spdlog::default_logger()->level()).data();
    Status st = router::run_server(*opts);
    if (!st.ok()) fail(st);
  });
}

}  // namespace

ERIC_REGISTER_COMMAND(add_serve_command);

}  // namespace eric::cli
