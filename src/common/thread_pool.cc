#include "common/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <memory>

namespace eric {

namespace {
int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}
std::atomic<int> g_global_threads{0};
}  // namespace

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(num_threads <= 0 ? hardware_threads() : num_threads) {
  // One worker per thread beyond the caller, but at least one so that
  // submit() always has somewhere to run.
  int workers = std::max(1, num_threads_ - 1);
  workers_.reserve(workers);
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::enqueue(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void ThreadPool::worker_loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping and drained
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t max_chunks = (n + grain - 1) / grain;
  int64_t chunks = std::min<int64_t>(num_threads_, max_chunks);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  // Shared state lives on the heap of this call; workers pick chunk indices
  // from an atomic counter so a slow worker does not hold up the rest.
  struct State {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    std::mutex mu;
    std::condition_variable cv;
  };
  auto state = std::make_shared<State>();
  const int64_t base = n / chunks, rem = n % chunks;
  auto chunk_range = [=](int64_t c) {
    int64_t begin = c * base + std::min(c, rem);
    int64_t end = begin + base + (c < rem ? 1 : 0);
    return std::pair<int64_t, int64_t>(begin, end);
  };
  auto run_chunks = [state, chunks, chunk_range, &fn] {
    for (;;) {
      int64_t c = state->next.fetch_add(1);
      if (c >= chunks) return;
      auto [b, e] = chunk_range(c);
      fn(b, e);
      if (state->done.fetch_add(1) + 1 == chunks) {
        std::lock_guard<std::mutex> lock(state->mu);
        state->cv.notify_all();
      }
    }
  };
  for (int64_t i = 1; i < chunks; ++i) enqueue(run_chunks);
  run_chunks();
  std::unique_lock<std::mutex> lock(state->mu);
  state->cv.wait(lock, [&] { return state->done.load() == chunks; });
}

ThreadPool& ThreadPool::global() {
  static ThreadPool pool(g_global_threads.load());
  return pool;
}

void ThreadPool::set_global_threads(int num_threads) { g_global_threads.store(num_threads); }

}  // namespace eric
