#include "executor/shm_ring.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <new>

#include "distributed/futex.h"
#include "executor/process.h"

namespace eric::executor {

namespace {

using distributed::futex_wait;
using distributed::futex_wake_all;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kMagic = 0x45524e47;  // "ERNG"
constexpr int kMaxReaders = 64;
constexpr auto kLivenessPoll = std::chrono::milliseconds(100);

struct alignas(64) ReaderState {
  std::atomic<uint64_t> consumed;  // slots this reader has finished with
  std::atomic<int32_t> pid;        // 0 until attached
};

struct alignas(64) RingHeader {
  uint32_t magic;
  uint32_t num_readers;
  uint32_t num_slots;
  uint32_t reserved;
  uint64_t slot_bytes;
  int32_t writer_pid;
  std::atomic<uint32_t> closed;
  alignas(64) std::atomic<uint64_t> published;  // slots written so far
  std::atomic<uint32_t> publish_futex;          // bumped at each publish and at close
  alignas(64) std::atomic<uint32_t> consume_futex;  // bumped at each consume
  ReaderState readers[kMaxReaders];
};

struct SlotHeader {
  uint64_t seq;            // which publish this slot holds (sanity check)
  uint64_t message_bytes;  // whole message (same in every chunk)
  uint64_t chunk_bytes;    // bytes of this chunk in the slot
  uint64_t reserved;
};
static_assert(sizeof(SlotHeader) == 32);

size_t slot_stride(size_t slot_bytes) { return (slot_bytes + 63) / 64 * 64; }
size_t header_bytes() { return (sizeof(RingHeader) + 63) / 64 * 64; }

RingHeader* header_of(const distributed::ShmSegment& s) { return static_cast<RingHeader*>(s.data()); }

uint8_t* slot_at(const distributed::ShmSegment& s, uint64_t seq) {
  RingHeader* h = header_of(s);
  return static_cast<uint8_t*>(s.data()) + header_bytes() + (seq % h->num_slots) * slot_stride(h->slot_bytes);
}

}  // namespace

// ---------------------------------------------------------------- writer

Result<std::unique_ptr<ShmRingWriter>> ShmRingWriter::create(const ShmRingOptions& o) {
  if (o.num_readers < 1 || o.num_readers > kMaxReaders) {
    return InvalidArgument("shm ring: {} readers (must be 1..{})", o.num_readers, kMaxReaders);
  }
  if (o.num_slots < 1) return InvalidArgument("shm ring: needs at least one slot");
  if (o.slot_bytes < sizeof(SlotHeader) + 64) return InvalidArgument("shm ring: slot of {} bytes is too small", o.slot_bytes);
  const size_t bytes = header_bytes() + o.num_slots * slot_stride(o.slot_bytes);
  ERIC_ASSIGN_OR_RETURN(distributed::ShmSegment seg, distributed::ShmSegment::create("ring", bytes));
  auto* h = new (seg.data()) RingHeader();
  h->num_readers = static_cast<uint32_t>(o.num_readers);
  h->num_slots = o.num_slots;
  h->slot_bytes = o.slot_bytes;
  h->writer_pid = getpid();
  h->closed.store(0);
  h->published.store(0);
  h->publish_futex.store(0);
  h->consume_futex.store(0);
  for (auto& r : h->readers) {
    r.consumed.store(0);
    r.pid.store(0);
  }
  std::atomic_thread_fence(std::memory_order_release);
  h->magic = kMagic;
  return std::unique_ptr<ShmRingWriter>(new ShmRingWriter(std::move(seg)));
}

ShmRingWriter::~ShmRingWriter() { close(); }

int ShmRingWriter::num_readers() const { return static_cast<int>(header_of(segment_)->num_readers); }

void ShmRingWriter::close() {
  if (segment_.data() == nullptr) return;
  RingHeader* h = header_of(segment_);
  if (h->closed.exchange(1) == 0) {
    h->publish_futex.fetch_add(1, std::memory_order_acq_rel);
    futex_wake_all(&h->publish_futex);
  }
}

Status ShmRingWriter::wait_for_free_slot(uint64_t seq, std::chrono::milliseconds timeout) {
  RingHeader* h = header_of(segment_);
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const uint32_t seen = h->consume_futex.load(std::memory_order_acquire);
    // The slot for `seq` last held seq - num_slots; every reader must be past it.
    int slowest = -1;
    uint64_t slowest_consumed = std::numeric_limits<uint64_t>::max();
    for (uint32_t r = 0; r < h->num_readers; ++r) {
      uint64_t c = h->readers[r].consumed.load(std::memory_order_acquire);
      if (c < slowest_consumed) {
        slowest_consumed = c;
        slowest = static_cast<int>(r);
      }
    }
    if (seq < slowest_consumed + h->num_slots) return Status::Ok();
    const int32_t pid = h->readers[slowest].pid.load(std::memory_order_acquire);
    if (pid != 0 && !process_alive(pid)) {
      return Unavailable("shm ring {}: reader {} (pid {}) died; the ring is full", segment_.name(), slowest, pid);
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      return DeadlineExceeded("shm ring {}: reader {} (pid {}) has not consumed a message for {} ms (stuck or not started)",
                              segment_.name(), slowest, pid, timeout.count());
    }
    futex_wait(&h->consume_futex, seen, std::min<Clock::duration>(deadline - now, kLivenessPoll));
  }
}

