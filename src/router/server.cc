#include "router/server.h"

#include <signal.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

#include "distributed/shm_segment.h"
#include "models/loaded_model.h"
#include "router/api_response.h"
#include "router/api_service.h"
#include "router/chat_service.h"
#include "router/engine_client.h"
#include "router/engine_process.h"
#include "router/engine_supervisor.h"
#include "router/http_server.h"
#include "router/image_source.h"
#include "router/metrics.h"
#include "router/processor_pool.h"
#include "router/request_gate.h"
#include "router/run_dir.h"
#include "media/address_policy.h"
#include "router/upstream_client.h"
#include "router/vllm_delivery.h"

#ifndef ERIC_VERSION
#define ERIC_VERSION "unknown"
#endif

namespace eric::router {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

Result<std::string> ensure_demo_model() {
  std::string cache;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] == '/') {
    cache = xdg;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    cache = std::string(home) + "/.cache";
  } else {
    return NotFound("neither XDG_CACHE_HOME nor HOME is set: cannot place the demo model; pass --model");
  }
  const std::string dir = cache + "/eric/demo-qwen2_vl";
  if (fs::exists(dir + "/config.json")) return dir;

  ERIC_ASSIGN_OR_RETURN(const models::ModelFamily* family, models::find_model_family("qwen2_vl"));
  if (family->write_test_model == nullptr) return Unimplemented("the qwen2_vl family cannot write test models");
  std::error_code ec;
  fs::create_directories(cache + "/eric", ec);
  if (ec) return IoError("cannot create {}/eric: {}", cache, ec.message());
  // Written aside and renamed, so a server killed half-way leaves no half model.
  const std::string tmp = fmt::format("{}.tmp-{}", dir, ::getpid());
  fs::remove_all(tmp, ec);
  ERIC_RETURN_IF_ERROR(family->write_test_model("qwen2_vl", tmp, models::TestModelOptions{}));
  fs::rename(tmp, dir, ec);
  if (ec && !fs::exists(dir + "/config.json")) return IoError("cannot move the demo model into {}: {}", dir, ec.message());
  fs::remove_all(tmp, ec);  // another server won the race
  return dir;
}

