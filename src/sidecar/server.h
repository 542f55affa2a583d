// `eric sidecar`: one per node. Owns the shared-memory arena, the item store
// for local consumers, a PeerLink to every other sidecar of the registry, and
// three kinds of connections, each served by its own thread:
//
//  * control clients on the Unix-domain socket (0600): producers (eric
//    workers) allocate arena ranges, write tensors into them and put() them
//    with their receiver groups; consumers (LLM-server ranks, through
//    libericsidecar) recv() and done() them. A put() answers only when every
//    group's sidecar has the whole tensor (local groups at once, remote ones
//    when their kXferAck arrives), or with the error naming the item and the
//    peer that failed.
//  * incoming peer links (TCP by default): tensors from other sidecars are
//    received chunk by chunk into this arena (waiting for space up to
//    alloc_wait, then refused), published when complete, and acknowledged.
//  * a reaper that reclaims items consumers never collected (item_ttl).
//
// Everything it creates (segment, socket file) is removed at exit; segments
// of sidecars that crashed are removed at the next start.
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "sidecar/arena.h"
#include "sidecar/item_store.h"
#include "sidecar/peer_link.h"
#include "sidecar/registry.h"
#include "sidecar/transport.h"

namespace eric::sidecar {

struct SidecarOptions {
  std::string node;               // this sidecar's name in the registry
  RankRegistry registry;
  std::string control_socket;     // Unix-domain socket path for local clients
  std::string listen_address;     // peer listener; "" = the registry's address for `node`
  size_t arena_bytes = size_t{1} << 30;
  Millis alloc_wait{10000};       // longest backpressure wait for arena space
  Millis item_ttl{120000};        // uncollected items are reclaimed after this
  Millis reap_interval{500};
  size_t wire_chunk_bytes = 4 << 20;
  Millis connect_timeout{2000};
  std::string metrics_address;    // host:port for GET /metrics (Prometheus text); "" = none
};

struct SidecarCounters {
  std::atomic<uint64_t> puts{0}, puts_failed{0}, transfers_sent{0}, transfers_failed{0};
  std::atomic<uint64_t> transfers_received{0}, transfers_refused{0}, alloc_failures{0}, bytes_received{0};
};

class SidecarServer {
 public:
  static Result<std::unique_ptr<SidecarServer>> start(SidecarOptions options);
  ~SidecarServer();

  void stop();  // idempotent
  const std::string& peer_address() const { return peer_address_; }
  const std::string& arena_name() const { return arena_->name(); }
  // Counters and arena use as a JSON object (what kStats answers).
  std::string stats_json() const;
  // The same as Prometheus text exposition (GET /metrics).
  std::string metrics_text() const;
  const std::string& metrics_address() const { return metrics_address_; }

 private:
  explicit SidecarServer(SidecarOptions options);
  struct ControlClient;
  enum class ListenerKind { kControl, kPeer, kMetrics };
  void accept_loop(Listener& listener, ListenerKind kind);
  void serve_control(std::shared_ptr<Connection> conn, uint64_t conn_id);
  void serve_peer(std::shared_ptr<Connection> conn);
  void serve_metrics(Connection& conn);
  void reap_loop();
  Message handle(ControlClient& client, const Message& m);
  Message handle_put(ControlClient& client, const Message& m);
  Message handle_recv(ControlClient& client, const Message& m);
  void spawn(std::shared_ptr<Connection> conn, std::function<void()> fn);
  void join_finished();

  SidecarOptions options_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<Arena> arena_;
  std::unique_ptr<ItemStore> store_;
  std::map<std::string, std::unique_ptr<PeerLink>> links_;
  std::unique_ptr<Listener> control_listener_;
  std::unique_ptr<Listener> peer_listener_;
  std::unique_ptr<Listener> metrics_listener_;
  std::string peer_address_;
  std::string metrics_address_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> next_conn_id_{1};
  SidecarCounters counters_;

  struct Worker {
    std::shared_ptr<Connection> conn;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  std::mutex workers_mu_;
  std::list<Worker> workers_;
  std::thread control_accept_, peer_accept_, metrics_accept_, reaper_;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace eric::sidecar
