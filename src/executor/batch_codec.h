// A batch as one shared-memory ring message, and back.
//
// The batch travels as a protocol EncodeRequest (request_id = batch_id) so the
// workers validate it with the same decoder as the engine's socket. Layout:
//   u64 header_bytes | u64 payload_count | u64 payload_bytes[payload_count]
//   | header | zero padding to 64 | payload 0 | padding to 64 | payload 1 ...
// Payload offsets are 64-byte aligned relative to the message start, so the
// worker can view them in place (no copy) as typed tensors.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/protocol.h"
#include "engine/scheduler.h"

namespace eric::executor {

// The gathered parts of the ring message; `storage` owns the small pieces the
// parts point to (table and padding), the payloads point into the message's
// tensors (kept alive by `frames`).
struct RingMessage {
  engine::Frames frames;
  std::string table;    // counts and sizes
  std::string padding;  // zeros
  std::vector<std::string_view> parts;
};

Result<std::unique_ptr<RingMessage>> encode_ring_message(const engine::Message& message);
Result<std::unique_ptr<RingMessage>> encode_batch(const engine::Batch& batch);

// Decodes a message read from the ring; tensors view `bytes` (kept alive by them).
Result<engine::Message> decode_ring_message(std::shared_ptr<const std::string> bytes);

}  // namespace eric::executor
