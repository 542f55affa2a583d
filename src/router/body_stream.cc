#include "router/body_stream.h"

namespace eric::router {

void BodyStream::wake(std::unique_lock<std::mutex>& lock) {
  if (!waiting_ || !notify_) return;
  waiting_ = false;
  auto notify = notify_;
  lock.unlock();  // the notifier posts to the server's strand; never call out under the lock
  notify();
}

void BodyStream::write(std::string data) {
  std::unique_lock<std::mutex> lock(mu_);
  if (finished_ || failed_ || cancelled_ || data.empty()) return;
  if (pending_.size() + data.size() > max_pending_) {
    // The client is not reading: cut its answer short and stop the producer
    // rather than buffer without bound.
    pending_.clear();
    failed_ = true;
    cancelled_ = true;
    auto stop = std::move(on_cancel_);
    wake(lock);
    if (lock.owns_lock()) lock.unlock();
    if (stop) stop();
    return;
  }
  pending_ += data;
  wake(lock);
}

void BodyStream::finish() {
  std::unique_lock<std::mutex> lock(mu_);
  if (finished_ || failed_) return;
  finished_ = true;
  wake(lock);
}

void BodyStream::fail() {
  std::unique_lock<std::mutex> lock(mu_);
  if (finished_ || failed_) return;
  failed_ = true;
  wake(lock);
}

bool BodyStream::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

void BodyStream::on_cancel(std::function<void()> fn) {
  std::unique_lock<std::mutex> lock(mu_);
  if (cancelled_) {
    lock.unlock();
    fn();
    return;
  }
  on_cancel_ = std::move(fn);
}

BodyStream::Taken BodyStream::take() {
  std::lock_guard<std::mutex> lock(mu_);
  Taken t;
  t.data.swap(pending_);
  t.finished = finished_;
  t.failed = failed_;
  if (t.data.empty() && !t.finished && !t.failed) waiting_ = true;
  return t;
}

void BodyStream::set_notifier(std::function<void()> notify) {
  std::lock_guard<std::mutex> lock(mu_);
  notify_ = std::move(notify);
}

void BodyStream::cancel() {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    pending_.clear();
    fn = std::move(on_cancel_);
    notify_ = nullptr;
  }
  if (fn) fn();
}

}  // namespace eric::router