namespace {

Result<engine::StatusReply> query_status_sync(EngineClient& client, milliseconds timeout) {
  auto promise = std::make_shared<std::promise<Result<engine::StatusReply>>>();
  auto future = promise->get_future();
  client.query_status([promise](Result<engine::StatusReply> r) { promise->set_value(std::move(r)); }, timeout);
  return future.get();  // the client always answers (reply, timeout or failure)
}

// Waits for SIGINT/SIGTERM for up to `timeout`; returns the signal or 0.
int wait_signal(const sigset_t& set, milliseconds timeout) {
  timespec ts{static_cast<time_t>(timeout.count() / 1000), static_cast<long>(timeout.count() % 1000) * 1000000L};
  int sig = ::sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

// Waits until the engine reports ready. Fails when it exits, when a signal
// arrives, or after `timeout`.
Status wait_engine_ready(EngineProcess& process, EngineClient& client, const sigset_t& signals,
                         std::chrono::seconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string last_detail;
  while (Clock::now() < deadline) {
    if (auto exit = process.poll_exit()) return Unavailable("the engine {} while starting; see its log above", *exit);
    if (int sig = wait_signal(signals, milliseconds(0))) return Unavailable("stopped by signal {} during start-up", sig);
    auto reply = query_status_sync(client, milliseconds(500));
    if (reply.ok() && reply->ready) return Status::Ok();
    if (reply.ok() && reply->detail != last_detail) {
      last_detail = reply->detail;
      spdlog::info("engine starting: {}", last_detail);
    }
    std::this_thread::sleep_for(milliseconds(reply.ok() ? 100 : 10));
  }
  return DeadlineExceeded("the engine was not ready after {} s", timeout.count());
}

// 0 means: share the machine's cores evenly among the workers.
int threads_per_worker(const ServeOptions& o) {
  if (o.threads_per_worker > 0) return o.threads_per_worker;
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores / o.tp);
}

std::vector<std::string> engine_argv(const ServeOptions& o, const std::string& model_dir, const std::string& run_dir) {
  std::vector<std::string> argv = {"/proc/self/exe",
          "--log-level",
          o.log_level,
          "engine",
          "--run-dir",
          run_dir,
          "--model",
          model_dir,
          "--tp",
          std::to_string(o.tp),
          "--max-batch-size",
          std::to_string(o.max_batch_size),
          "--max-batch-tokens",
          std::to_string(o.max_batch_tokens),
          "--threads-per-worker",
          std::to_string(threads_per_worker(o)),
          "--device",
          o.device,
          "--cuda-dtype",
          o.cuda_dtype};
  if (!o.cuda_memory_limit.empty()) {
    argv.push_back("--cuda-memory-limit");
    argv.push_back(o.cuda_memory_limit);
  }
  return argv;
}

// Everything alive while serving; members are destroyed in reverse order,
// so the HTTP server (which hands out Responders) goes last.
struct Serving {
  // First: outlives every Responder (admission tickets point into it).
  std::unique_ptr<Admission> admission;
  std::unique_ptr<RequestGate> gate;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<EngineProcess> process;
  std::unique_ptr<EngineClient> client;
  std::unique_ptr<ProcessorPool> pool;
  std::unique_ptr<ApiService> api;
  std::unique_ptr<UpstreamClient> upstream;  // with --llm-upstream
  std::unique_ptr<ChatService> chat;
};

Status validate(const ServeOptions& o) {
  if (o.tp < 1) return InvalidArgument("--tp must be at least 1, got {}", o.tp);
  if (o.max_batch_size < 1) return InvalidArgument("--max-batch-size must be at least 1, got {}", o.max_batch_size);
  if (o.max_batch_tokens < 1) return InvalidArgument("--max-batch-tokens must be at least 1, got {}", o.max_batch_tokens);
  if (o.preprocess_workers < 1) {
    return InvalidArgument("--preprocess-workers must be at least 1, got {}", o.preprocess_workers);
  }
  if (o.threads_per_worker < 0) return InvalidArgument("--threads-per-worker must be >= 0, got {}", o.threads_per_worker);
  // --device cuda with --tp N: worker rank r takes GPU r, and the ranks sum
  // their row-parallel outputs over NCCL (checked when the workers load).
  ERIC_RETURN_IF_ERROR(models::parse_device_options(o.device, o.cuda_dtype, o.cuda_memory_limit).status());
  if (o.request_timeout.count() < 1) {
    return InvalidArgument("--request-timeout must be at least 1 ms, got {}", o.request_timeout.count());
  }
  ERIC_RETURN_IF_ERROR(validate_limits(o.limits));
  for (const auto& network : o.allowed_media_networks) {
    auto parsed = media::parse_network(network);
    if (!parsed.ok()) return parsed.status().with_context("--allow-media-network");
  }
  return Status::Ok();
}

Status serve(ServeOptions o, const sigset_t& signals, const std::string& run_dir, Serving& s) {
  // ---- model: the router needs its processor only -------------------------
  std::string model_dir = o.model;
  std::vector<std::string> model_ids;
  if (o.model.empty()) {
    ERIC_ASSIGN_OR_RETURN(model_dir, ensure_demo_model());
    spdlog::warn("DEMO MODE: no --model given; serving a tiny Qwen2-VL with RANDOM weights from {}. "
                 "Its embeddings carry no meaning. Requests name it as model_id \"demo\" (or the folder path).",
                 model_dir);
    model_ids = {"demo", model_dir};
  } else {
    model_ids = {o.model};
  }
  if (!o.served_model_name.empty()) model_ids.push_back(o.served_model_name);
  ERIC_ASSIGN_OR_RETURN(models::LoadedModel model, models::load_model(model_dir, /*load_encoder=*/false));
  auto processor = std::shared_ptr<models::ModalityProcessor>(std::move(model.processor));

  RequestPolicy policy;
  policy.model_ids = model_ids;
  policy.max_items = o.limits.max_items_per_request;
  for (auto m : processor->modalities()) {
    // The router preprocesses images and videos (audio has no path yet).
    if (m == models::Modality::kImage || m == models::Modality::kVideo) {
      policy.modalities.emplace_back(models::modality_name(m));
    }
  }
  if (policy.modalities.empty()) {
    return Unimplemented("model_type '{}' has no image or video modality; the router preprocesses only those",
                         model.config.model_type);
  }

  // ---- engine ---------------------------------------------------------------
  ERIC_ASSIGN_OR_RETURN(s.process, EngineProcess::spawn(engine_argv(o, model_dir, run_dir)));
  spdlog::info("engine started (pid {}), run folder {}", s.process->pid(), run_dir);
  ERIC_ASSIGN_OR_RETURN(s.client, EngineClient::connect(EngineClientOptions{"ipc://" + run_dir + "/engine.sock"}));
  ERIC_RETURN_IF_ERROR(wait_engine_ready(*s.process, *s.client, signals, o.engine_start_timeout));
  spdlog::info("engine ready");

  // ---- HTTP -----------------------------------------------------------------
  media::MediaLoaderOptions media_options;
  media_options.allowed_local_media_paths = o.allowed_local_media_paths;
  media_options.allow_private_network = o.allow_private_network;
  media_options.allowed_networks = o.allowed_media_networks;
  media_options.max_bytes = o.limits.max_download_bytes;
  media_options.max_data_uri_bytes = o.limits.max_download_bytes;
  media_options.total_timeout_ms = o.limits.download_timeout_ms;
  // A download cannot outlive the request that waits for it (the client got
  // its 504 by then); this frees the preprocessing thread of a stalled one.
  media_options.total_timeout_ms =
      static_cast<int>(std::min<int64_t>(media_options.total_timeout_ms, o.request_timeout.count()));
  media_options.connect_timeout_ms = o.limits.download_connect_timeout_ms;
  media::DecodeOptions decode_options;
  decode_options.max_pixels = o.limits.max_image_pixels;
  media::VideoDecodeOptions video_decode_options = server_video_decode_options();
  video_decode_options.max_selected_frames = o.limits.max_video_frames;
  s.pool = std::make_unique<ProcessorPool>(
      o.preprocess_workers,
      [loader = make_image_loader(media_options, decode_options), processor](const std::string& url) { return loader(url); },
      processor.get(), make_video_loader(media_options, video_decode_options));
  // The pool's tasks use the processor through a raw pointer: keep it alive
  // as long as the pool by holding it in the loader above.
  s.metrics = std::make_unique<Metrics>();
  s.metrics->set_engine_up(true);
  ServerInfo info;
  info.model = o.model.empty() ? model_dir : o.model;
  info.served_model_name = o.served_model_name;
  info.model_type = model.config.model_type;
  info.tp = o.tp;
  info.device = o.device;
  info.cuda_dtype = o.cuda_dtype;
  info.cuda_memory_limit = o.cuda_memory_limit;
  info.max_batch_size = o.max_batch_size;
  info.max_batch_tokens = o.max_batch_tokens;
  info.preprocess_workers = o.preprocess_workers;
  info.threads_per_worker = threads_per_worker(o);
  info.max_body_bytes = o.limits.max_body_bytes;
  info.limits = o.limits;
  info.version = ERIC_VERSION;
  s.api = std::make_unique<ApiService>(info, policy, s.pool.get(), s.client.get(), s.metrics.get());
  s.api->set_request_timeout(o.request_timeout);
  ERIC_ASSIGN_OR_RETURN(VllmDelivery vllm, vllm_delivery_from_config(model.config.config, o.vllm_dtype));
  s.api->set_vllm_delivery(vllm);
  if (!o.ec_storage_path.empty()) {
    std::error_code ec;
    fs::create_directories(o.ec_storage_path, ec);
    if (ec) return IoError("--ec-storage-path {}: cannot create: {}", o.ec_storage_path, ec.message());
    s.api->set_ec_storage_path(o.ec_storage_path);
    spdlog::info("writing every embedding as vLLM EC-connector storage under {} ({})", o.ec_storage_path,
                 dtype_name(vllm.dtype));
  }
  if (!o.llm_upstream.empty()) {
    UpstreamOptions upstream;
    ERIC_ASSIGN_OR_RETURN(upstream.url, parse_upstream_url(o.llm_upstream));
    upstream.api_key = o.llm_upstream_api_key;
    s.upstream = std::make_unique<UpstreamClient>(std::move(upstream));
    s.chat = std::make_unique<ChatService>(s.api.get(), s.upstream.get());
    s.api->set_chat(s.chat.get());
    spdlog::info("OpenAI-compatible front door: /v1/chat/completions and /v1/models forward to {} "
                 "(media parts sent as {} embeddings)", o.llm_upstream, dtype_name(vllm.dtype));
  }

  HttpServerOptions http_options;
  http_options.host = o.host;
  http_options.port = o.port;
  http_options.io_threads = o.io_threads;
  http_options.body_limit = o.limits.max_body_bytes;
  http_options.header_limit = o.limits.max_header_bytes;
  http_options.max_connections = o.limits.max_connections;
  // Authentication and the queue bound act on request heads (no body is
  // read for a refused request) and hold a POST's place until its answer.
  s.admission = std::make_unique<Admission>(o.limits.max_queued_requests, o.limits.max_queued_items,
                                            o.limits.retry_after_seconds);
  s.api->set_admission(s.admission.get());
  s.gate = std::make_unique<RequestGate>(ApiKeyAuth(o.api_key), s.admission.get());
  http_options.check_head = [gate = s.gate.get()](HttpRequest& head) { return gate->check_head(head); };
  if (!o.api_key.empty()) spdlog::info("API key required on every endpoint but /health");
  http_options.make_error = [](int status, const std::string& message) { return json_error(status, message); };
  ApiService* api = s.api.get();
  ERIC_ASSIGN_OR_RETURN(s.http, HttpServer::start(http_options, s.gate->wrap([api](HttpRequest request, Responder respond) {
                          api->handle(std::move(request), std::move(respond));
                        })));
  spdlog::info("serving {} (model_id: {}) on http://{}:{}", info.model, fmt::join(model_ids, " or "), o.host,
               s.http->port());

  // ---- supervise until a signal (restarting a dead engine) ----------------
  EngineSupervisorOptions supervision;
  supervision.engine_argv = engine_argv(o, model_dir, run_dir);
  supervision.run_dir = run_dir;
  supervision.start_timeout = o.engine_start_timeout;
  supervision.restart_backoff_initial = o.engine_restart_backoff;
  supervision.restart_backoff_max = o.engine_restart_backoff_max;
  supervision.cleanup_dead_engine = [] { distributed::cleanup_stale_shm_segments(); };
  EngineSupervisor supervisor(std::move(supervision), s.process, *s.client, *s.metrics);
  int sig = 0;
  while ((sig = wait_signal(signals, milliseconds(100))) == 0) supervisor.tick();

  // ---- drain and stop -------------------------------------------------------
  spdlog::info("signal {} received: draining {} in-flight request(s)", sig, s.api->in_flight());
  s.api->stop_accepting_embeddings();
  s.http->stop_accepting();
  auto drain_deadline = Clock::now() + o.drain_timeout;
  while (s.api->in_flight() > 0 && Clock::now() < drain_deadline) {
    if (int again = wait_signal(signals, milliseconds(20))) {
      spdlog::warn("second signal {}: not waiting for {} request(s)", again, s.api->in_flight());
      break;
    }
  }
  if (!s.client->dead() || !s.process->poll_exit()) {
    // A restarting engine (client not yet alive) gets SIGTERM directly.
    if (s.client->dead()) s.process->signal(SIGTERM);
    else s.client->send_shutdown();
    if (!s.process->wait_exit(std::chrono::seconds(10))) {
      spdlog::warn("engine did not exit after Shutdown; sending SIGTERM");
      s.process->signal(SIGTERM);
      if (!s.process->wait_exit(std::chrono::seconds(5))) {
        s.process->signal(SIGKILL);
        s.process->wait_exit(std::chrono::seconds(5));
      }
    }
  }
  spdlog::info("engine {}", s.process->poll_exit().value_or("still running"));
  return Status::Ok();
}

}  // namespace

