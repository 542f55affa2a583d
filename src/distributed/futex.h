// Blocking waits on a 32-bit word in (possibly shared) memory, for the
// shared-memory ring and collective: a waiter sleeps in the kernel instead of
// spinning, and every wait has a timeout so a dead peer is noticed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace eric::distributed {

static_assert(sizeof(std::atomic<uint32_t>) == 4 && std::atomic<uint32_t>::is_always_lock_free,
              "futex words must be plain lock-free 32-bit atomics");

// Sleeps while `*word == expected`, for at most `timeout`. Returns when woken,
// when the word differs, on a signal or at the timeout (callers re-check their
// condition in a loop). Works across processes (not FUTEX_PRIVATE).
void futex_wait(std::atomic<uint32_t>* word, uint32_t expected, std::chrono::nanoseconds timeout);

// Wakes every waiter on `word`.
void futex_wake_all(std::atomic<uint32_t>* word);

}  // namespace eric::distributed
