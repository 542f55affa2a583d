// msgpack encoding of the router <-> engine messages (see protocol.h).
//
// Header layout: one msgpack map per message,
//   {"v": kProtocolVersion, "type": "<message type>", "request_id": u64, ...}
// Tensors are described in the header as {"name", "dtype" (safetensors
// spelling), "shape"}; their bytes are the payload frames, in the order the
// descriptors appear in the header. Unknown map keys are ignored (a newer
// peer may add fields); every field this version needs is required.
#include "engine/protocol.h"

#include <msgpack.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

namespace eric::engine {

namespace {

constexpr size_t kMaxRank = 8;
constexpr size_t kMaxArray = 1 << 16;   // items per request, dims, ranks, ...
constexpr size_t kMaxMap = 64;          // keys per map
constexpr size_t kMaxString = 1 << 20;  // ids, error messages
constexpr size_t kMaxDepth = 16;

constexpr std::string_view kEncodeRequest = "encode_request";
constexpr std::string_view kEncodeResponse = "encode_response";
constexpr std::string_view kStatusQuery = "status_query";
constexpr std::string_view kStatusReply = "status_reply";
constexpr std::string_view kShutdown = "shutdown";

using Packer = msgpack::packer<msgpack::sbuffer>;

// ---------------------------------------------------------------- encoding

void pack_str(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

// Packs the common prefix {"v", "type", "request_id"} of a map with
// `extra` more entries.
void pack_prefix(Packer& p, std::string_view type, uint64_t request_id, uint32_t extra) {
  p.pack_map(3 + extra);
  pack_str(p, "v");
  p.pack_uint32(kProtocolVersion);
  pack_str(p, "type");
  pack_str(p, type);
  pack_str(p, "request_id");
  p.pack_uint64(request_id);
}

// Appends a tensor descriptor to the header and the tensor to the payloads.
Status pack_tensor(Packer& p, std::string_view name, const Tensor& t, std::vector<Tensor>& payloads) {
  if (!t.device().is_cpu()) {
    return InvalidArgument("tensor '{}' is on {}; only CPU tensors can be sent", name, t.device().to_string());
  }
  ERIC_ASSIGN_OR_RETURN(Tensor c, t.contiguous());
  p.pack_map(3);
  pack_str(p, "name");
  pack_str(p, name);
  pack_str(p, "dtype");
  pack_str(p, dtype_safetensors_name(c.dtype()));
  pack_str(p, "shape");
  p.pack_array(static_cast<uint32_t>(c.rank()));
  for (int64_t d : c.shape().dims()) p.pack_int64(d);
  payloads.push_back(std::move(c));
  return Status::Ok();
}

Status pack(Packer& p, const EncodeRequest& m, std::vector<Tensor>& payloads) {
  pack_prefix(p, kEncodeRequest, m.request_id, 2);
  pack_str(p, "deadline_unix_ms");
  p.pack_int64(m.deadline_unix_ms);
  pack_str(p, "items");
  p.pack_array(static_cast<uint32_t>(m.items.size()));
  for (const EncodeItem& item : m.items) {
    p.pack_map(7);
    pack_str(p, "id");
    pack_str(p, item.item_id);
    pack_str(p, "modality");
    pack_str(p, item.modality);
    pack_str(p, "model_id");
    pack_str(p, item.model_id);
    pack_str(p, "num_tokens");
    p.pack_int64(item.num_tokens);
    pack_str(p, "return_embedding");
    p.pack(item.return_embedding);
    pack_str(p, "receiver_sidecar_ranks");
    p.pack_array(static_cast<uint32_t>(item.receiver_sidecar_ranks.size()));
    for (const auto& group : item.receiver_sidecar_ranks) {
      p.pack_array(static_cast<uint32_t>(group.size()));
      for (int32_t r : group) p.pack_int32(r);
    }
    pack_str(p, "tensors");
    p.pack_array(static_cast<uint32_t>(item.tensors.size()));
    for (const auto& [name, t] : item.tensors) {
      if (!t.defined()) return InvalidArgument("item '{}': tensor '{}' is undefined", item.item_id, name);
      ERIC_RETURN_IF_ERROR(pack_tensor(p, name, t, payloads).with_context(fmt::format("item '{}'", item.item_id)));
    }
  }
  return Status::Ok();
}

Status pack(Packer& p, const EncodeResponse& m, std::vector<Tensor>& payloads) {
  pack_prefix(p, kEncodeResponse, m.request_id, m.restart_workers ? 7 : 6);
  if (m.restart_workers) {
    pack_str(p, "restart_workers");
    p.pack_true();
  }
  pack_str(p, "queue_us");
  p.pack_int64(m.queue_us);
  pack_str(p, "encode_us");
  p.pack_int64(m.encode_us);
  pack_str(p, "batch_sizes");
  p.pack_array(static_cast<uint32_t>(m.batch_sizes.size()));
  for (int32_t b : m.batch_sizes) p.pack_int32(b);
  pack_str(p, "code");
  p.pack_uint32(static_cast<uint32_t>(m.code));
  pack_str(p, "error_message");
  pack_str(p, m.error_message);
  pack_str(p, "items");
  p.pack_array(static_cast<uint32_t>(m.items.size()));
  for (const ItemResult& item : m.items) {
    p.pack_map(item.failed() ? 3 : 2);
    pack_str(p, "id");
    pack_str(p, item.item_id);
    if (item.failed()) {
      pack_str(p, "error");
      p.pack_map(2);
      pack_str(p, "code");
      p.pack_uint32(static_cast<uint32_t>(item.error_code));
      pack_str(p, "message");
      pack_str(p, item.error_message);
    }
    pack_str(p, "embedding");
    if (item.embedding.defined()) {
      ERIC_RETURN_IF_ERROR(
          pack_tensor(p, "embedding", item.embedding, payloads).with_context(fmt::format("item '{}'", item.item_id)));
    } else {
      p.pack_nil();
    }
  }
  return Status::Ok();
}

Status pack(Packer& p, const StatusQuery& m, std::vector<Tensor>&) {
  pack_prefix(p, kStatusQuery, m.request_id, 0);
  return Status::Ok();
}

Status pack(Packer& p, const StatusReply& m, std::vector<Tensor>&) {
  pack_prefix(p, kStatusReply, m.request_id, 5);
  pack_str(p, "ready");
  p.pack(m.ready);
  pack_str(p, "workers_alive");
  p.pack_int32(m.workers_alive);
  pack_str(p, "workers_total");
  p.pack_int32(m.workers_total);
  pack_str(p, "queue_length");
  p.pack_int64(m.queue_length);
  pack_str(p, "detail");
  pack_str(p, m.detail);
  return Status::Ok();
}

Status pack(Packer& p, const Shutdown& m, std::vector<Tensor>&) {
  pack_prefix(p, kShutdown, m.request_id, 0);
  return Status::Ok();
}

// ---------------------------------------------------------------- decoding

// A typed view of a msgpack map; every accessor names the missing or
// mistyped field in its error.
class MapView {
 public:
  static Result<MapView> of(const msgpack::object& o, std::string_view what) {
    if (o.type != msgpack::type::MAP) return DataLoss("{} is not a map", what);
    return MapView(o, what);
  }

  const msgpack::object* find(std::string_view key) const {
    for (uint32_t i = 0; i < o_->via.map.size; ++i) {
      const msgpack::object& k = o_->via.map.ptr[i].key;
      if (k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == key) {
        return &o_->via.map.ptr[i].val;
      }
    }
    return nullptr;
  }

  Result<const msgpack::object*> get(std::string_view key) const {
    const msgpack::object* v = find(key);
    if (v == nullptr) return DataLoss("{} has no field '{}'", what_, key);
    return v;
  }

  Result<uint64_t> get_u64(std::string_view key) const {
    ERIC_ASSIGN_OR_RETURN(const msgpack::object* v, get(key));
    if (v->type != msgpack::type::POSITIVE_INTEGER) return DataLoss("{}.{} is not an unsigned integer", what_, key);
    return v->via.u64;
  }

  Result<int64_t> get_i64(std::string_view key) const {
    ERIC_ASSIGN_OR_RETURN(const msgpack::object* v, get(key));
    return as_i64(*v, key);
  }

  Result<int64_t> as_i64(const msgpack::object& v, std::string_view key) const {
    if (v.type == msgpack::type::NEGATIVE_INTEGER) return v.via.i64;
    if (v.type == msgpack::type::POSITIVE_INTEGER) {
      if (v.via.u64 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return DataLoss("{}.{} is out of range", what_, key);
      }
      return static_cast<int64_t>(v.via.u64);
    }
    return DataLoss("{}.{} is not an integer", what_, key);
  }

  Result<int32_t> get_i32(std::string_view key) const {
    ERIC_ASSIGN_OR_RETURN(int64_t v, get_i64(key));
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
      return DataLoss("{}.{} = {} is out of the int32 range", what_, key, v);
    }
    return static_cast<int32_t>(v);
  }

  Result<bool> get_bool(std::string_view key) const {
    ERIC_ASSIGN_OR_RETURN(const msgpack::object* v, get(key));
    if (v->type != msgpack::type::BOOLEAN) return DataLoss("{}.{} is not a boolean", what_, key);
    return v->via.boolean;
  }

  Result<std::string> get_str(std::string_view key) const {
    ERIC_ASSIGN_OR_RETURN(const msgpack::object* v, get(key));
    if (v->type != msgpack::type::STR) return DataLoss("{}.{} is not a string", what_, key);
    return std::string(v->via.str.ptr, v->via.str.size);
  }

  Result<const msgpack::object_array*> get_array(std::string_view key) const {
    ERIC_ASSIGN_OR_RETURN(const msgpack::object* v, get(key));
    if (v->type != msgpack::type::ARRAY) return DataLoss("{}.{} is not an array", what_, key);
    return &v->via.array;
  }

  const std::string& what() const { return what_; }

 private:
  MapView(const msgpack::object& o, std::string_view what) : o_(&o), what_(what) {}
  const msgpack::object* o_;
  std::string what_;
};

// Hands out payload frames in header order and turns each into the tensor
// its descriptor announces.
class PayloadReader {
 public:
  explicit PayloadReader(std::vector<Tensor> payloads) : payloads_(std::move(payloads)) {}

