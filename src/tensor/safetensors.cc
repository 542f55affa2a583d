#include "tensor/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

namespace eric {

namespace {

using json = nlohmann::json;

struct PreparedTensors {
  std::string header;  // length prefix + padded JSON
  std::vector<std::pair<std::string, Tensor>> sorted;  // contiguous, in write order
};

Result<PreparedTensors> prepare(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  PreparedTensors p;
  for (const auto& [name, t] : tensors) {
    if (name.empty()) return InvalidArgument("safetensors: empty tensor name");
    if (name == "__metadata__") return InvalidArgument("safetensors: '__metadata__' is not a valid tensor name");
    if (!t.defined()) return InvalidArgument("safetensors: tensor '{}' is undefined", name);
    if (!t.device().is_cpu()) return InvalidArgument("safetensors: tensor '{}' is not on the CPU", name);
    ERIC_ASSIGN_OR_RETURN(Tensor c, t.contiguous());
    p.sorted.emplace_back(name, std::move(c));
  }
  std::sort(p.sorted.begin(), p.sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < p.sorted.size(); ++i) {
    if (p.sorted[i].first == p.sorted[i - 1].first) {
      return InvalidArgument("safetensors: tensor name '{}' given twice", p.sorted[i].first);
    }
  }
  // Widest elements first (then by name), as the reference writer does, so
  // every tensor starts aligned to its element size and loads zero-copy.
  std::stable_sort(p.sorted.begin(), p.sorted.end(), [](const auto& a, const auto& b) {
    return dtype_size(a.second.dtype()) > dtype_size(b.second.dtype());
  });
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : p.sorted) {
    uint64_t bytes = t.nbytes();
    h[name] = {{"dtype", std::string(dtype_safetensors_name(t.dtype()))},
               {"shape", t.shape().dims()},
               {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = h.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  uint64_t n = text.size();
  p.header.resize(8);
  for (int i = 0; i < 8; ++i) p.header[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  p.header += text;
  return p;
}

Status write_all(int fd, const void* data, size_t size, const std::string& path) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t w = ::write(fd, p, std::min<size_t>(size, 1u << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      return IoError("{}: write failed: {}", path, std::strerror(errno));
    }
    p += w;
    size -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

}  // namespace

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  ERIC_ASSIGN_OR_RETURN(f.file_, MappedFile::open(path));
  auto header = parse_safetensors_header(f.file_->data(), f.file_->size(), f.file_->size());
  if (!header.ok()) return header.status().with_context(path);
  f.header_ = std::move(header).value();
  return f;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(header_.index.size());
  for (const auto& [name, _] : header_.index) out.push_back(name);
  return out;
}

Result<Tensor> SafetensorsFile::get(std::string_view name) const {
  const SafetensorsEntry* e = header_.find(name);
  if (e == nullptr) return NotFound("{}: no tensor named '{}'", path(), name);
  if (!e->dtype) {
    return Unimplemented("{}: tensor '{}' has dtype {}, which eric does not support", path(), name, e->dtype_name);
  }
  const uint8_t* p = file_->data() + header_.data_offset + e->begin;
  size_t bytes = e->end - e->begin;
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(*e->dtype) != 0) {
    ERIC_ASSIGN_OR_RETURN(Tensor t, Tensor::empty(*e->dtype, e->shape));
    std::memcpy(t.mutable_raw_data(), p, bytes);
    return t;
  }
  auto storage = Storage::borrow(const_cast<uint8_t*>(p), bytes, file_, Device::cpu(), /*read_only=*/true);
  return Tensor::from_storage(std::move(storage), 0, *e->dtype, e->shape);
}

Result<std::string> safetensors_to_bytes(const NamedTensors& tensors,
                                         const std::map<std::string, std::string>& metadata) {
  ERIC_ASSIGN_OR_RETURN(PreparedTensors p, prepare(tensors, metadata));
  std::string out = std::move(p.header);
  for (const auto& [_, t] : p.sorted) out.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  return out;
}

Status write_safetensors(const std::string& path, const NamedTensors& tensors,
                         const std::map<std::string, std::string>& metadata) {
  ERIC_ASSIGN_OR_RETURN(PreparedTensors p, prepare(tensors, metadata));
  std::random_device rd;
  std::string tmp = path + ".tmp." + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("{}: cannot create: {}", tmp, std::strerror(errno));
  Status st = write_all(fd, p.header.data(), p.header.size(), path);
  for (const auto& [_, t] : p.sorted) {
    if (!st.ok()) break;
    st = write_all(fd, t.raw_data(), t.nbytes(), path);
  }
  if (::close(fd) != 0 && st.ok()) st = IoError("{}: close failed: {}", path, std::strerror(errno));
  if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    st = IoError("{}: rename failed: {}", path, std::strerror(errno));
  }
  if (!st.ok()) std::remove(tmp.c_str());
  return st;
}

Result<NamedTensors> safetensors_from_bytes(std::string_view bytes) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  ERIC_ASSIGN_OR_RETURN(SafetensorsHeader h, parse_safetensors_header(data, bytes.size(), bytes.size()));
  NamedTensors out;
  for (const auto& e : h.entries) {
    if (!e.dtype) return Unimplemented("tensor '{}' has dtype {}, which eric does not support", e.name, e.dtype_name);
    ERIC_ASSIGN_OR_RETURN(Tensor t, Tensor::empty(*e.dtype, e.shape));
    std::memcpy(t.mutable_raw_data(), data + h.data_offset + e.begin, e.end - e.begin);
    out.emplace_back(e.name, std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace eric
