// Storage: a block of bytes on a device, either owned (allocated here) or
// borrowed (a view into memory someone else keeps alive, e.g. an mmap'd
// safetensors file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace eric {

enum class DeviceType : uint8_t { kCpu, kCuda };

struct Device {
  DeviceType type = DeviceType::kCpu;
  int index = 0;
  static Device cpu() { return {}; }
  static Device cuda(int i) { return {DeviceType::kCuda, i}; }
  bool is_cpu() const { return type == DeviceType::kCpu; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  std::string to_string() const;
};

class Storage {
 public:
  // Owned, 64-byte aligned, uninitialised CPU memory.
  static Result<std::shared_ptr<Storage>> allocate(size_t bytes);
  // Borrowed: `data` stays valid while `keep_alive` lives.
  static std::shared_ptr<Storage> borrow(void* data, size_t bytes, std::shared_ptr<const void> keep_alive,
                                         Device device = Device::cpu(), bool read_only = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t size_bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool owned() const { return owned_; }
  // Borrowed storage from a read-only mapping must not be written.
  bool read_only() const { return read_only_; }

 private:
  Storage() = default;
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  bool owned_ = false;
  bool read_only_ = false;
  std::shared_ptr<const void> keep_alive_;
};

}  // namespace eric