Status ShmRingWriter::write(const std::vector<std::string_view>& parts, std::chrono::milliseconds timeout) {
  RingHeader* h = header_of(segment_);
  if (h->closed.load()) return Unavailable("shm ring {} is closed", segment_.name());
  size_t total = 0;
  for (auto p : parts) total += p.size();
  const size_t chunk_capacity = h->slot_bytes - sizeof(SlotHeader);
  size_t part = 0, part_offset = 0, written = 0;
  do {
    const uint64_t seq = h->published.load(std::memory_order_relaxed);
    ERIC_RETURN_IF_ERROR(wait_for_free_slot(seq, timeout));
    uint8_t* slot = slot_at(segment_, seq);
    const size_t chunk = std::min(chunk_capacity, total - written);
    auto* sh = reinterpret_cast<SlotHeader*>(slot);
    sh->seq = seq;
    sh->message_bytes = total;
    sh->chunk_bytes = chunk;
    uint8_t* out = slot + sizeof(SlotHeader);
    size_t left = chunk;
    while (left > 0) {
      const size_t n = std::min(left, parts[part].size() - part_offset);
      std::memcpy(out, parts[part].data() + part_offset, n);
      out += n;
      left -= n;
      part_offset += n;
      if (part_offset == parts[part].size()) {
        ++part;
        part_offset = 0;
      }
    }
    written += chunk;
    h->published.store(seq + 1, std::memory_order_release);
    h->publish_futex.fetch_add(1, std::memory_order_acq_rel);
    futex_wake_all(&h->publish_futex);
  } while (written < total);
  return Status::Ok();
}

// ---------------------------------------------------------------- reader

Result<std::unique_ptr<ShmRingReader>> ShmRingReader::open(const std::string& name, int reader_index) {
  ERIC_ASSIGN_OR_RETURN(distributed::ShmSegment seg, distributed::ShmSegment::open(name));
  if (seg.size() < header_bytes()) return DataLoss("shm ring {} is too small", name);
  RingHeader* h = header_of(seg);
  if (h->magic != kMagic) return DataLoss("shared memory {} is not an eric ring", name);
  if (h->num_slots == 0 || seg.size() < header_bytes() + h->num_slots * slot_stride(h->slot_bytes)) {
    return DataLoss("shm ring {} is smaller than its header says", name);
  }
  if (reader_index < 0 || reader_index >= static_cast<int>(h->num_readers)) {
    return InvalidArgument("shm ring {}: reader index {} out of range (ring has {} readers)", name, reader_index,
                           h->num_readers);
  }
  h->readers[reader_index].pid.store(getpid(), std::memory_order_release);
  return std::unique_ptr<ShmRingReader>(new ShmRingReader(std::move(seg), reader_index));
}

Status ShmRingReader::wait_for_slot(uint64_t seq, std::chrono::milliseconds timeout, bool mid_message) {
  RingHeader* h = header_of(segment_);
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const uint32_t seen = h->publish_futex.load(std::memory_order_acquire);
    if (h->published.load(std::memory_order_acquire) > seq) return Status::Ok();
    if (h->closed.load(std::memory_order_acquire)) return Unavailable("shm ring {} was closed by the writer", segment_.name());
    if (!process_alive(h->writer_pid)) {
      return Unavailable("shm ring {}: the writer (pid {}) died", segment_.name(), h->writer_pid);
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      if (mid_message) {
        return Unavailable("shm ring {}: the writer stopped in the middle of a message", segment_.name());
      }
      return DeadlineExceeded("shm ring {}: no message within {} ms", segment_.name(), timeout.count());
    }
    futex_wait(&h->publish_futex, seen, std::min<Clock::duration>(deadline - now, kLivenessPoll));
  }
}

Result<std::string> ShmRingReader::read(std::chrono::milliseconds timeout) {
  RingHeader* h = header_of(segment_);
  ReaderState& me = h->readers[index_];
  std::string message;
  size_t received = 0;
  bool first = true;
  do {
    const uint64_t seq = me.consumed.load(std::memory_order_relaxed);
    ERIC_RETURN_IF_ERROR(wait_for_slot(seq, timeout, !first));
    const uint8_t* slot = slot_at(segment_, seq);
    SlotHeader sh;
    std::memcpy(&sh, slot, sizeof(sh));
    const size_t capacity = h->slot_bytes - sizeof(SlotHeader);
    if (sh.seq != seq || sh.chunk_bytes > capacity || sh.message_bytes < received + sh.chunk_bytes ||
        (!first && sh.message_bytes != message.size())) {
      return DataLoss("shm ring {}: slot for message {} is corrupt", segment_.name(), seq);
    }
    if (first) {
      message.resize(sh.message_bytes);
      first = false;
    }
    std::memcpy(message.data() + received, slot + sizeof(SlotHeader), sh.chunk_bytes);
    received += sh.chunk_bytes;
    me.consumed.store(seq + 1, std::memory_order_release);
    h->consume_futex.fetch_add(1, std::memory_order_acq_rel);
    futex_wake_all(&h->consume_futex);
    if (sh.chunk_bytes == 0 && received < message.size()) {
      return DataLoss("shm ring {}: empty chunk inside a message", segment_.name());
    }
  } while (received < message.size());
  return message;
}

}  // namespace eric::executor
