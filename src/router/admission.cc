#include "router/admission.h"

#include <fmt/format.h>

#include "router/api_response.h"

namespace eric::router {

Admission::Admission(int64_t max_requests, int64_t max_items, int retry_after_seconds)
    : max_requests_(max_requests), max_items_(max_items), retry_after_seconds_(retry_after_seconds) {}

void Admission::Ticket::release() {
  if (released_.exchange(true)) return;
  owner_->give_back(requests_, items_);
}

std::shared_ptr<Admission::Ticket> Admission::try_admit(int64_t requests, int64_t items, std::string* refusal) {
  std::lock_guard<std::mutex> lock(mu_);
  if (requests_ + requests > max_requests_) {
    if (refusal) {
      *refusal = fmt::format("{} requests are already queued (limit --max-queued-requests {})", requests_,
                             max_requests_);
    }
    return nullptr;
  }
  if (items_ + items > max_items_) {
    if (refusal) {
      *refusal = fmt::format("{} items are already queued and this request adds {} (limit --max-queued-items {})",
                             items_, items, max_items_);
    }
    return nullptr;
  }
  requests_ += requests;
  items_ += items;
  // Not make_shared: the constructor is private to Admission.
  return std::shared_ptr<Ticket>(new Ticket(this, requests, items));
}

bool Admission::full(std::string* refusal) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (requests_ < max_requests_) return false;
  if (refusal) {
    *refusal = fmt::format("{} requests are already queued (limit --max-queued-requests {})", requests_, max_requests_);
  }
  return true;
}

HttpResponse Admission::busy(const std::string& refusal) const {
  HttpResponse r = json_error(429, fmt::format("server busy: {}; retry after {} s", refusal, retry_after_seconds_));
  r.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds_));
  return r;
}

int64_t Admission::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

int64_t Admission::items() const {
  std::lock_guard<std::mutex> lock(mu_);
  return items_;
}

void Admission::give_back(int64_t requests, int64_t items) {
  std::lock_guard<std::mutex> lock(mu_);
  requests_ -= requests;
  items_ -= items;
}

}  // namespace eric::router
