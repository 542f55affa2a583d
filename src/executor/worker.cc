#include "executor/worker.h"

#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <memory>

#include <spdlog/spdlog.h>

#include "common/thread_pool.h"
#include "distributed/shm_collective.h"
#include "engine/zmq_transport.h"
#include "executor/batch_codec.h"
#include "executor/fault_injection.h"
#include "executor/shm_ring.h"
#include "models/loaded_model.h"
#include "sidecar/producer.h"

namespace eric::executor {

namespace {

using namespace std::chrono_literals;

Result<int> parse_int(const std::string& key, const std::string& value) {
  int v = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || p != value.data() + value.size()) {
    return InvalidArgument("worker option {} expects an integer, got '{}'", key, value);
  }
  return v;
}

// Converts the protocol items of a batch into the encoder's inputs.
Result<std::vector<models::ProcessedItem>> to_processed(const engine::EncodeRequest& batch) {
  std::vector<models::ProcessedItem> items;
  items.reserve(batch.items.size());
  for (const auto& it : batch.items) {
    models::ProcessedItem p;
    auto modality = models::modality_from_string(it.modality);
    if (!modality.ok()) return modality.status().with_context(fmt::format("item '{}'", it.item_id));
    p.modality = *modality;
    p.tensors = it.tensors;
    p.num_tokens = it.num_tokens;
    items.push_back(std::move(p));
  }
  return items;
}

Result<std::vector<Tensor>> encode_batch_items(models::Encoder& encoder, const engine::EncodeRequest& batch,
                                                int rank) {
  ERIC_ASSIGN_OR_RETURN(auto items, to_processed(batch));
  std::vector<const models::ProcessedItem*> ptrs;
  for (const auto& p : items) ptrs.push_back(&p);
  FaultInjection::from_environment().apply(batch, rank);  // test-only; off by default
  return encoder.encode(ptrs);
}

engine::EncodeResponse run_batch(models::Encoder& encoder, const engine::EncodeRequest& batch, int rank) {
  engine::EncodeResponse resp;
  resp.request_id = batch.request_id;
  auto fail = [&](const Status& st) {
    resp.code = st.code();
    resp.error_message = st.message();
    resp.items.clear();
    return resp;
  };
  // An exception in the forward pass fails this batch only; the worker goes
  // on. Every rank runs the same code on the same batch, so with tp > 1 they
  // all fail alike (one rank throwing alone would stall the all-reduce until
  // the engine's batch timeout restarts the set).
  Result<std::vector<Tensor>> out = Internal("batch {} did not run", batch.request_id);
  try {
    out = encode_batch_items(encoder, batch, rank);
  } catch (const std::exception& e) {
    out = Internal("batch {}: the forward pass threw: {}", batch.request_id, e.what());
  }
  if (!out.ok()) return fail(out.status());
  if (out->size() != batch.items.size()) {
    return fail(Internal("the encoder returned {} embeddings for {} items", out->size(), batch.items.size()));
  }
  for (size_t i = 0; i < batch.items.size(); ++i) {
    resp.items.push_back({batch.items[i].item_id, std::move((*out)[i])});
  }
  return resp;
}

}  // namespace

Result<WorkerOptions> parse_worker_args(const std::vector<std::string>& args) {
  WorkerOptions o;
  if (args.size() % 2 != 0) return InvalidArgument("worker options come in '--key value' pairs");
  for (size_t i = 0; i < args.size(); i += 2) {
    const std::string& k = args[i];
    const std::string& v = args[i + 1];
    if (k == "--model") o.model_dir = v;
    else if (k == "--ring") o.ring_name = v;
    else if (k == "--collective") o.collective_name = v;
    else if (k == "--results") o.results_endpoint = v;
    else if (k == "--rank") { ERIC_ASSIGN_OR_RETURN(o.rank, parse_int(k, v)); }
    else if (k == "--world-size") { ERIC_ASSIGN_OR_RETURN(o.world_size, parse_int(k, v)); }
    else if (k == "--threads") { ERIC_ASSIGN_OR_RETURN(o.threads, parse_int(k, v)); }
    else if (k == "--parent-pid") { ERIC_ASSIGN_OR_RETURN(o.parent_pid, parse_int(k, v)); }
    else if (k == "--device") o.device = v;
    else if (k == "--cuda-dtype") o.cuda_dtype = v;
    else if (k == "--cuda-memory-limit") o.cuda_memory_limit = v;
    else return InvalidArgument("unknown worker option '{}'", k);
  }
  if (o.model_dir.empty() || o.ring_name.empty() || o.results_endpoint.empty()) {
    return InvalidArgument("worker needs --model, --ring and --results");
  }
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size) {
    return InvalidArgument("worker rank {} / world size {} is invalid", o.rank, o.world_size);
  }
  if (o.world_size > 1 && o.collective_name.empty()) return InvalidArgument("worker with world size > 1 needs --collective");
  ERIC_RETURN_IF_ERROR(models::parse_device_options(o.device, o.cuda_dtype, o.cuda_memory_limit).status());
  return o;
}

