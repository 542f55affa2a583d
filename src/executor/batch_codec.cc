#include "executor/batch_codec.h"

#include <cstring>

namespace eric::executor {

namespace {
constexpr size_t kAlign = 64;
size_t pad_to_align(size_t n) { return (kAlign - n % kAlign) % kAlign; }

void put_u64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), sizeof(v)); }
uint64_t get_u64(const std::string& s, size_t offset) {
  uint64_t v;
  std::memcpy(&v, s.data() + offset, sizeof(v));
  return v;
}
}  // namespace

Result<std::unique_ptr<RingMessage>> encode_ring_message(const engine::Message& message) {
  auto m = std::make_unique<RingMessage>();
  ERIC_ASSIGN_OR_RETURN(m->frames, engine::encode_message(message));
  put_u64(m->table, m->frames.header.size());
  put_u64(m->table, m->frames.payloads.size());
  for (const Tensor& t : m->frames.payloads) put_u64(m->table, t.nbytes());
  m->padding.assign(kAlign, '\0');
  // Offsets are computed exactly as the decoder does.
  size_t offset = m->table.size() + m->frames.header.size();
  m->parts.push_back(m->table);
  m->parts.push_back(m->frames.header);
  for (const Tensor& t : m->frames.payloads) {
    const size_t pad = pad_to_align(offset);
    m->parts.push_back(std::string_view(m->padding).substr(0, pad));
    offset += pad;
    m->parts.push_back(std::string_view(static_cast<const char*>(t.raw_data()), t.nbytes()));
    offset += t.nbytes();
  }
  return m;
}

Result<std::unique_ptr<RingMessage>> encode_batch(const engine::Batch& batch) {
  engine::EncodeRequest req;
  req.request_id = batch.batch_id;
  req.items.reserve(batch.entries.size());
  // Tensor copies share storage: no pixel data is copied here.
  for (const auto& e : batch.entries) req.items.push_back(e.item);
  return encode_ring_message(req);
}

Result<engine::Message> decode_ring_message(std::shared_ptr<const std::string> bytes) {
  const std::string& s = *bytes;
  if (s.size() < 16) return DataLoss("ring message of {} bytes is too short", s.size());
  const uint64_t header_bytes = get_u64(s, 0);
  const uint64_t count = get_u64(s, 8);
  if (count > (s.size() - 16) / 8) return DataLoss("ring message announces {} payloads in {} bytes", count, s.size());
  size_t offset = 16 + count * 8;
  if (header_bytes > s.size() - offset) return DataLoss("ring message header runs past the end");
  std::string_view header(s.data() + offset, header_bytes);
  offset += header_bytes;
  std::vector<Tensor> payloads;
  auto keep = std::shared_ptr<const void>(bytes, bytes.get());
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t n = get_u64(s, 16 + i * 8);
    offset += pad_to_align(offset);
    if (offset > s.size() || n > s.size() - offset) return DataLoss("ring message payload {} runs past the end", i);
    // The worker only reads its inputs: the const_cast never leads to a write.
    auto storage = Storage::borrow(const_cast<char*>(s.data() + offset), n, keep, Device::cpu(), /*read_only=*/true);
    ERIC_ASSIGN_OR_RETURN(Tensor t, Tensor::from_storage(storage, 0, DType::kU8, Shape{static_cast<int64_t>(n)}));
    payloads.push_back(std::move(t));
    offset += n;
  }
  if (offset != s.size()) return DataLoss("ring message has {} trailing bytes", s.size() - offset);
  return engine::decode_message(header, std::move(payloads));
}

}  // namespace eric::executor
