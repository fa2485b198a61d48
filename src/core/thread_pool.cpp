// Persistent thread pool; see thread_pool.h.
#include "core/thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define SEER_CPU_RELAX() _mm_pause()
#else
#define SEER_CPU_RELAX() std::this_thread::yield()
#endif

namespace seer {

namespace {
constexpr int kSpinIterations = 20000;  // ~0.1-1 ms of spinning before a worker sleeps
}

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(num_threads <= 0 ? hardware_threads() : num_threads) {
  for (int t = 1; t < num_threads_; ++t) workers_.emplace_back([this, t] { worker(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_items(int thread_id) {
  for (;;) {
    int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= job_n_) break;
    (*job_)(i, thread_id);
  }
}

void ThreadPool::worker(int thread_id) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_relaxed)) {
      if (++spins < kSpinIterations) {
        SEER_CPU_RELAX();
        continue;
      }
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    run_items(thread_id);
    active_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int)>& fn) {
  if (n <= 0) return;
  if (num_threads_ == 1 || n == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  job_ = &fn;
  job_n_ = n;
  next_.store(0, std::memory_order_relaxed);
  active_.store(num_threads_ - 1, std::memory_order_relaxed);
  {
    // The lock orders the generation bump against a worker that is about to sleep.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_all();
  run_items(0);
  // Spin, then yield: on an oversubscribed machine a descheduled worker needs our core.
  for (int spins = 0; active_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 2000)
      SEER_CPU_RELAX();
    else
      std::this_thread::yield();
  }
  job_ = nullptr;
}

}  // namespace seer
