// Admission control: a bound on work accepted and not yet answered, counted
// in requests and in items. A request that does not fit is refused at once
// (429 with Retry-After) instead of waiting in an unbounded queue, so an
// overloaded server answers every client quickly and keeps its memory bounded.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "router/http_types.h"

namespace eric::router {

class Admission {
 public:
  // Both bounds must be >= 1 (validate_limits checks the options).
  Admission(int64_t max_requests, int64_t max_items, int retry_after_seconds = 1);

  // Room held by one admitted request, given back by release() or when the
  // last copy of the shared_ptr goes.
  class Ticket {
   public:
    ~Ticket() { release(); }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    void release();  // idempotent, thread-safe

   private:
    friend class Admission;
    Ticket(Admission* owner, int64_t requests, int64_t items) : owner_(owner), requests_(requests), items_(items) {}
    Admission* owner_;
    int64_t requests_;
    int64_t items_;
    std::atomic<bool> released_{false};
  };

  // Reserves `requests` requests and `items` items; nullptr (and why, in
  // *refusal) when that would pass a bound. The HTTP layer reserves the
  // request when it arrives, /embeddings its items once the body is parsed.
  // The Admission must outlive its tickets.
  std::shared_ptr<Ticket> try_admit(int64_t requests, int64_t items, std::string* refusal = nullptr);
  // True when not even one more request would fit (cheap check on the
  // request head, before a body is read).
  bool full(std::string* refusal = nullptr) const;
  // The 429 answer: JSON naming the bound, with Retry-After.
  HttpResponse busy(const std::string& refusal) const;

  int64_t requests() const;
  int64_t items() const;
  int64_t max_requests() const { return max_requests_; }
  int64_t max_items() const { return max_items_; }

 private:
  void give_back(int64_t requests, int64_t items);

  const int64_t max_requests_;
  const int64_t max_items_;
  const int retry_after_seconds_;
  mutable std::mutex mu_;
  int64_t requests_ = 0;
  int64_t items_ = 0;
};

}  // namespace eric::router
