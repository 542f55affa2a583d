#include "sidecar/peer_link.h"

#include <spdlog/spdlog.h>

namespace eric::sidecar {

using Clock = std::chrono::steady_clock;

namespace {
Millis left_until(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<Millis>(deadline - Clock::now());
  return std::max(ms, Millis(1));
}
}  // namespace

void Transfer::finish(Status status) {
  RegionRef drop;  // freed outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    done_ = true;
    status_ = std::move(status);
    if (!sending_) drop = std::move(region);
  }
  drop.reset();  // release first, then wake: a waiter that sees the outcome sees the space
  cv_.notify_all();
}

Status Transfer::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_until(lock, deadline, [&] { return done_ && !sending_; })) {
    return DeadlineExceeded("item '{}' chunk {} was not acknowledged in time", desc.id, desc.chunk);
  }
  return status_;
}

bool Transfer::begin_sending() {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_) return false;
  sending_ = true;
  return true;
}

void Transfer::end_sending() {
  RegionRef drop;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sending_ = false;
    if (done_) drop = std::move(region);
  }
  // Release first, then wake: a waiter that sees the outcome sees the space.
  drop.reset();
  cv_.notify_all();
}

bool Transfer::finished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

PeerLink::PeerLink(SidecarEntry peer, PeerLinkOptions options, Transport& transport)
    : peer_(std::move(peer)), options_(std::move(options)), transport_(transport) {
  sender_ = std::thread([this] { send_loop(); });
}

PeerLink::~PeerLink() { stop(); }

std::string PeerLink::who() const { return fmt::format("sidecar '{}' ({})", peer_.name, peer_.address); }

uint64_t PeerLink::bytes_sent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_sent_;
}

void PeerLink::submit(std::shared_ptr<Transfer> transfer) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      transfer->finish(Unavailable("item '{}': the sidecar is shutting down", transfer->desc.id));
      return;
    }
    queue_.push_back(std::move(transfer));
  }
  cv_.notify_all();
}

void PeerLink::stop() {
  std::deque<std::shared_ptr<Transfer>> queued;
  std::shared_ptr<Connection> conn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !sender_.joinable()) return;
    stopping_ = true;
    queued.swap(queue_);
    conn = conn_;
  }
  cv_.notify_all();
  for (auto& t : queued) t->finish(Unavailable("item '{}': the sidecar is shutting down", t->desc.id));
  if (conn) conn->shutdown();
  if (sender_.joinable()) sender_.join();
  if (acks_.joinable()) acks_.join();
  fail_awaiting(Unavailable("the sidecar is shutting down"));
}

void PeerLink::fail_awaiting(const Status& why) {
  std::map<uint64_t, std::shared_ptr<Transfer>> failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    failed.swap(awaiting_);
  }
  for (auto& [seq, t] : failed) {
    t->finish(Status(why.code(), fmt::format("item '{}' chunk {} not delivered to {}: {}", t->desc.id, t->desc.chunk,
                                             who(), why.message())));
  }
}

Status PeerLink::ensure_connected(const Transfer& t) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (conn_ && !conn_broken_) return Status::Ok();
  }
  if (acks_.joinable()) acks_.join();  // the old connection's reader has exited (broken)
  auto conn = transport_.connect(peer_.address, std::min(options_.connect_timeout, left_until(t.deadline)));
  if (!conn.ok()) return Unavailable("{} is unreachable: {}", who(), conn.status().message());
  std::shared_ptr<Connection> c = std::move(conn).value();
  Message hello;
  hello.type = MsgType::kPeerHello;
  hello.text = options_.self_name;
  ERIC_RETURN_IF_ERROR(c->send(hello, options_.connect_timeout));
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn_ = c;
    conn_broken_ = false;
  }
  acks_ = std::thread([this, c] { ack_loop(c); });
  spdlog::info("sidecar: connected to {}", who());
  return Status::Ok();
}

