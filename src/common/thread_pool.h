// A fixed-size thread pool. Two uses:
//   * parallel_for: data-parallel loops in kernels; the calling thread takes
//     part, so a pool of N threads keeps N cores busy with N-1 workers.
//   * submit: independent tasks (e.g. preprocessing requests), with a future.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace eric {

class ThreadPool {
 public:
  // num_threads counts the caller for parallel_for: a pool of 1 runs inline.
  // 0 means "all hardware threads".
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end) over disjoint chunks covering [0, n). Chunks hold at
  // least `grain` items. Returns when every chunk is done. fn must not throw.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // Runs fn on a worker thread.
  template <typename F>
  auto submit(F fn) -> std::future<decltype(fn())> {
    using R = decltype(fn());
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(fn));
    auto fut = task->get_future();
    enqueue([task] { (*task)(); });
    return fut;
  }

  // The process-wide pool used by kernels. Its size is set once, before first
  // use, by set_global_threads (the --threads option); default: all cores.
  static ThreadPool& global();
  static void set_global_threads(int num_threads);

 private:
  void enqueue(std::function<void()> job);
  void worker_loop();

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
};

}  // namespace eric
