// The router <-> engine protocol. One ZeroMQ multipart message per protocol
// message: frame 0 is a msgpack header, frames 1..n are the raw little-endian
// bytes of the message's tensors, in the order the header lists them (never
// pickled, never base64, never copied more than needed: encoding hands
// tensor storage to ZeroMQ zero-copy, decoding wraps the received frames).
//
// Sockets: the engine binds a ROUTER socket at ipc://<run_dir>/engine.sock;
// the router connects one DEALER socket. Every request carries a request_id
// chosen by the router; the engine answers each exactly once with the same id.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/status.h"
#include "tensor/safetensors.h"
#include "tensor/tensor.h"

namespace eric::engine {

// 2: EncodeResponse carries queue_us, encode_us and batch_sizes.
inline constexpr uint32_t kProtocolVersion = 2;

// One item to encode, preprocessed by the router.
struct EncodeItem {
  std::string item_id;    // the client's "id"
  std::string modality;   // "image", "video", "audio"
  std::string model_id;   // model (or adapter) the item targets; batches never mix them
  int64_t num_tokens = 0; // embedding rows it will produce (the scheduler's token budget)
  NamedTensors tensors;   // processor outputs, e.g. pixel_values, image_grid_thw
  // Cornserve's receiver_sidecar_ranks: groups of LLM-server ranks to deliver to
  // through the sidecar (empty: none).
  std::vector<std::vector<int32_t>> receiver_sidecar_ranks;
  bool return_embedding = false;  // send the embedding back to the router
};

struct EncodeRequest {
  uint64_t request_id = 0;
  std::vector<EncodeItem> items;
  // Wall-clock time (ms since the Unix epoch; the router and engine share the
  // machine's clock) after which nobody waits for the answer: the engine drops
  // the request's queued items and answers kDeadlineExceeded. 0: none.
  int64_t deadline_unix_ms = 0;
};

struct ItemResult {
  ItemResult() = default;
  ItemResult(std::string id, Tensor emb) : item_id(std::move(id)), embedding(std::move(emb)) {}

  std::string item_id;
  Tensor embedding;  // undefined unless return_embedding was set (and always when the item failed)
  // Set (not kOk) when this item alone failed while its batch ran, e.g. its
  // sidecar delivery: the engine fails only the request that owns it. Only
  // the workers' answers to the engine carry it; on the wire it is an
  // optional "error" map, present only when set.
  ErrorCode error_code = ErrorCode::kOk;
  std::string error_message;
  bool failed() const { return error_code != ErrorCode::kOk; }
};

struct EncodeResponse {
  uint64_t request_id = 0;
  ErrorCode code = ErrorCode::kOk;  // kOk, or why the request failed
  std::string error_message;
  std::vector<ItemResult> items;    // in request order, when code == kOk
  // Where the request's time in the engine went (for /metrics): encode_us is
  // the summed run time of the batches that carried its items, queue_us the
  // rest of its time in the engine (waiting before and between them).
  int64_t queue_us = 0;
  int64_t encode_us = 0;
  // Per item, in request order: the size of the batch it ran in. Empty, or
  // one entry per item (the workers' answers to the engine leave it empty).
  std::vector<int32_t> batch_sizes;
  // Worker to engine only: the worker set cannot run another batch (a lost
  // GPU context) and is stopping after this answer; the engine restarts it at
  // once rather than sending the next batch to a dying worker. Sent only when
  // true.
  bool restart_workers = false;
};

// Liveness and load, asked by the router for /health, /queue_length, /info.
struct StatusQuery {
  uint64_t request_id = 0;
};
struct StatusReply {
  uint64_t request_id = 0;
  bool ready = false;          // model loaded and every worker alive
  int32_t workers_alive = 0;
  int32_t workers_total = 0;
  int64_t queue_length = 0;    // items waiting, not yet in a batch
  std::string detail;          // why not ready, when not
};

// Asks the engine to finish in-flight work and exit. The engine stops taking
// new requests (they get kUnavailable), answers everything pending, then
// acknowledges with a StatusReply (same request_id, ready = false) just
// before it exits.
struct Shutdown {
  uint64_t request_id = 0;
};

using Message = std::variant<EncodeRequest, EncodeResponse, StatusQuery, StatusReply, Shutdown>;

// A message as ZeroMQ frames: header + tensor payloads. Payload frames keep
// their tensors alive (zero-copy send); on receive they own the bytes.
struct Frames {
  std::string header;                 // msgpack
  std::vector<Tensor> payloads;       // one per tensor, in header order
};

// Encodes a message: tensors become payload frames (made contiguous first if needed).
Result<Frames> encode_message(const Message& message);
// Decodes a header plus its payload frames, validating counts, dtypes, shapes
// and byte sizes against the header (the bytes come from another process and
// are checked like untrusted input).
Result<Message> decode_message(std::string_view header, std::vector<Tensor> payloads);

// The request_id of a header that may fail full validation, so the engine can
// still answer a malformed request with an error instead of dropping it.
std::optional<uint64_t> peek_request_id(std::string_view header);

// "encode_request", "status_reply", ... (for logs and errors).
std::string_view message_type_name(const Message& message);

}  // namespace eric::engine
