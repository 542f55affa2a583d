// The sidecar's message format, shared by the Unix-domain control socket
// (local producers and consumers) and the TCP links between sidecars.
//
// A message is a 24-byte frame header, a body of `body_len` bytes and, for
// chunk messages only, `payload_len` raw bytes that follow the body (tensor
// bytes, streamed straight into their destination, never re-encoded).
//
//   header: magic "ESC1" (u32) | version (u16) | type (u16) | body_len (u32) |
//           reserved (u32, 0) | payload_len (u64)          -- little-endian
//   body:   every Message field below, in declaration order: integers
//           little-endian, strings as u32 length + bytes, shape as u32 count +
//           i64 dims, groups as u32 count + (u32 count + i32 ranks) each.
//
// Every message carries every field (unused ones are zero/empty): one schema,
// one decoder, nothing type-dependent to get wrong. Headers and bodies come
// from other processes and other machines, so decoding checks every length
// against the limits below before allocating (fuzzed: fuzz/sidecar/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace eric::sidecar {

inline constexpr uint32_t kWireMagic = 0x31435345;  // "ESC1" read little-endian
inline constexpr uint16_t kWireVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 24;
inline constexpr uint32_t kMaxBodyBytes = 1 << 20;
inline constexpr uint64_t kMaxPayloadBytes = uint64_t{64} << 20;  // one wire chunk
inline constexpr size_t kMaxStringBytes = 64 << 10;
inline constexpr size_t kMaxDims = 8;
inline constexpr size_t kMaxGroups = 1024;
inline constexpr size_t kMaxRanksPerGroup = 4096;

enum class MsgType : uint16_t {
  // control socket: client -> sidecar, and the answers
  kHello = 1,      // rank (consumer's LLM rank, or -1 for a producer) -> kHelloOk
  kHelloOk,        // text = arena shm name, bytes = arena size
  kAlloc,          // bytes, timeout_ms -> kAllocOk(offset) | kError
  kAllocOk,
  kFree,           // offset: give back an allocation never put -> kOk
  kPut,            // id, chunk, dtype, shape, offset, bytes, groups, timeout_ms -> kOk | kError
  kRecv,           // id, chunk, timeout_ms -> kItem | kError
  kItem,           // id, chunk, dtype, shape, offset, bytes
  kDone,           // id, chunk: this consumer finished with the view -> kOk | kError
  kStats,          // -> kStatsReply (text = JSON counters)
  kStatsReply,
  kOk,
  kError,          // code (ErrorCode), text
  // sidecar <-> sidecar over the transport
  kPeerHello = 32, // text = sending node's name
  kXferBegin,      // seq = transfer id, id, chunk, dtype, shape, bytes, groups (this node's), timeout_ms
  kXferData,       // seq, offset (within the tensor) + payload_len bytes
  kXferAck,        // seq, code (kOk or the error), text
};

std::string_view msg_type_name(MsgType type);

struct Message {
  MsgType type = MsgType::kOk;
  uint64_t seq = 0;          // request / transfer id, echoed in answers
  uint32_t chunk = 0;
  int32_t rank = -1;
  uint64_t offset = 0;       // arena offset (control) or tensor offset (kXferData)
  uint64_t bytes = 0;
  uint32_t timeout_ms = 0;
  uint32_t code = 0;         // ErrorCode for kError / kXferAck
  std::string id;            // data id (the request item's id)
  std::string dtype;         // safetensors spelling: "F32", "BF16", ...
  std::string text;          // error message, arena name, stats JSON, node name
  std::vector<int64_t> shape;
  std::vector<std::vector<int32_t>> groups;
  uint64_t payload_len = 0;  // bytes following the body (kXferData)
};

struct FrameHeader {
  MsgType type = MsgType::kOk;
  uint32_t body_len = 0;
  uint64_t payload_len = 0;
};

// Header + body bytes of a message (the payload, if any, is written separately).
std::string encode_message(const Message& m);
// Checks magic, version, type and length limits.
Result<FrameHeader> decode_frame_header(std::string_view bytes);
// Decodes a body; `header` supplies type and payload_len.
Result<Message> decode_message_body(const FrameHeader& header, std::string_view body);

// Checks a tensor description: known dtype, 1..kMaxDims non-negative dims,
// and element count x dtype size == `bytes` without overflow.
Status validate_tensor(const Message& m);

// Convenience constructors for answers.
Message error_message(uint64_t seq, const Status& status);
Message ok_message(uint64_t seq);
// The Status an answer carries (Ok for anything but kError).
Status status_of(const Message& m);

}  // namespace eric::sidecar
