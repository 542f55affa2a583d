// A connection to the local sidecar's control socket, for producers (eric
// workers) and consumers (libericsidecar, hence LLM-server ranks).
//
// Producers map the arena read-write, allocate a range, write the tensor
// there once and put() it with its receiver groups; put() returns when every
// group's sidecar has acknowledged it. Consumers map the arena read-only and
// get views into it from recv(); a view stays valid until done().
//
// One request at a time per client (calls are serialized by a mutex); open
// several clients for concurrency.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "sidecar/transport.h"

namespace eric::sidecar {

struct ItemView {
  std::string id;
  uint32_t chunk = 0;
  std::string dtype;            // safetensors spelling: "F32", "BF16", ...
  std::vector<int64_t> shape;
  const void* data = nullptr;   // inside the read-only arena mapping
  uint64_t bytes = 0;
};

class SidecarClient {
 public:
  // rank < 0: a producer (maps the arena read-write); rank >= 0: a consumer
  // of that LLM rank (read-only mapping; the sidecar checks it serves the rank).
  static Result<std::unique_ptr<SidecarClient>> connect(const std::string& socket_path, int32_t rank,
                                                        Millis connect_timeout = Millis(5000));
  ~SidecarClient();

  // ---- producer
  Result<uint64_t> alloc(const std::string& id, uint32_t chunk, uint64_t bytes, Millis timeout);
  char* arena_data() const { return static_cast<char*>(base_); }
  Status put(const std::string& id, uint32_t chunk, const std::string& dtype, const std::vector<int64_t>& shape,
             uint64_t offset, uint64_t bytes, const std::vector<std::vector<int32_t>>& groups, Millis timeout);
  Status free(uint64_t offset);
  // alloc + one copy into the arena + put.
  Status send(const std::string& id, uint32_t chunk, const std::string& dtype, const std::vector<int64_t>& shape,
              const void* data, uint64_t bytes, const std::vector<std::vector<int32_t>>& groups, Millis timeout);

  // ---- consumer
  Result<ItemView> recv(const std::string& id, uint32_t chunk, Millis timeout);
  Status done(const std::string& id, uint32_t chunk);

  // The sidecar's counters as JSON.
  Result<std::string> stats();

  // True once a request failed on the connection itself (the sidecar went
  // away or answered out of step): the client is unusable, reconnect.
  bool connection_lost() const { return lost_; }
  const std::string& arena_name() const { return arena_name_; }
  size_t arena_size() const { return size_; }

 private:
  SidecarClient() = default;
  Result<Message> call(Message m, Millis answer_timeout);

  std::mutex mu_;
  std::unique_ptr<Connection> conn_;
  uint64_t next_seq_ = 1;
  int32_t rank_ = -1;
  bool lost_ = false;
  std::string arena_name_;
  void* base_ = nullptr;
  size_t size_ = 0;
};

}  // namespace eric::sidecar
