#include "tensor/storage.h"

#include <fmt/format.h>

#include <cstdlib>
#include <new>

namespace eric {

std::string Device::to_string() const {
  return type == DeviceType::kCpu ? std::string("cpu") : fmt::format("cuda:{}", index);
}

Result<std::shared_ptr<Storage>> Storage::allocate(size_t bytes) {
  constexpr size_t kAlign = 64;
  size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  if (rounded == 0) rounded = kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  if (p == nullptr) return ResourceExhausted("cannot allocate {} bytes", bytes);
  auto s = std::shared_ptr<Storage>(new Storage());
  s->data_ = p;
  s->bytes_ = bytes;
  s->owned_ = true;
  return s;
}

std::shared_ptr<Storage> Storage::borrow(void* data, size_t bytes, std::shared_ptr<const void> keep_alive,
                                         Device device, bool read_only) {
  auto s = std::shared_ptr<Storage>(new Storage());
  s->data_ = data;
  s->bytes_ = bytes;
  s->device_ = device;
  s->read_only_ = read_only;
  s->keep_alive_ = std::move(keep_alive);
  return s;
}

Storage::~Storage() {
  if (owned_) std::free(data_);
}

}  // namespace eric