Status run_server(ServeOptions o) {
  ERIC_RETURN_IF_ERROR(validate(o));
  // Signals are taken synchronously by the main loop; every thread started
  // from here on inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a client closing early must not kill the server

  const std::string base = run_dir_base();
  for (const auto& stale : remove_stale_run_dirs(base)) spdlog::info("removed stale run folder {}", stale);
  ERIC_ASSIGN_OR_RETURN(std::string run_dir, create_run_dir(base));

  Status status;
  {
    Serving s;
    status = serve(std::move(o), signals, run_dir, s);
    // Stop in dependency order: HTTP first (its threads call into the API;
    // answers given after this are dropped), then the engine client (fails
    // what is left), the pool (finishes its queue), and only then destroy the
    // HTTP server, whose io_context the dropped answers still reference.
    if (s.http) s.http->stop();
    s.client.reset();
    s.pool.reset();
    s.upstream.reset();  // after the pool, whose last tasks may still forward
    s.api.reset();
    s.process.reset();  // kills an engine still running
    s.http.reset();
  }
  // Segments of any process that died without cleaning up (a crashed engine or worker).
  distributed::cleanup_stale_shm_segments();
  Status removed = remove_run_dir(run_dir);
  if (!removed.ok()) spdlog::warn("{}", removed.message());
  return status;
}

}  // namespace eric::router
