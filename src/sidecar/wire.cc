#include "sidecar/wire.h"

#include <cstring>
#include <limits>

#include "tensor/dtype.h"

namespace eric::sidecar {

namespace {

bool known_type(uint16_t t) {
  return (t >= static_cast<uint16_t>(MsgType::kHello) && t <= static_cast<uint16_t>(MsgType::kError)) ||
         (t >= static_cast<uint16_t>(MsgType::kPeerHello) && t <= static_cast<uint16_t>(MsgType::kXferAck));
}

template <typename T>
void put(std::string& out, T v) {
  static_assert(std::is_integral_v<T>);
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // the supported targets are little-endian (x86-64, aarch64)
  out.append(b, sizeof(T));
}

void put_str(std::string& out, const std::string& s) {
  put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// Reads fields off a body, failing (never reading past the end) on truncation.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  template <typename T>
  Result<T> get(const char* what) {
    if (b_.size() - pos_ < sizeof(T)) return DataLoss("sidecar message truncated at field '{}'", what);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  Result<std::string> get_str(const char* what) {
    ERIC_ASSIGN_OR_RETURN(uint32_t n, get<uint32_t>(what));
    if (n > kMaxStringBytes) return DataLoss("sidecar message field '{}' is {} bytes (limit {})", what, n, kMaxStringBytes);
    if (b_.size() - pos_ < n) return DataLoss("sidecar message truncated inside field '{}'", what);
    std::string s(b_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  size_t remaining() const { return b_.size() - pos_; }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

}  // namespace

std::string_view msg_type_name(MsgType type) {
  switch (type) {
    case MsgType::kHello: return "hello";
    case MsgType::kHelloOk: return "hello_ok";
    case MsgType::kAlloc: return "alloc";
    case MsgType::kAllocOk: return "alloc_ok";
    case MsgType::kFree: return "free";
    case MsgType::kPut: return "put";
    case MsgType::kRecv: return "recv";
    case MsgType::kItem: return "item";
    case MsgType::kDone: return "done";
    case MsgType::kStats: return "stats";
    case MsgType::kStatsReply: return "stats_reply";
    case MsgType::kOk: return "ok";
    case MsgType::kError: return "error";
    case MsgType::kPeerHello: return "peer_hello";
    case MsgType::kXferBegin: return "xfer_begin";
    case MsgType::kXferData: return "xfer_data";
    case MsgType::kXferAck: return "xfer_ack";
  }
  return "unknown";
}

std::string encode_message(const Message& m) {
  std::string body;
  put<uint64_t>(body, m.seq);
  put<uint32_t>(body, m.chunk);
  put<int32_t>(body, m.rank);
  put<uint64_t>(body, m.offset);
  put<uint64_t>(body, m.bytes);
  put<uint32_t>(body, m.timeout_ms);
  put<uint32_t>(body, m.code);
  put_str(body, m.id);
  put_str(body, m.dtype);
  put_str(body, m.text);
  put<uint32_t>(body, static_cast<uint32_t>(m.shape.size()));
  for (int64_t d : m.shape) put<int64_t>(body, d);
  put<uint32_t>(body, static_cast<uint32_t>(m.groups.size()));
  for (const auto& g : m.groups) {
    put<uint32_t>(body, static_cast<uint32_t>(g.size()));
    for (int32_t r : g) put<int32_t>(body, r);
  }
  std::string out;
  out.reserve(kFrameHeaderBytes + body.size());
  put<uint32_t>(out, kWireMagic);
  put<uint16_t>(out, kWireVersion);
  put<uint16_t>(out, static_cast<uint16_t>(m.type));
  put<uint32_t>(out, static_cast<uint32_t>(body.size()));
  put<uint32_t>(out, 0);
  put<uint64_t>(out, m.payload_len);
  out += body;
  return out;
}

Result<FrameHeader> decode_frame_header(std::string_view bytes) {
  if (bytes.size() < kFrameHeaderBytes) return DataLoss("sidecar frame header of {} bytes (need {})", bytes.size(), kFrameHeaderBytes);
  Reader r(bytes.substr(0, kFrameHeaderBytes));
  ERIC_ASSIGN_OR_RETURN(uint32_t magic, r.get<uint32_t>("magic"));
  if (magic != kWireMagic) return DataLoss("not a sidecar frame (magic {:#010x})", magic);
  ERIC_ASSIGN_OR_RETURN(uint16_t version, r.get<uint16_t>("version"));
  if (version != kWireVersion) return DataLoss("sidecar protocol version {} (this build speaks {})", version, kWireVersion);
  ERIC_ASSIGN_OR_RETURN(uint16_t type, r.get<uint16_t>("type"));
  if (!known_type(type)) return DataLoss("unknown sidecar message type {}", type);
  FrameHeader h;
  h.type = static_cast<MsgType>(type);
  ERIC_ASSIGN_OR_RETURN(h.body_len, r.get<uint32_t>("body_len"));
  if (h.body_len > kMaxBodyBytes) return DataLoss("sidecar message body of {} bytes (limit {})", h.body_len, kMaxBodyBytes);
  ERIC_ASSIGN_OR_RETURN(uint32_t reserved, r.get<uint32_t>("reserved"));
  if (reserved != 0) return DataLoss("sidecar frame has reserved bits set");
  ERIC_ASSIGN_OR_RETURN(h.payload_len, r.get<uint64_t>("payload_len"));
  if (h.payload_len > kMaxPayloadBytes) return DataLoss("sidecar chunk of {} bytes (limit {})", h.payload_len, kMaxPayloadBytes);
  if (h.payload_len != 0 && h.type != MsgType::kXferData) {
    return DataLoss("sidecar message '{}' carries a payload", msg_type_name(h.type));
  }
  return h;
}

Result<Message> decode_message_body(const FrameHeader& header, std::string_view body) {
  if (body.size() != header.body_len) return DataLoss("sidecar body of {} bytes, header says {}", body.size(), header.body_len);
  Reader r(body);
  Message m;
  m.type = header.type;
  m.payload_len = header.payload_len;
  ERIC_ASSIGN_OR_RETURN(m.seq, r.get<uint64_t>("seq"));
  ERIC_ASSIGN_OR_RETURN(m.chunk, r.get<uint32_t>("chunk"));
  ERIC_ASSIGN_OR_RETURN(m.rank, r.get<int32_t>("rank"));
  ERIC_ASSIGN_OR_RETURN(m.offset, r.get<uint64_t>("offset"));
  ERIC_ASSIGN_OR_RETURN(m.bytes, r.get<uint64_t>("bytes"));
  ERIC_ASSIGN_OR_RETURN(m.timeout_ms, r.get<uint32_t>("timeout_ms"));
  ERIC_ASSIGN_OR_RETURN(m.code, r.get<uint32_t>("code"));
  if (m.code > static_cast<uint32_t>(ErrorCode::kInternal)) return DataLoss("sidecar message has unknown error code {}", m.code);
  ERIC_ASSIGN_OR_RETURN(m.id, r.get_str("id"));
  ERIC_ASSIGN_OR_RETURN(m.dtype, r.get_str("dtype"));
  ERIC_ASSIGN_OR_RETURN(m.text, r.get_str("text"));
  ERIC_ASSIGN_OR_RETURN(uint32_t ndim, r.get<uint32_t>("shape"));
  if (ndim > kMaxDims) return DataLoss("sidecar message shape has {} dims (limit {})", ndim, kMaxDims);
  for (uint32_t i = 0; i < ndim; ++i) {
    ERIC_ASSIGN_OR_RETURN(int64_t d, r.get<int64_t>("shape"));
    m.shape.push_back(d);
  }
  ERIC_ASSIGN_OR_RETURN(uint32_t ngroups, r.get<uint32_t>("groups"));
  if (ngroups > kMaxGroups) return DataLoss("sidecar message has {} receiver groups (limit {})", ngroups, kMaxGroups);
  for (uint32_t g = 0; g < ngroups; ++g) {
    ERIC_ASSIGN_OR_RETURN(uint32_t n, r.get<uint32_t>("groups"));
    if (n > kMaxRanksPerGroup) return DataLoss("sidecar receiver group {} has {} ranks (limit {})", g, n, kMaxRanksPerGroup);
    // Each rank takes 4 bytes: reject impossible counts before reserving.
    if (static_cast<size_t>(n) * 4 > r.remaining()) return DataLoss("sidecar message truncated inside group {}", g);
    std::vector<int32_t> group;
    group.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      ERIC_ASSIGN_OR_RETURN(int32_t rank, r.get<int32_t>("groups"));
      group.push_back(rank);
    }
    m.groups.push_back(std::move(group));
  }
  if (r.remaining() != 0) return DataLoss("sidecar message '{}' has {} trailing bytes", msg_type_name(m.type), r.remaining());
  return m;
}

Status validate_tensor(const Message& m) {
  auto dt = dtype_from_safetensors_name(m.dtype);
  if (!dt.ok()) return InvalidArgument("item '{}' chunk {}: unknown dtype '{}'", m.id, m.chunk, m.dtype);
  if (m.shape.empty()) return InvalidArgument("item '{}' chunk {}: empty shape", m.id, m.chunk);
  uint64_t n = dtype_size(*dt);
  for (int64_t d : m.shape) {
    if (d < 0) return InvalidArgument("item '{}' chunk {}: negative dim {}", m.id, m.chunk, d);
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) {
      return InvalidArgument("item '{}' chunk {}: shape overflows", m.id, m.chunk);
    }
    n *= static_cast<uint64_t>(d);
  }
  if (n != m.bytes) {
    return InvalidArgument("item '{}' chunk {}: {} bytes for a {} tensor of {} bytes", m.id, m.chunk, m.bytes, m.dtype, n);
  }
  return Status::Ok();
}

Message error_message(uint64_t seq, const Status& status) {
  Message m;
  m.type = MsgType::kError;
  m.seq = seq;
  m.code = static_cast<uint32_t>(status.ok() ? ErrorCode::kInternal : status.code());
  m.text = status.message().substr(0, kMaxStringBytes);
  return m;
}

Message ok_message(uint64_t seq) {
  Message m;
  m.type = MsgType::kOk;
  m.seq = seq;
  return m;
}

Status status_of(const Message& m) {
  if (m.type != MsgType::kError && !(m.type == MsgType::kXferAck && m.code != 0)) return Status::Ok();
  auto code = static_cast<ErrorCode>(m.code);
  if (code == ErrorCode::kOk) code = ErrorCode::kInternal;
  return Status(code, m.text);
}

}  // namespace eric::sidecar
