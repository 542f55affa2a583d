// A shared-memory broadcast ring: one writer (the engine), N readers (the
// workers), each message delivered to every reader in order.
//
// The segment holds a header, per-reader cursors and `num_slots` slots of
// `slot_bytes`. A message larger than a slot's payload is split over several
// consecutive slots (chunks) and reassembled by each reader. A slot is reused
// only after all N readers have consumed it, so a slow reader holds the
// writer back (back-pressure) instead of losing messages.
//
// Nobody spins while idle: readers sleep on a futex bumped at each publish,
// the writer sleeps on a futex bumped at each consume. Every wait has a
// timeout and, while it waits, checks that the peers it waits for are still
// alive (by pid), so a dead peer turns into an error within ~100 ms instead of
// a hang.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "distributed/shm_segment.h"

namespace eric::executor {

struct ShmRingOptions {
  int num_readers = 1;           // 1..64
  uint32_t num_slots = 8;        // >= 1
  size_t slot_bytes = 1 << 20;   // per slot, including a 32-byte slot header
};

class ShmRingWriter {
 public:
  static Result<std::unique_ptr<ShmRingWriter>> create(const ShmRingOptions& options);
  ~ShmRingWriter();

  const std::string& name() const { return segment_.name(); }
  int num_readers() const;

  // Publishes one message made of `parts` concatenated (gathered without an
  // intermediate copy). Blocks while the ring is full, at most `timeout` per
  // slot; fails when a reader died or did not consume in time.
  Status write(const std::vector<std::string_view>& parts, std::chrono::milliseconds timeout);
  Status write(std::string_view message, std::chrono::milliseconds timeout) {
    return write(std::vector<std::string_view>{message}, timeout);
  }

  // Tells the readers no more messages will come (they drain, then get
  // Unavailable). Called by the destructor too, which also unlinks the segment.
  void close();

 private:
  explicit ShmRingWriter(distributed::ShmSegment segment) : segment_(std::move(segment)) {}
  Status wait_for_free_slot(uint64_t seq, std::chrono::milliseconds timeout);
  distributed::ShmSegment segment_;
};

class ShmRingReader {
 public:
  // Attaches as reader `reader_index` (0..num_readers-1) of the ring `name`.
  static Result<std::unique_ptr<ShmRingReader>> open(const std::string& name, int reader_index);

  // The next message. Errors: DeadlineExceeded when no message started within
  // `timeout` (idle; call again), Unavailable when the writer closed the ring
  // or died, DataLoss when the ring is corrupt.
  Result<std::string> read(std::chrono::milliseconds timeout);

 private:
  ShmRingReader(distributed::ShmSegment segment, int index) : segment_(std::move(segment)), index_(index) {}
  Status wait_for_slot(uint64_t seq, std::chrono::milliseconds timeout, bool mid_message);
  distributed::ShmSegment segment_;
  int index_;
};

}  // namespace eric::executor
