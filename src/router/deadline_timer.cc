#include "router/deadline_timer.h"

#include <vector>

namespace eric::router {

DeadlineTimer::DeadlineTimer() : thread_([this] { loop(); }) {}

DeadlineTimer::~DeadlineTimer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  // Dropped outside the lock: a callback's captures may do work when destroyed.
  decltype(due_) dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    dropped.swap(due_);
    by_id_.clear();
  }
}

uint64_t DeadlineTimer::schedule(Clock::time_point when, std::function<void()> fn) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_id_++;
    auto it = due_.emplace(when, std::make_pair(id, std::move(fn)));
    by_id_.emplace(id, it);
  }
  cv_.notify_all();
  return id;
}

void DeadlineTimer::cancel(uint64_t id) {
  std::function<void()> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  dropped = std::move(it->second->second.second);
  due_.erase(it->second);
  by_id_.erase(it);
}

size_t DeadlineTimer::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return due_.size();
}

void DeadlineTimer::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (due_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const auto when = due_.begin()->first;
    if (Clock::now() < when) {
      cv_.wait_until(lock, when);
      continue;
    }
    std::vector<std::function<void()>> fire;
    while (!due_.empty() && due_.begin()->first <= Clock::now()) {
      by_id_.erase(due_.begin()->second.first);
      fire.push_back(std::move(due_.begin()->second.second));
      due_.erase(due_.begin());
    }
    lock.unlock();
    for (auto& fn : fire) fn();
    fire.clear();
    lock.lock();
  }
}

}  // namespace eric::router