  Result<std::pair<std::string, Tensor>> read_tensor(const msgpack::object& desc_obj, std::string_view what) {
    ERIC_ASSIGN_OR_RETURN(MapView desc, MapView::of(desc_obj, what));
    ERIC_ASSIGN_OR_RETURN(std::string name, desc.get_str("name"));
    ERIC_ASSIGN_OR_RETURN(std::string dtype_str, desc.get_str("dtype"));
    auto dtype = dtype_from_safetensors_name(dtype_str);
    if (!dtype.ok()) return DataLoss("{} '{}': unknown dtype '{}'", what, name, dtype_str);
    ERIC_ASSIGN_OR_RETURN(const msgpack::object_array* dims_arr, desc.get_array("shape"));
    if (dims_arr->size > kMaxRank) return DataLoss("{} '{}' has rank {} (at most {})", what, name, dims_arr->size, kMaxRank);
    std::vector<int64_t> dims;
    uint64_t numel = 1;
    for (uint32_t i = 0; i < dims_arr->size; ++i) {
      ERIC_ASSIGN_OR_RETURN(int64_t d, desc.as_i64(dims_arr->ptr[i], "shape"));
      if (d < 0) return DataLoss("{} '{}' has a negative dimension {}", what, name, d);
      if (d != 0 && numel > (uint64_t{1} << 48) / static_cast<uint64_t>(d)) {
        return DataLoss("{} '{}': shape is too large", what, name);
      }
      numel *= static_cast<uint64_t>(d);
      dims.push_back(d);
    }
    Shape shape(std::move(dims));
    const size_t expected_bytes = numel * dtype_size(*dtype);

    if (next_ >= payloads_.size()) {
      return DataLoss("{} '{}' needs payload frame {}, but only {} were sent", what, name, next_ + 1,
                      payloads_.size());
    }
    Tensor payload = std::move(payloads_[next_++]);
    if (!payload.defined()) return DataLoss("{} '{}': payload frame is missing", what, name);
    if (payload.dtype() == *dtype && payload.shape() == shape) return std::make_pair(name, std::move(payload));
    // Raw frames arrive as 1-D uint8 tensors: reinterpret them.
    if (payload.dtype() != DType::kU8 || payload.rank() != 1 || !payload.is_contiguous()) {
      return DataLoss("{} '{}': payload is {} but the header says {}{}", what, name, payload.describe(),
                      dtype_name(*dtype), shape.to_string());
    }
    if (payload.nbytes() != expected_bytes) {
      return DataLoss("{} '{}': header says {}{} ({} bytes) but the payload frame has {} bytes", what, name,
                      dtype_name(*dtype), shape.to_string(), expected_bytes, payload.nbytes());
    }
    const auto addr = reinterpret_cast<uintptr_t>(payload.raw_data());
    if (addr % dtype_size(*dtype) != 0) {
      // Misaligned frame memory: copy into aligned storage rather than
      // hand out a misaligned typed pointer.
      ERIC_ASSIGN_OR_RETURN(Tensor aligned, Tensor::empty(*dtype, shape));
      if (expected_bytes > 0) std::memcpy(aligned.mutable_raw_data(), payload.raw_data(), expected_bytes);
      return std::make_pair(name, std::move(aligned));
    }
    const size_t offset = static_cast<size_t>(static_cast<const uint8_t*>(payload.raw_data()) -
                                              static_cast<const uint8_t*>(payload.storage()->data()));
    ERIC_ASSIGN_OR_RETURN(Tensor typed, Tensor::from_storage(payload.storage(), offset, *dtype, shape));
    return std::make_pair(name, std::move(typed));
  }

