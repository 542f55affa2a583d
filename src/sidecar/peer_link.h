// The sending side of one sidecar-to-sidecar link.
//
// A PeerLink owns the connection to one remote sidecar and sends the
// transfers queued for it, one after the other: kXferBegin (the tensor's
// description and the remote node's receiver groups), then the bytes in
// kXferData chunks of `wire_chunk_bytes` straight from the arena. The remote
// sidecar answers each transfer with kXferAck once the whole tensor sits in
// its arena and is visible to its consumers (or with the error that stopped
// it). A separate thread reads the acks, so sending the next tensor overlaps
// waiting for the previous one's ack.
//
// Failures are per transfer and name the peer: unreachable (connect failed),
// connection lost mid-transfer, not acknowledged before the transfer's
// deadline. The link reconnects for the next transfer after a failure.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "sidecar/item_store.h"
#include "sidecar/registry.h"
#include "sidecar/transport.h"

namespace eric::sidecar {

struct Transfer {
  ItemDesc desc;
  RegionRef region;        // keeps the source bytes alive until acknowledged
  const char* data = nullptr;
  std::vector<std::vector<int32_t>> groups;  // the remote node's share
  std::chrono::steady_clock::time_point deadline;

  // Completes the transfer once (later calls are ignored) and wakes wait().
  // The source range is released as soon as no sender reads it any more, so
  // a finished transfer never holds arena space.
  void finish(Status status);
  // The outcome, or DeadlineExceeded at `deadline`. An outcome is returned
  // only once the range is released (a caller may count on the space).
  Status wait();
  bool finished() const;
  // The sender brackets its reads of `data` with these; begin_sending() is
  // false when the transfer finished already (nothing to send).
  bool begin_sending();
  void end_sending();

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool sending_ = false;
  Status status_;
};

struct PeerLinkOptions {
  std::string self_name;
  size_t wire_chunk_bytes = 4 << 20;
  Millis connect_timeout{2000};
};

class PeerLink {
 public:
  PeerLink(SidecarEntry peer, PeerLinkOptions options, Transport& transport);
  ~PeerLink();

  void submit(std::shared_ptr<Transfer> transfer);
  // Fails what is queued or awaiting an ack, closes the connection, joins.
  void stop();
  const SidecarEntry& peer() const { return peer_; }
  uint64_t bytes_sent() const;

 private:
  void send_loop();
  void ack_loop(std::shared_ptr<Connection> conn);
  Status ensure_connected(const Transfer& t);
  Status send_transfer(Connection& conn, uint64_t seq, const Transfer& t);
  void fail_awaiting(const Status& why);
  std::string who() const;

  SidecarEntry peer_;
  PeerLinkOptions options_;
  Transport& transport_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Transfer>> queue_;
  std::map<uint64_t, std::shared_ptr<Transfer>> awaiting_;
  std::shared_ptr<Connection> conn_;
  bool conn_broken_ = false;
  bool stopping_ = false;
  uint64_t next_seq_ = 1;
  uint64_t bytes_sent_ = 0;
  std::thread sender_;
  std::thread acks_;
};

}  // namespace eric::sidecar
