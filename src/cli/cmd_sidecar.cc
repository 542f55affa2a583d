// `eric sidecar`: the tensor sidecar of one node (see src/sidecar/server.h and
// docs/sidecar.md). Serves until SIGINT/SIGTERM, then removes its arena and
// control socket.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "sidecar/server.h"

namespace eric::cli {

namespace {

std::atomic<bool> g_sidecar_stop{false};
void on_sidecar_signal(int) { g_sidecar_stop.store(true); }

struct SidecarArgs {
  std::string node;
  std::string registry_file;
  std::string listen;
  std::string ranks;
  std::vector<std::string> peers;
  std::string control_socket;
  double arena_mib = 1024;  // fractions allowed (small arenas in tests)
  int alloc_wait_ms = 10000;
  int item_ttl_s = 120;
  size_t wire_chunk_kib = 4096;
  std::string metrics_listen;
};

Result<sidecar::SidecarOptions> to_options(const SidecarArgs& a) {
  sidecar::SidecarOptions o;
  o.node = a.node;
  if (!a.registry_file.empty()) {
    if (!a.ranks.empty() || !a.peers.empty()) return InvalidArgument("give either --registry or --ranks/--peer, not both");
    ERIC_ASSIGN_OR_RETURN(o.registry, sidecar::RankRegistry::load_file(a.registry_file));
  } else {
    if (a.listen.empty()) return InvalidArgument("without --registry, --listen host:port is required");
    sidecar::SidecarEntry self{a.node, a.listen, {}};
    ERIC_ASSIGN_OR_RETURN(self.ranks, sidecar::parse_rank_list(a.ranks));
    ERIC_RETURN_IF_ERROR(o.registry.add(std::move(self)));
    for (const auto& p : a.peers) {
      ERIC_ASSIGN_OR_RETURN(auto e, sidecar::parse_peer_flag(p));
      ERIC_RETURN_IF_ERROR(o.registry.add(std::move(e)));
    }
  }
  o.listen_address = a.listen;
  o.control_socket = a.control_socket;
  if (!(a.arena_mib >= 1.0 / 256 && a.arena_mib <= double(1 << 20))) {
    return InvalidArgument("--arena-mib {} is out of range [1/256, 2^20]", a.arena_mib);
  }
  o.arena_bytes = static_cast<size_t>(a.arena_mib * double(1 << 20));
  if (a.alloc_wait_ms < 0 || a.item_ttl_s <= 0) return InvalidArgument("--alloc-wait-ms and --item-ttl must be positive");
  o.alloc_wait = sidecar::Millis(a.alloc_wait_ms);
  o.item_ttl = std::chrono::seconds(a.item_ttl_s);
  o.wire_chunk_bytes = a.wire_chunk_kib << 10;
  o.metrics_address = a.metrics_listen;
  return o;
}

void add_sidecar_command(CLI::App& app) {
  auto a = std::make_shared<SidecarArgs>();
  auto* cmd = app.add_subcommand("sidecar", "run the tensor sidecar of this node (delivers embeddings to LLM ranks)");
  cmd->add_option("--node", a->node, "this sidecar's name in the rank registry")->required();
  cmd->add_option("--control-socket", a->control_socket, "Unix socket path for local producers and consumers")
      ->required();
  cmd->add_option("--registry", a->registry_file,
                  "JSON rank registry: {\"sidecars\":[{\"name\",\"address\":\"host:port\",\"ranks\":[..]}]}");
  cmd->add_option("--listen", a->listen, "host:port for other sidecars (default: this node's registry address)");
  cmd->add_option("--ranks", a->ranks, "without --registry: LLM ranks this sidecar serves, e.g. 0,1 or 0-3");
  cmd->add_option("--peer", a->peers, "without --registry: another sidecar as name@host:port=ranks (repeatable)");
  cmd->add_option("--arena-mib", a->arena_mib, "shared-memory arena size in MiB")->capture_default_str();
  cmd->add_option("--alloc-wait-ms", a->alloc_wait_ms, "longest wait for arena space before an item fails")
      ->capture_default_str();
  cmd->add_option("--item-ttl", a->item_ttl_s, "seconds before an uncollected item is reclaimed")->capture_default_str();
  cmd->add_option("--wire-chunk-kib", a->wire_chunk_kib, "chunk size between sidecars in KiB")->capture_default_str();
  cmd->add_option("--metrics-listen", a->metrics_listen, "host:port serving GET /metrics (Prometheus text)");
  cmd->callback([a] {
    auto options = to_options(*a);
    if (!options.ok()) fail(options.status());
    // Signals only set a flag; the main thread stops the server.
    struct sigaction sa {};
    sa.sa_handler = on_sidecar_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    auto server = sidecar::SidecarServer::start(std::move(options).value());
    if (!server.ok()) fail(server.status());
    // Tests and scripts wait for this line (the real peer port when :0 was given).
    fmt::print("sidecar ready: peer {} control {}{}\n", (*server)->peer_address(), a->control_socket,
               (*server)->metrics_address().empty() ? "" : " metrics " + (*server)->metrics_address());
    std::fflush(stdout);
    while (!g_sidecar_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    spdlog::info("sidecar: stopping");
    (*server)->stop();
  });
}

}  // namespace

ERIC_REGISTER_COMMAND(add_sidecar_command);

}  // namespace eric::cli
