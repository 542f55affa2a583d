// POSIX shared-memory segments for eric's inter-process channels.
//
// Names are "/eric-<creator pid>-<tag>-<16 random hex digits>": unpredictable
// (another local user cannot pre-create or guess them), created with O_EXCL
// and mode 0600, and carrying the creator's pid so that segments left behind
// by a crashed process can be found and removed at the next start.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace eric::distributed {

class ShmSegment {
 public:
  // Creates and maps a new zero-filled segment of `bytes`. The creator owns
  // the name: it is unlinked when the creator's ShmSegment is destroyed.
  static Result<ShmSegment> create(std::string_view tag, size_t bytes);
  // Maps an existing segment created by another process (not owned).
  static Result<ShmSegment> open(const std::string& name);

  ShmSegment() = default;
  ShmSegment(ShmSegment&& o) noexcept;
  ShmSegment& operator=(ShmSegment&& o) noexcept;
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;
  ~ShmSegment();

  void* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& name() const { return name_; }
  bool owner() const { return owner_; }
  // Removes the name now (mappings stay valid); idempotent.
  void unlink();

 private:
  void reset();
  std::string name_;
  void* data_ = nullptr;
  size_t size_ = 0;
  bool owner_ = false;
};

// Unlinks /dev/shm/eric-<pid>-* segments whose creator process no longer
// exists. Returns how many were removed.
int cleanup_stale_shm_segments();

}  // namespace eric::distributed