std::vector<std::string> worker_args(const WorkerOptions& o) {
  std::vector<std::string> a = {"--model", o.model_dir, "--ring", o.ring_name, "--results", o.results_endpoint,
                                "--rank", std::to_string(o.rank), "--world-size", std::to_string(o.world_size),
                                "--threads", std::to_string(o.threads), "--parent-pid", std::to_string(o.parent_pid),
                                "--device", o.device, "--cuda-dtype", o.cuda_dtype};
  if (!o.cuda_memory_limit.empty()) {
    a.push_back("--cuda-memory-limit");
    a.push_back(o.cuda_memory_limit);
  }
  if (!o.collective_name.empty()) {
    a.push_back("--collective");
    a.push_back(o.collective_name);
  }
  return a;
}

Status run_worker(const WorkerOptions& o) {
  // Ctrl-C reaches the whole process group; the engine decides when workers
  // stop (it closes the ring after draining), so a worker ignores SIGINT.
  signal(SIGINT, SIG_IGN);
  if (o.threads > 0) ThreadPool::set_global_threads(o.threads);
  zmq::context_t ctx(1);
  zmq::socket_t push(ctx, zmq::socket_type::push);
  push.set(zmq::sockopt::linger, 2000);
  push.set(zmq::sockopt::sndtimeo, 10000);
  try {
    push.connect(o.results_endpoint);
  } catch (const zmq::error_t& e) {
    return Unavailable("worker {}: cannot connect to {}: {}", o.rank, o.results_endpoint, e.what());
  }

  // Load: the collective first (the model's row-parallel layers use it).
  auto load = [&]() -> Result<models::LoadedModel> {
    models::EncoderOptions eo;
    eo.num_threads = o.threads;
    ERIC_ASSIGN_OR_RETURN(models::DeviceOptions device,
                          models::parse_device_options(o.device, o.cuda_dtype, o.cuda_memory_limit));
    eo.set_device(device);
    eo.device_index = o.rank;  // worker rank r uses GPU r
    if (o.world_size > 1) {
      ERIC_ASSIGN_OR_RETURN(eo.collective, distributed::open_shm_collective(o.collective_name, o.rank, o.world_size));
    }
    return models::load_model(o.model_dir, /*load_encoder=*/true, eo);
  };
  auto model = load();
  engine::StatusReply hello;
  hello.request_id = static_cast<uint64_t>(o.rank);
  hello.ready = model.ok();
  hello.workers_total = o.world_size;
  hello.detail = model.ok() ? "" : model.status().to_string();
  ERIC_RETURN_IF_ERROR(engine::send_message(push, hello));
  if (!model.ok()) return model.status().with_context(fmt::format("worker {}: loading {}", o.rank, o.model_dir));
  spdlog::info("worker {}/{} (pid {}) loaded {}", o.rank, o.world_size, getpid(), o.model_dir);

  ERIC_ASSIGN_OR_RETURN(auto ring, ShmRingReader::open(o.ring_name, o.rank));
  // Rank 0 delivers embeddings of items with receiver ranks to the sidecar
  // named by `eric serve --sidecar` (inherited environment); null without one.
  auto sidecar_sender = o.rank == 0 ? sidecar::EmbeddingSender::from_environment() : nullptr;
  while (true) {
    if (o.parent_pid != 0 && getppid() != o.parent_pid) {
      spdlog::warn("worker {}: the engine (pid {}) is gone; exiting", o.rank, o.parent_pid);
      return Status::Ok();
    }
    auto bytes = ring->read(1000ms);
    if (!bytes.ok()) {
      if (bytes.status().code() == ErrorCode::kDeadlineExceeded) continue;  // idle
      if (bytes.status().code() == ErrorCode::kUnavailable) return Status::Ok();  // closed: shutting down
      return bytes.status();
    }
    auto message = decode_ring_message(std::make_shared<const std::string>(std::move(bytes).value()));
    if (!message.ok()) {
      // Every rank reads the same bytes, so every rank skips it alike.
      spdlog::error("worker {}: bad batch message: {}", o.rank, message.status().to_string());
      if (o.rank == 0) {
        engine::EncodeResponse r;
        r.request_id = 0;
        r.code = ErrorCode::kInternal;
        r.error_message = message.status().message();
        (void)engine::send_message(push, r);
      }
      continue;
    }
    if (std::holds_alternative<engine::Shutdown>(*message)) return Status::Ok();
    if (!std::holds_alternative<engine::EncodeRequest>(*message)) continue;
    const auto& request = std::get<engine::EncodeRequest>(*message);
    engine::EncodeResponse resp = run_batch(*model->encoder, request, o.rank);
    // A lost GPU context fails every later batch too, and only a new process
    // recovers it: answer this batch, then stop, so that the engine restarts
    // the worker set at once.
    Status health = model->encoder->health();
    if (health.ok()) health = FaultInjection::from_environment().device_loss(request, o.rank);  // test-only
    resp.restart_workers = !health.ok();
    if (o.rank == 0) {
      // The batch succeeds only once every receiving group has its embedding.
      if (sidecar_sender) sidecar_sender->deliver_batch(request, resp);
      else sidecar::reject_undeliverable(request, resp);
      Status st = engine::send_message(push, resp);
      if (!st.ok()) spdlog::error("worker 0: cannot send batch {} results: {}", resp.request_id, st.to_string());
    }
    if (!health.ok()) {
      spdlog::error("worker {}: {}; stopping so that the engine restarts the workers", o.rank, health.to_string());
      return health;
    }
  }
}

}  // namespace eric::executor
