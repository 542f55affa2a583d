// `eric engine ...` (internal): the engine process started by `eric serve`.
// Binds ipc://<run-dir>/engine.sock, starts the worker processes and serves
// until a Shutdown message, SIGTERM or SIGINT; then drains and exits leaving
// no process, shared-memory segment or socket file behind.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "distributed/shm_segment.h"
#include "engine/engine.h"
#include "executor/model_executor.h"
#include "models/model.h"

namespace eric::cli {

namespace {

std::atomic<bool>* g_stop = nullptr;
void on_signal(int) {
  if (g_stop) g_stop->store(true);
}

struct EngineArgs {
  std::string run_dir;
  std::string model;
  int tp = 1;
  int64_t max_batch_size = 16;
  int64_t max_batch_tokens = 16384;
  int threads_per_worker = 0;
  std::string device = "cpu";
  std::string cuda_dtype = "bf16";
  std::string cuda_memory_limit;
  int startup_timeout_s = 300;
  int batch_timeout_s = 120;
  std::string log_level = "info";
};

void add_engine_command(CLI::App& app) {
  auto args = std::make_shared<EngineArgs>();
  auto* cmd = app.add_subcommand("engine", "(internal) the engine process started by `eric serve`");
  cmd->group("");
  cmd->add_option("--run-dir", args->run_dir, "private folder for the sockets")->required();
  cmd->add_option("--model", args->model, "checkpoint folder")->required();
  cmd->add_option("--tp", args->tp, "tensor-parallel degree (worker processes)")->capture_default_str();
  cmd->add_option("--max-batch-size", args->max_batch_size, "items per batch")->capture_default_str();
  cmd->add_option("--max-batch-tokens", args->max_batch_tokens, "embedding rows per batch")->capture_default_str();
  cmd->add_option("--threads-per-worker", args->threads_per_worker, "compute threads per worker (0: cores / tp)")
      ->capture_default_str();
  cmd->add_option("--device", args->device, "where the workers run the encoder: cpu or cuda (rank r on GPU r)")
      ->capture_default_str();
  cmd->add_option("--cuda-dtype", args->cuda_dtype, "weights/activations on the GPU: bf16 or f32")
      ->capture_default_str();
  cmd->add_option("--cuda-memory-limit", args->cuda_memory_limit, "GPU memory each worker may hold: 20GiB, 512MiB or 40%");
  cmd->add_option("--startup-timeout", args->startup_timeout_s, "seconds the workers may take to load")
      ->capture_default_str();
  cmd->add_option("--batch-timeout", args->batch_timeout_s, "seconds one batch may take before the workers are restarted")
      ->capture_default_str();
  cmd->add_option("--worker-log-level", args->log_level, "log level of the worker processes")->capture_default_str();
  cmd->callback([args] {
    if (!std::filesystem::is_directory(args->run_dir)) fail(InvalidArgument("--run-dir {} is not a folder", args->run_dir));
    engine::SchedulerLimits limits{args->max_batch_size, args->max_batch_tokens};
    Status valid = engine::Scheduler::validate(limits);
    if (!valid.ok()) fail(valid);
    if (args->tp < 1) fail(InvalidArgument("--tp must be >= 1, got {}", args->tp));
    auto device = models::parse_device_options(args->device, args->cuda_dtype, args->cuda_memory_limit);
    if (!device.ok()) fail(device.status());
    int threads = args->threads_per_worker;
    if (threads <= 0) threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / args->tp);

    const int removed = distributed::cleanup_stale_shm_segments();
    if (removed > 0) spdlog::info("engine: removed {} stale shared-memory segment(s)", removed);

    engine::Engine eng({args->run_dir, limits, std::chrono::seconds(30)});
    g_stop = &eng.stop_flag();
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);

    executor::ExecutorOptions eo;
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) fail(Internal("cannot resolve /proc/self/exe: {}", ec.message()));
    eo.worker_command = {self.string(), "--log-level", args->log_level};
    eo.run_dir = args->run_dir;
    eo.model_dir = args->model;
    eo.world_size = args->tp;
    eo.threads_per_worker = threads;
    eo.device = args->device;
    eo.cuda_dtype = args->cuda_dtype;
    eo.cuda_memory_limit = args->cuda_memory_limit;
    eo.startup_timeout = std::chrono::seconds(args->startup_timeout_s);
    eo.batch_timeout = std::chrono::seconds(args->batch_timeout_s);
    spdlog::info("engine: model {}, tp {}, device {}, {} thread(s) per worker, max batch {} items / {} tokens",
                 args->model, args->tp, args->device, threads, limits.max_batch_size, limits.max_batch_tokens);
    Status st = eng.run([eo]() -> Result<std::shared_ptr<engine::BatchExecutor>> {
      ERIC_ASSIGN_OR_RETURN(auto ex, executor::ModelExecutor::start(eo));
      return std::shared_ptr<engine::BatchExecutor>(std::move(ex));
    });
    g_stop = nullptr;
    if (!st.ok()) fail(st);
  });
}
}  // namespace

ERIC_REGISTER_COMMAND(add_engine_command);

}  // namespace eric::cli