Status PeerLink::send_transfer(Connection& conn, uint64_t seq, const Transfer& t) {
  Message begin;
  begin.type = MsgType::kXferBegin;
  begin.seq = seq;
  begin.id = t.desc.id;
  begin.chunk = t.desc.chunk;
  begin.dtype = t.desc.dtype;
  begin.shape = t.desc.shape;
  begin.bytes = t.desc.bytes;
  begin.groups = t.groups;
  begin.timeout_ms = static_cast<uint32_t>(left_until(t.deadline).count());
  ERIC_RETURN_IF_ERROR(conn.send(begin, left_until(t.deadline)));
  for (uint64_t off = 0; off < t.desc.bytes; off += options_.wire_chunk_bytes) {
    Message data;
    data.type = MsgType::kXferData;
    data.seq = seq;
    data.offset = off;
    data.payload_len = std::min<uint64_t>(options_.wire_chunk_bytes, t.desc.bytes - off);
    ERIC_RETURN_IF_ERROR(conn.send(data, left_until(t.deadline), t.data + off));
    std::lock_guard<std::mutex> lock(mu_);
    bytes_sent_ += data.payload_len;
  }
  return Status::Ok();
}

void PeerLink::send_loop() {
  while (true) {
    std::shared_ptr<Transfer> t;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      t = std::move(queue_.front());
      queue_.pop_front();
    }
    if (t->finished()) continue;  // the producer gave up already
    if (Clock::now() >= t->deadline) {
      t->finish(DeadlineExceeded("item '{}' chunk {}: no time left to send it to {}", t->desc.id, t->desc.chunk, who()));
      continue;
    }
    Status st = ensure_connected(*t);
    if (!st.ok()) {
      spdlog::warn("sidecar: {}", st.message());
      t->finish(Status(st.code(), fmt::format("item '{}' chunk {}: {}", t->desc.id, t->desc.chunk, st.message())));
      continue;
    }
    std::shared_ptr<Connection> conn;
    uint64_t seq;
    {
      std::lock_guard<std::mutex> lock(mu_);
      conn = conn_;
      seq = next_seq_++;
      awaiting_[seq] = t;
    }
    if (!t->begin_sending()) {  // the producer gave up while it was queued
      std::lock_guard<std::mutex> lock(mu_);
      awaiting_.erase(seq);
      continue;
    }
    st = send_transfer(*conn, seq, *t);
    t->end_sending();
    if (!st.ok()) {
      // The stream is out of step now: drop the connection; its ack reader
      // fails everything still awaiting an ack.
      spdlog::warn("sidecar: sending item '{}' to {} failed: {}", t->desc.id, who(), st.message());
      {
        std::lock_guard<std::mutex> lock(mu_);
        conn_broken_ = true;
      }
      conn->shutdown();
      t->finish(Status(st.code(), fmt::format("item '{}' chunk {} not delivered to {}: {}", t->desc.id, t->desc.chunk,
                                              who(), st.message())));
    }
  }
}

void PeerLink::ack_loop(std::shared_ptr<Connection> conn) {
  while (true) {
    if (!conn->readable(Millis(200))) {
      // Idle: expire transfers whose producer has given up waiting, so their
      // arena ranges are freed even if the peer never answers.
      std::vector<std::shared_ptr<Transfer>> expired;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) break;
        for (auto it = awaiting_.begin(); it != awaiting_.end();) {
          if (Clock::now() >= it->second->deadline) {
            expired.push_back(it->second);
            it = awaiting_.erase(it);
          } else {
            ++it;
          }
        }
      }
      for (auto& t : expired) {
        t->finish(DeadlineExceeded("item '{}' chunk {} was not acknowledged by {} in time", t->desc.id, t->desc.chunk,
                                   who()));
      }
      continue;
    }
    auto m = conn->receive(Millis(1000), Millis(10000));
    if (!m.ok()) {
      bool stopping;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (conn_ == conn) conn_broken_ = true;
        stopping = stopping_;
      }
      if (!stopping) spdlog::warn("sidecar: link to {} lost: {}", who(), m.status().message());
      conn->shutdown();
      fail_awaiting(Unavailable("the connection was lost mid-transfer ({})", m.status().message()));
      return;
    }
    if (m->type != MsgType::kXferAck) continue;
    std::shared_ptr<Transfer> t;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = awaiting_.find(m->seq);
      if (it == awaiting_.end()) continue;  // answered already (expired)
      t = std::move(it->second);
      awaiting_.erase(it);
    }
    Status st = status_of(*m);
    t->finish(st.ok() ? st : Status(st.code(), fmt::format("{} refused item '{}' chunk {}: {}", who(), t->desc.id,
                                                           t->desc.chunk, st.message())));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (conn_ == conn) conn_broken_ = true;
}

}  // namespace eric::sidecar
