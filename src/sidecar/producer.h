// The producer path of eric's workers: rank 0 hands each finished embedding
// whose item names receiver_sidecar_ranks to the node's sidecar, and an item
// succeeds only when every receiving group's sidecar acknowledged it (a failed
// item fails its own request, not its batch-mates).
//
// `eric serve --sidecar <control socket>` exports ERIC_SIDECAR_SOCKET (and
// ERIC_SIDECAR_TIMEOUT_MS) to its engine and workers, which inherit the
// environment; without it, an item with receivers fails with a clear error
// instead of being silently dropped.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "engine/protocol.h"
#include "sidecar/client.h"

namespace eric::sidecar {

inline constexpr const char* kSidecarSocketEnv = "ERIC_SIDECAR_SOCKET";
inline constexpr const char* kSidecarTimeoutEnv = "ERIC_SIDECAR_TIMEOUT_MS";

class EmbeddingSender {
 public:
  // Reads the environment; never fails (a bad value shows up at delivery).
  static std::unique_ptr<EmbeddingSender> from_environment();
  EmbeddingSender(std::string socket_path, Millis timeout) : socket_path_(std::move(socket_path)), timeout_(timeout) {}

  // Delivers one embedding as chunk 0 of `item_id`: one copy into the arena,
  // then put(). Connects lazily and reconnects after a broken connection.
  Status deliver(const std::string& item_id, const Tensor& embedding,
                 const std::vector<std::vector<int32_t>>& groups);

  // Delivers every item of `request` that names receivers, using the
  // embeddings of `response` (same order). An item whose delivery fails gets
  // its own error in `response` (naming the item); the other items, and the
  // batch, stay successful, so only the failed item's request fails.
  void deliver_batch(const engine::EncodeRequest& request, engine::EncodeResponse& response);

 private:
  std::string socket_path_;
  Millis timeout_;
  std::unique_ptr<SidecarClient> client_;
};

// For a worker started without a sidecar: fails each item of `response` that
// names receivers (nothing could deliver them); the others stay successful.
void reject_undeliverable(const engine::EncodeRequest& request, engine::EncodeResponse& response);

}  // namespace eric::sidecar