  Status expect_all_used() const {
    if (next_ != payloads_.size()) {
      return DataLoss("the header describes {} tensors but {} payload frames were sent", next_, payloads_.size());
    }
    return Status::Ok();
  }

 private:
  std::vector<Tensor> payloads_;
  size_t next_ = 0;
};

Result<EncodeRequest> unpack_encode_request(const MapView& m, uint64_t request_id, PayloadReader& payloads) {
  EncodeRequest req;
  req.request_id = request_id;
  ERIC_ASSIGN_OR_RETURN(req.deadline_unix_ms, m.get_i64("deadline_unix_ms"));
  ERIC_ASSIGN_OR_RETURN(const msgpack::object_array* items, m.get_array("items"));
  req.items.reserve(items->size);
  for (uint32_t i = 0; i < items->size; ++i) {
    ERIC_ASSIGN_OR_RETURN(MapView im, MapView::of(items->ptr[i], fmt::format("items[{}]", i)));
    EncodeItem item;
    ERIC_ASSIGN_OR_RETURN(item.item_id, im.get_str("id"));
    ERIC_ASSIGN_OR_RETURN(item.modality, im.get_str("modality"));
    ERIC_ASSIGN_OR_RETURN(item.model_id, im.get_str("model_id"));
    ERIC_ASSIGN_OR_RETURN(item.num_tokens, im.get_i64("num_tokens"));
    if (item.num_tokens < 0) return DataLoss("items[{}] ('{}'): negative num_tokens {}", i, item.item_id, item.num_tokens);
    ERIC_ASSIGN_OR_RETURN(item.return_embedding, im.get_bool("return_embedding"));
    ERIC_ASSIGN_OR_RETURN(const msgpack::object_array* groups, im.get_array("receiver_sidecar_ranks"));
    for (uint32_t g = 0; g < groups->size; ++g) {
      const msgpack::object& go = groups->ptr[g];
      if (go.type != msgpack::type::ARRAY) return DataLoss("items[{}].receiver_sidecar_ranks[{}] is not an array", i, g);
      std::vector<int32_t> group;
      for (uint32_t r = 0; r < go.via.array.size; ++r) {
        ERIC_ASSIGN_OR_RETURN(int64_t rank, im.as_i64(go.via.array.ptr[r], "receiver_sidecar_ranks"));
        if (rank < 0 || rank > std::numeric_limits<int32_t>::max()) {
          return DataLoss("items[{}]: receiver rank {} is out of range", i, rank);
        }
        group.push_back(static_cast<int32_t>(rank));
      }
      item.receiver_sidecar_ranks.push_back(std::move(group));
    }
    ERIC_ASSIGN_OR_RETURN(const msgpack::object_array* tensors, im.get_array("tensors"));
    for (uint32_t t = 0; t < tensors->size; ++t) {
      ERIC_ASSIGN_OR_RETURN(auto named, payloads.read_tensor(tensors->ptr[t], fmt::format("items[{}] tensor", i)));
      item.tensors.push_back(std::move(named));
    }
    req.items.push_back(std::move(item));
  }
  return req;
}

Result<EncodeResponse> unpack_encode_response(const MapView& m, uint64_t request_id, PayloadReader& payloads) {
  EncodeResponse resp;
  resp.request_id = request_id;
  ERIC_ASSIGN_OR_RETURN(uint64_t code, m.get_u64("code"));
  if (code > static_cast<uint64_t>(ErrorCode::kInternal)) return DataLoss("unknown error code {}", code);
  resp.code = static_cast<ErrorCode>(code);
  ERIC_ASSIGN_OR_RETURN(resp.error_message, m.get_str("error_message"));
  ERIC_ASSIGN_OR_RETURN(const msgpack::object_array* items, m.get_array("items"));
  for (uint32_t i = 0; i < items->size; ++i) {
    ERIC_ASSIGN_OR_RETURN(MapView im, MapView::of(items->ptr[i], fmt::format("items[{}]", i)));
    ItemResult item;
    ERIC_ASSIGN_OR_RETURN(item.item_id, im.get_str("id"));
    ERIC_ASSIGN_OR_RETURN(const msgpack::object* emb, im.get("embedding"));
    if (emb->type != msgpack::type::NIL) {
      ERIC_ASSIGN_OR_RETURN(auto named, payloads.read_tensor(*emb, fmt::format("items[{}] embedding", i)));
      item.embedding = std::move(named.second);
    }
    // Optional: only an item that failed on its own carries "error".
    if (const msgpack::object* err = im.find("error"); err != nullptr) {
      ERIC_ASSIGN_OR_RETURN(MapView em, MapView::of(*err, fmt::format("items[{}].error", i)));
      ERIC_ASSIGN_OR_RETURN(uint64_t item_code, em.get_u64("code"));
      if (item_code == 0 || item_code > static_cast<uint64_t>(ErrorCode::kInternal)) {
        return DataLoss("items[{}].error.code {} is not an error code", i, item_code);
      }
      item.error_code = static_cast<ErrorCode>(item_code);
      ERIC_ASSIGN_OR_RETURN(item.error_message, em.get_str("message"));
      if (item.embedding.defined()) return DataLoss("items[{}] ('{}') failed but carries an embedding", i, item.item_id);
    }
    resp.items.push_back(std::move(item));
  }
  // Optional: only a worker whose set must restart sends it (only as true;
  // the batch itself may have succeeded before the loss was found).
  if (m.find("restart_workers") != nullptr) {
    ERIC_ASSIGN_OR_RETURN(resp.restart_workers, m.get_bool("restart_workers"));
    if (!resp.restart_workers) return DataLoss("restart_workers is sent only as true");
  }
  ERIC_ASSIGN_OR_RETURN(resp.queue_us, m.get_i64("queue_us"));
  ERIC_ASSIGN_OR_RETURN(resp.encode_us, m.get_i64("encode_us"));
  if (resp.queue_us < 0 || resp.encode_us < 0) {
    return DataLoss("negative engine timing (queue_us {}, encode_us {})", resp.queue_us, resp.encode_us);
  }
  ERIC_ASSIGN_OR_RETURN(const msgpack::object_array* sizes, m.get_array("batch_sizes"));
  if (sizes->size != 0 && sizes->size != resp.items.size()) {
    return DataLoss("batch_sizes has {} entries for {} items (expected none or one per item)", sizes->size,
                    resp.items.size());
  }
  for (uint32_t i = 0; i < sizes->size; ++i) {
    ERIC_ASSIGN_OR_RETURN(int64_t b, m.as_i64(sizes->ptr[i], "batch_sizes"));
    if (b < 1 || b > static_cast<int64_t>(kMaxArray)) {
      return DataLoss("batch_sizes[{}] = {} is out of range [1, {}]", i, b, kMaxArray);
    }
    resp.batch_sizes.push_back(static_cast<int32_t>(b));
  }
  return resp;
}

Result<StatusReply> unpack_status_reply(const MapView& m, uint64_t request_id) {
  StatusReply r;
  r.request_id = request_id;
  ERIC_ASSIGN_OR_RETURN(r.ready, m.get_bool("ready"));
  ERIC_ASSIGN_OR_RETURN(r.workers_alive, m.get_i32("workers_alive"));
  ERIC_ASSIGN_OR_RETURN(r.workers_total, m.get_i32("workers_total"));
  ERIC_ASSIGN_OR_RETURN(r.queue_length, m.get_i64("queue_length"));
  ERIC_ASSIGN_OR_RETURN(r.detail, m.get_str("detail"));
  return r;
}

Result<msgpack::object_handle> parse_header(std::string_view header) {
  if (header.empty()) return DataLoss("empty message header");
  // Every array element and map entry takes at least one byte of input, so
  // capping the sizes at the input length stops a short header from making
  // the parser allocate for billions of announced elements.
  const size_t n = header.size();
  msgpack::unpack_limit limit(std::min(kMaxArray, n), std::min(kMaxMap, n), std::min(kMaxString, n), 0, 0, kMaxDepth);
  try {
    size_t offset = 0;
    msgpack::object_handle oh = msgpack::unpack(header.data(), header.size(), offset, nullptr, nullptr, limit);
    if (offset != header.size()) {
      return DataLoss("message header has {} trailing bytes after the msgpack map", header.size() - offset);
    }
    return oh;
  } catch (const std::exception& e) {
    return DataLoss("malformed msgpack message header ({} bytes): {}", header.size(), e.what());
  }
}

}  // namespace

Result<Frames> encode_message(const Message& message) {
  msgpack::sbuffer buffer;
  Packer packer(buffer);
  Frames frames;
  Status st = std::visit([&](const auto& m) { return pack(packer, m, frames.payloads); }, message);
  ERIC_RETURN_IF_ERROR(st);
  frames.header.assign(buffer.data(), buffer.size());
  return frames;
}

Result<Message> decode_message(std::string_view header, std::vector<Tensor> payloads) {
  ERIC_ASSIGN_OR_RETURN(msgpack::object_handle oh, parse_header(header));
  ERIC_ASSIGN_OR_RETURN(MapView m, MapView::of(oh.get(), "message header"));
  ERIC_ASSIGN_OR_RETURN(uint64_t version, m.get_u64("v"));
  if (version != kProtocolVersion) {
    return DataLoss("protocol version {} is not supported (this build speaks version {})", version, kProtocolVersion);
  }
  ERIC_ASSIGN_OR_RETURN(std::string type, m.get_str("type"));
  ERIC_ASSIGN_OR_RETURN(uint64_t request_id, m.get_u64("request_id"));
  PayloadReader reader(std::move(payloads));
  Message out;
  if (type == kEncodeRequest) {
    ERIC_ASSIGN_OR_RETURN(out, unpack_encode_request(m, request_id, reader));
  } else if (type == kEncodeResponse) {
    ERIC_ASSIGN_OR_RETURN(out, unpack_encode_response(m, request_id, reader));
  } else if (type == kStatusQuery) {
    out = StatusQuery{request_id};
  } else if (type == kStatusReply) {
    ERIC_ASSIGN_OR_RETURN(out, unpack_status_reply(m, request_id));
  } else if (type == kShutdown) {
    out = Shutdown{request_id};
  } else {
    return DataLoss("unknown message type '{}'", type);
  }
  ERIC_RETURN_IF_ERROR(reader.expect_all_used());
  return out;
}

std::optional<uint64_t> peek_request_id(std::string_view header) {
  auto oh = parse_header(header);
  if (!oh.ok()) return std::nullopt;
  auto m = MapView::of(oh->get(), "message header");
  if (!m.ok()) return std::nullopt;
  auto id = m->get_u64("request_id");
  if (!id.ok()) return std::nullopt;
  return *id;
}

std::string_view message_type_name(const Message& message) {
  switch (message.index()) {
    case 0: return kEncodeRequest;
    case 1: return kEncodeResponse;
    case 2: return kStatusQuery;
    case 3: return kStatusReply;
    case 4: return kShutdown;
  }
  return "unknown";
}

}  // namespace eric::engine
