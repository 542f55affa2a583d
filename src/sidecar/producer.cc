#include "sidecar/producer.h"

#include <charconv>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

namespace eric::sidecar {

namespace {
constexpr Millis kDefaultTimeout{30000};

// Fails one item only: the engine then fails just the request that owns it
// and completes its batch-mates (a receiver that is unknown, unreachable or
// too slow is that request's error, not the whole batch's).
void fail_item(engine::ItemResult& item, const Status& st) {
  item.error_code = st.code() == ErrorCode::kOk ? ErrorCode::kInternal : st.code();
  item.error_message = st.message();
  item.embedding = Tensor();  // nothing to send back for a failed item
}
}  // namespace

std::unique_ptr<EmbeddingSender> EmbeddingSender::from_environment() {
  const char* path = std::getenv(kSidecarSocketEnv);
  if (path == nullptr || *path == '\0') return nullptr;
  Millis timeout = kDefaultTimeout;
  if (const char* t = std::getenv(kSidecarTimeoutEnv)) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(t, t + std::strlen(t), v);
    if (ec == std::errc() && *p == '\0' && v > 0) timeout = Millis(v);
    else spdlog::warn("ignoring {}='{}' (not a positive integer); using {} ms", kSidecarTimeoutEnv, t, timeout.count());
  }
  return std::make_unique<EmbeddingSender>(path, timeout);
}

Status EmbeddingSender::deliver(const std::string& item_id, const Tensor& embedding,
                                const std::vector<std::vector<int32_t>>& groups) {
  if (!embedding.defined()) return Internal("item '{}' has no embedding to deliver", item_id);
  ERIC_ASSIGN_OR_RETURN(Tensor t, embedding.contiguous());
  // One reconnect: the sidecar may have restarted since the last batch.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!client_) {
      auto c = SidecarClient::connect(socket_path_, -1, Millis(2000));
      if (!c.ok()) return c.status();
      client_ = std::move(c).value();
    }
    std::vector<int64_t> shape(t.shape().dims().begin(), t.shape().dims().end());
    Status st = client_->send(item_id, 0, std::string(dtype_safetensors_name(t.dtype())), shape, t.raw_data(),
                              t.nbytes(), groups, timeout_);
    // A lost control connection means the sidecar went away (maybe
    // restarted): reconnect once. Anything else is the item's own outcome.
    if (!st.ok() && client_->connection_lost()) {
      client_.reset();
      if (attempt == 0) continue;
    }
    return st;
  }
  return Unavailable("unreachable");  // not reached
}

void EmbeddingSender::deliver_batch(const engine::EncodeRequest& request, engine::EncodeResponse& response) {
  if (response.code != ErrorCode::kOk) return;
  for (size_t i = 0; i < request.items.size() && i < response.items.size(); ++i) {
    const auto& item = request.items[i];
    if (item.receiver_sidecar_ranks.empty()) continue;
    Status st = deliver(item.item_id, response.items[i].embedding, item.receiver_sidecar_ranks);
    if (st.ok()) continue;
    // A full arena is a temporary condition of the server (503), not a too-large request.
    ErrorCode code = st.code() == ErrorCode::kResourceExhausted ? ErrorCode::kUnavailable : st.code();
    Status err(code, fmt::format("item '{}': sidecar delivery failed: {}", item.item_id, st.message()));
    spdlog::warn("{}", err.message());
    fail_item(response.items[i], err);
  }
}

void reject_undeliverable(const engine::EncodeRequest& request, engine::EncodeResponse& response) {
  if (response.code != ErrorCode::kOk) return;
  for (size_t i = 0; i < request.items.size() && i < response.items.size(); ++i) {
    const auto& item = request.items[i];
    if (item.receiver_sidecar_ranks.empty()) continue;
    fail_item(response.items[i], InvalidArgument("item '{}' names receiver_sidecar_ranks, but this server was started "
                                                 "without a sidecar (eric serve --sidecar <socket>)",
                                                 item.item_id));
  }
}

}  // namespace eric::sidecar
