#include "sidecar/server.h"

#include <unistd.h>

#include <set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "distributed/shm_segment.h"

namespace eric::sidecar {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr Millis kDefaultPutTimeout{30000};
constexpr Millis kBodyTimeout{30000};  // once a message started, the rest must follow within this

std::vector<int32_t> union_of(const std::vector<std::vector<int32_t>>& groups) {
  std::set<int32_t> s;
  for (const auto& g : groups) s.insert(g.begin(), g.end());
  return {s.begin(), s.end()};
}

ItemDesc desc_of(const Message& m) { return ItemDesc{m.id, m.chunk, m.dtype, m.shape, m.bytes}; }

}  // namespace

struct SidecarServer::ControlClient {
  uint64_t id = 0;
  int32_t rank = -1;  // consumer's rank; -1 for producers
  bool greeted = false;
  std::map<uint64_t, RegionRef> allocated;  // arena ranges allocated but not yet put
};

SidecarServer::SidecarServer(SidecarOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<SidecarServer>> SidecarServer::start(SidecarOptions options) {
  const SidecarEntry* self = options.registry.find(options.node);
  if (self == nullptr) return InvalidArgument("sidecar node '{}' is not in the rank registry", options.node);
  if (options.control_socket.empty()) return InvalidArgument("the sidecar needs a control socket path");
  if (options.wire_chunk_bytes == 0 || options.wire_chunk_bytes > kMaxPayloadBytes) {
    return InvalidArgument("wire chunk of {} bytes is outside (0, {}]", options.wire_chunk_bytes, kMaxPayloadBytes);
  }
  if (options.listen_address.empty()) options.listen_address = self->address;
  const int removed = distributed::cleanup_stale_shm_segments();
  if (removed > 0) spdlog::info("sidecar: removed {} stale shared-memory segment(s)", removed);

  auto s = std::unique_ptr<SidecarServer>(new SidecarServer(std::move(options)));
  const SidecarOptions& o = s->options_;
  s->transport_ = make_tcp_transport();
  ERIC_ASSIGN_OR_RETURN(s->arena_, Arena::create(o.arena_bytes));
  s->store_ = std::make_unique<ItemStore>(o.item_ttl);
  ERIC_ASSIGN_OR_RETURN(s->peer_listener_, s->transport_->listen(o.listen_address));
  s->peer_address_ = s->peer_listener_->address();
  ERIC_ASSIGN_OR_RETURN(s->control_listener_, listen_unix(o.control_socket));
  PeerLinkOptions lo{o.node, o.wire_chunk_bytes, o.connect_timeout};
  for (const auto& e : o.registry.entries()) {
    if (e.name != o.node) s->links_[e.name] = std::make_unique<PeerLink>(e, lo, *s->transport_);
  }
  SidecarServer* p = s.get();
  if (!o.metrics_address.empty()) {
    ERIC_ASSIGN_OR_RETURN(s->metrics_listener_, s->transport_->listen(o.metrics_address));
    s->metrics_address_ = s->metrics_listener_->address();
    p->metrics_accept_ = std::thread([p] { p->accept_loop(*p->metrics_listener_, ListenerKind::kMetrics); });
  }
  p->control_accept_ = std::thread([p] { p->accept_loop(*p->control_listener_, ListenerKind::kControl); });
  p->peer_accept_ = std::thread([p] { p->accept_loop(*p->peer_listener_, ListenerKind::kPeer); });
  p->reaper_ = std::thread([p] { p->reap_loop(); });
  spdlog::info("sidecar '{}': arena {} ({} MiB), control socket {}, {} listening on {}, {} peer(s)", o.node,
               p->arena_->name(), o.arena_bytes >> 20, o.control_socket, p->transport_->name(), p->peer_address_,
               p->links_.size());
  return s;
}

SidecarServer::~SidecarServer() { stop(); }

void SidecarServer::stop() {
  std::lock_guard<std::mutex> guard(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  for (auto* t : {&control_accept_, &peer_accept_, &metrics_accept_, &reaper_}) {
    if (t->joinable()) t->join();
  }
  if (store_) store_->close();
  if (arena_) arena_->allocator().close();
  for (auto& [name, link] : links_) link->stop();
  std::list<Worker> workers;
  {
    std::lock_guard<std::mutex> lock(workers_mu_);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.conn->shutdown();
  for (auto& w : workers) w.thread.join();
  control_listener_.reset();
  if (!options_.control_socket.empty()) unlink(options_.control_socket.c_str());
  // No client can attach any more; the mapping itself goes with arena_.
  if (arena_) arena_->unlink();
  spdlog::info("sidecar '{}' stopped", options_.node);
}

void SidecarServer::spawn(std::shared_ptr<Connection> conn, std::function<void()> fn) {
  auto finished = std::make_shared<std::atomic<bool>>(false);
  std::lock_guard<std::mutex> lock(workers_mu_);
  workers_.push_back(Worker{conn, std::thread([fn = std::move(fn), finished] {
                              fn();
                              finished->store(true);
                            }),
                            finished});
}

void SidecarServer::join_finished() {
  std::list<Worker> done;
  {
    std::lock_guard<std::mutex> lock(workers_mu_);
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->finished->load()) {
        auto next = std::next(it);
        done.splice(done.end(), workers_, it);
        it = next;
      } else {
        ++it;
      }
    }
  }
  for (auto& w : done) w.thread.join();
}

void SidecarServer::accept_loop(Listener& listener, ListenerKind kind) {
  while (!stopping_) {
    auto conn = listener.accept(200ms);
    if (!conn.ok()) {
      spdlog::error("sidecar: {}", conn.status().message());
      std::this_thread::sleep_for(100ms);
      continue;
    }
    if (!*conn) continue;
    std::shared_ptr<Connection> c = std::move(conn).value();
    if (kind == ListenerKind::kMetrics) {
      serve_metrics(*c);  // one short answer; scrapes are rare
    } else if (kind == ListenerKind::kPeer) {
      spawn(c, [this, c] { serve_peer(c); });
    } else {
      const uint64_t id = next_conn_id_++;
      spawn(c, [this, c, id] { serve_control(c, id); });
    }
  }
}

void SidecarServer::reap_loop() {
  auto next = Clock::now() + options_.reap_interval;
  while (!stopping_) {
    std::this_thread::sleep_for(std::min<Millis>(options_.reap_interval, 50ms));
    if (Clock::now() < next) continue;
    next = Clock::now() + options_.reap_interval;
    store_->reclaim_expired();
    join_finished();
  }
}

// ---- control clients ---------------------------------------------------------

void SidecarServer::serve_control(std::shared_ptr<Connection> conn, uint64_t conn_id) {
  ControlClient client;
  client.id = conn_id;
  while (!stopping_) {
    if (!conn->readable(500ms)) continue;
    auto m = conn->receive(1000ms, kBodyTimeout);
    if (!m.ok()) {
      if (m.status().code() != ErrorCode::kUnavailable) {
        spdlog::warn("sidecar: dropping control client {}: {}", conn_id, m.status().message());
      }
      break;
    }
    Message answer = handle(client, *m);
    answer.seq = m->seq;
    Status st = conn->send(answer, kBodyTimeout);
    if (!st.ok()) break;
  }
  // A consumer that went away mid-read gives its views back.
  store_->release_holder(conn_id);
}

Message SidecarServer::handle(ControlClient& client, const Message& m) {
  if (!client.greeted && m.type != MsgType::kHello) {
    return error_message(m.seq, InvalidArgument("the first control message must be hello, got {}", msg_type_name(m.type)));
  }
  switch (m.type) {
    case MsgType::kHello: {
      if (m.rank >= 0) {
        const SidecarEntry* e = options_.registry.serving(m.rank);
        if (e == nullptr) return error_message(m.seq, NotFound("rank {} is not in the sidecar registry", m.rank));
        if (e->name != options_.node) {
          return error_message(m.seq, InvalidArgument("rank {} is served by sidecar '{}', not by '{}'", m.rank,
                                                      e->name, options_.node));
        }
      }
      client.greeted = true;
      client.rank = m.rank;
      Message ok;
      ok.type = MsgType::kHelloOk;
      ok.text = arena_->name();
      ok.bytes = arena_->size();
      return ok;
    }
    case MsgType::kAlloc: {
      Millis wait = m.timeout_ms > 0 ? std::min(Millis(m.timeout_ms), options_.alloc_wait) : options_.alloc_wait;
      auto off = arena_->allocator().allocate(std::max<uint64_t>(m.bytes, 1), wait,
                                              fmt::format("item '{}' chunk {}", m.id, m.chunk));
      if (!off.ok()) {
        ++counters_.alloc_failures;
        return error_message(m.seq, off.status());
      }
      client.allocated[*off] = make_region(arena_->allocator(), *off, m.bytes);
      Message ok;
      ok.type = MsgType::kAllocOk;
      ok.offset = *off;
      ok.bytes = m.bytes;
      return ok;
    }
    case MsgType::kFree:
      if (client.allocated.erase(m.offset) == 0) {
        return error_message(m.seq, NotFound("arena offset {} is not allocated to this client", m.offset));
      }
      return ok_message(m.seq);
    case MsgType::kPut:
      return handle_put(client, m);
    case MsgType::kRecv:
      return handle_recv(client, m);
    case MsgType::kDone: {
      if (client.rank < 0) return error_message(m.seq, InvalidArgument("done() needs a consumer rank (hello with rank >= 0)"));
      Status st = store_->done(m.id, m.chunk, client.rank);
      return st.ok() ? ok_message(m.seq) : error_message(m.seq, st);
    }
    case MsgType::kStats: {
      Message r;
      r.type = MsgType::kStatsReply;
      r.text = stats_json();
      return r;
    }
    default:
      return error_message(m.seq, InvalidArgument("'{}' is not a control request", msg_type_name(m.type)));
  }
}

Message SidecarServer::handle_put(ControlClient& client, const Message& m) {
  ++counters_.puts;
  auto fail = [&](const Status& st) {
    ++counters_.puts_failed;
    return error_message(m.seq, st);
  };
  // The allocation is used up by this put whatever happens: on failure its
  // range is freed with `region`.
  auto it = client.allocated.find(m.offset);
  if (it == client.allocated.end()) {
    return fail(InvalidArgument("item '{}': arena offset {} was not allocated by this client", m.id, m.offset));
  }
  RegionRef region = std::move(it->second);
  client.allocated.erase(it);
  if (region->bytes < m.bytes) {
    return fail(InvalidArgument("item '{}': {} bytes do not fit the {} allocated at offset {}", m.id, m.bytes,
                                region->bytes, m.offset));
  }
  Status valid = validate_tensor(m);
  if (!valid.ok()) return fail(valid);
  if (m.groups.empty()) return fail(InvalidArgument("item '{}': no receiver groups", m.id));
  auto routes = options_.registry.route(m.groups);
  if (!routes.ok()) return fail(routes.status().with_context(fmt::format("item '{}'", m.id)));

  const auto deadline = Clock::now() + (m.timeout_ms > 0 ? Millis(m.timeout_ms) : kDefaultPutTimeout);
  const ItemDesc desc = desc_of(m);
  bool published_here = false;
  std::vector<std::shared_ptr<Transfer>> transfers;
  for (const Route& r : *routes) {
    if (r.node == options_.node) {
      // Same node: the producer's bytes are the consumers' bytes (no copy).
      Status st = store_->publish(desc, region, union_of(r.groups));
      if (!st.ok()) return fail(st);
      published_here = true;
      continue;
    }
    auto t = std::make_shared<Transfer>();
    t->desc = desc;
    t->region = region;
    t->data = arena_->data() + region->offset;
    t->groups = r.groups;
    t->deadline = deadline;
    links_.at(r.node)->submit(t);
    transfers.push_back(std::move(t));
  }
  region.reset();
  std::vector<std::string> errors;
  ErrorCode code = ErrorCode::kOk;
  for (auto& t : transfers) {
    Status st = t->wait();
    if (st.ok()) {
      ++counters_.transfers_sent;
      continue;
    }
    ++counters_.transfers_failed;
    t->finish(st);  // a link still holding it skips or drops it
    if (st.code() == ErrorCode::kDeadlineExceeded) {
      st = DeadlineExceeded("item '{}' chunk {} was not acknowledged by sidecar '{}' within {} ms", m.id, m.chunk,
                            options_.registry.serving(t->groups[0][0])->name,
                            m.timeout_ms > 0 ? m.timeout_ms : kDefaultPutTimeout.count());
    }
    if (code == ErrorCode::kOk) code = st.code();
    errors.push_back(st.message());
  }
  if (!errors.empty()) {
    // Not delivered everywhere: take the local copy back if nobody read it,
    // so a retry with the same id is not refused as a duplicate.
    if (published_here) store_->retract(m.id, m.chunk);
    std::string joined;
    for (const auto& e : errors) joined += (joined.empty() ? "" : "; ") + e;
    return fail(Status(code, joined));
  }
  return ok_message(m.seq);
}

Message SidecarServer::handle_recv(ControlClient& client, const Message& m) {
  if (client.rank < 0) return error_message(m.seq, InvalidArgument("recv() needs a consumer rank (hello with rank >= 0)"));
  Millis timeout = m.timeout_ms > 0 ? Millis(m.timeout_ms) : Millis(0);
  auto got = store_->recv(m.id, m.chunk, client.rank, client.id, timeout);
  if (!got.ok()) return error_message(m.seq, got.status());
  Message r;
  r.type = MsgType::kItem;
  r.id = got->desc.id;
  r.chunk = got->desc.chunk;
  r.dtype = got->desc.dtype;
  r.shape = got->desc.shape;
  r.bytes = got->desc.bytes;
  r.offset = got->offset;
  return r;
}

// ---- incoming peer links --------------------------------------------------------

void SidecarServer::serve_peer(std::shared_ptr<Connection> conn) {
  if (!conn->readable(5000ms)) return;
  auto hello = conn->receive(1000ms, 5000ms);
  if (!hello.ok() || hello->type != MsgType::kPeerHello) {
    spdlog::warn("sidecar: dropping peer connection from {}: no peer hello ({})", conn->peer(),
                 hello.ok() ? std::string(msg_type_name(hello->type)) : hello.status().message());
    return;
  }
  const std::string from = hello->text;
  if (options_.registry.find(from) == nullptr || from == options_.node) {
    spdlog::warn("sidecar: dropping peer connection from {}: '{}' is not another sidecar of the registry",
                 conn->peer(), from);
    return;
  }
  spdlog::info("sidecar: peer '{}' connected from {}", from, conn->peer());

  struct Incoming {
    bool active = false;
    uint64_t seq = 0;
    ItemDesc desc;
    std::vector<std::vector<int32_t>> groups;
    RegionRef region;
    Status error;
    uint64_t received = 0;
  } cur;

  auto finish = [&]() -> Status {
    Status st = cur.error;
    if (st.ok()) st = store_->publish(cur.desc, cur.region, union_of(cur.groups));
    if (st.ok()) {
      ++counters_.transfers_received;
      counters_.bytes_received += cur.desc.bytes;
    } else {
      ++counters_.transfers_refused;
      spdlog::warn("sidecar: refused a transfer from '{}': {}", from, st.message());
    }
    Message ack;
    ack.type = MsgType::kXferAck;
    ack.seq = cur.seq;
    ack.code = static_cast<uint32_t>(st.code());
    ack.text = st.message();
    cur = Incoming{};
    return conn->send(ack, kBodyTimeout);
  };

  while (!stopping_) {
    if (!conn->readable(500ms)) continue;
    auto m = conn->receive(1000ms, kBodyTimeout);
    if (!m.ok()) {
      if (cur.active) {
        spdlog::warn("sidecar: transfer of item '{}' from '{}' aborted after {} of {} bytes: {}", cur.desc.id, from,
                     cur.received, cur.desc.bytes, m.status().message());
      } else if (m.status().code() != ErrorCode::kUnavailable) {
        spdlog::warn("sidecar: link from '{}' failed: {}", from, m.status().message());
      }
      break;  // `cur.region` goes with `cur`: the partial tensor's range is freed
    }
    Status st;
    if (m->type == MsgType::kXferBegin) {
      if (cur.active) {
        spdlog::warn("sidecar: '{}' began a transfer inside another; dropping the link", from);
        break;
      }
      cur.active = true;
      cur.seq = m->seq;
      cur.desc = desc_of(*m);
      cur.groups = m->groups;
      cur.error = validate_tensor(*m);
      for (const auto& g : m->groups) {
        for (int32_t r : g) {
          const SidecarEntry* e = options_.registry.serving(r);
          if (cur.error.ok() && (e == nullptr || e->name != options_.node)) {
            cur.error = NotFound("item '{}': rank {} is not served by sidecar '{}'", m->id, r, options_.node);
          }
        }
      }
      if (cur.error.ok() && m->groups.empty()) cur.error = InvalidArgument("no receiver groups");
      if (cur.error.ok()) {
        Millis wait = std::min(Millis(std::max<uint32_t>(m->timeout_ms, 1)), options_.alloc_wait);
        auto off = arena_->allocator().allocate(std::max<uint64_t>(m->bytes, 1), wait,
                                                fmt::format("item '{}' chunk {} from '{}'", m->id, m->chunk, from));
        if (off.ok()) {
          cur.region = make_region(arena_->allocator(), *off, m->bytes);
        } else {
          ++counters_.alloc_failures;
          cur.error = off.status();
        }
      }
      if (cur.desc.bytes == 0) st = finish();
    } else if (m->type == MsgType::kXferData) {
      if (!cur.active || m->seq != cur.seq || m->offset != cur.received ||
          m->payload_len > cur.desc.bytes - cur.received || m->payload_len == 0) {
        spdlog::warn("sidecar: '{}' sent an out-of-order chunk (transfer {}, offset {}); dropping the link", from,
                     m->seq, m->offset);
        break;
      }
      if (cur.error.ok()) {
        st = conn->read_exact(arena_->data() + cur.region->offset + cur.received, m->payload_len, kBodyTimeout);
      } else {
        st = conn->skip(m->payload_len, kBodyTimeout);  // refused already; keep the stream in step
      }
      if (st.ok()) {
        cur.received += m->payload_len;
        if (cur.received == cur.desc.bytes) st = finish();
      }
    } else {
      spdlog::warn("sidecar: unexpected '{}' from peer '{}'", msg_type_name(m->type), from);
      break;
    }
    if (!st.ok()) {
      spdlog::warn("sidecar: link from '{}' failed: {}", from, st.message());
      break;
    }
  }
}

// ---- metrics -------------------------------------------------------------------

void SidecarServer::serve_metrics(Connection& conn) {
  // A minimal HTTP/1.x responder: one request head (GET /metrics), one answer, close.
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
    auto n = conn.read_some(buf, sizeof(buf), 2000ms);
    if (!n.ok()) return;
    head.append(buf, *n);
  }
  const bool ok = head.rfind("GET /metrics ", 0) == 0 || head.rfind("GET /metrics?", 0) == 0;
  const std::string body = ok ? metrics_text() : "not found: GET /metrics\n";
  std::string answer = fmt::format(
      "HTTP/1.1 {}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      ok ? "200 OK" : "404 Not Found", body.size(), body);
  (void)conn.write_all({{answer.data(), answer.size()}}, 2000ms);
}

std::string SidecarServer::metrics_text() const {
  const nlohmann::json s = nlohmann::json::parse(stats_json());
  struct Metric {
    const char* key;
    const char* type;
    const char* help;
  };
  static const Metric kMetrics[] = {
      {"arena_bytes", "gauge", "Size of the shared-memory arena."},
      {"arena_used_bytes", "gauge", "Arena bytes allocated now."},
      {"items_held", "gauge", "Tensors held for local consumers now."},
      {"items_published", "counter", "Tensors made visible to local consumers."},
      {"items_collected", "counter", "Tensors every receiving rank marked done."},
      {"items_reclaimed", "counter", "Tensors dropped after --item-ttl without being collected."},
      {"puts", "counter", "Tensors handed over by local producers."},
      {"puts_failed", "counter", "Producer hand-overs that failed (the request got an error)."},
      {"transfers_sent", "counter", "Tensors acknowledged by another sidecar."},
      {"transfers_failed", "counter", "Tensors another sidecar did not acknowledge."},
      {"transfers_received", "counter", "Tensors received from other sidecars."},
      {"transfers_refused", "counter", "Tensors from other sidecars refused (arena full, bad receivers)."},
      {"alloc_failures", "counter", "Arena allocations that failed after the backpressure wait."},
      {"bytes_sent", "counter", "Tensor bytes sent to other sidecars."},
      {"bytes_received", "counter", "Tensor bytes received from other sidecars."},
  };
  std::string out;
  std::string node;  // a label value: escape as the exposition format requires
  for (char c : s["node"].get<std::string>()) {
    if (c == '\\' || c == '"') node += '\\';
    node += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  for (const Metric& m : kMetrics) {
    const std::string name =
        fmt::format("eric_sidecar_{}{}", m.key, std::string_view(m.type) == "counter" ? "_total" : "");
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}{{node=\"{}\"}} {}\n", name, m.help, name, m.type, name, node,
                       s[m.key].get<uint64_t>());
  }
  return out;
}

std::string SidecarServer::stats_json() const {
  StoreStats s = store_->stats();
  nlohmann::json j;
  j["node"] = options_.node;
  j["arena_bytes"] = arena_->size();
  j["arena_used_bytes"] = arena_->allocator().used();
  j["arena_allocations"] = arena_->allocator().allocations();
  j["items_held"] = s.items;
  j["items_published"] = s.published;
  j["items_collected"] = s.collected;
  j["items_reclaimed"] = s.reclaimed;
  j["puts"] = counters_.puts.load();
  j["puts_failed"] = counters_.puts_failed.load();
  j["transfers_sent"] = counters_.transfers_sent.load();
  j["transfers_failed"] = counters_.transfers_failed.load();
  j["transfers_received"] = counters_.transfers_received.load();
  j["transfers_refused"] = counters_.transfers_refused.load();
  j["alloc_failures"] = counters_.alloc_failures.load();
  j["bytes_received"] = counters_.bytes_received.load();
  uint64_t sent = 0;
  for (const auto& [name, link] : links_) sent += link->bytes_sent();
  j["bytes_sent"] = sent;
  return j.dump();
}

}  // namespace eric::sidecar
