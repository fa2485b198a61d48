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
constexpr int kWorkerSpins = 20000;  // ~0.1-1 ms of spinning before a worker sleeps
constexpr int kCallerSpins = 2000;   // then the caller yields its core while it waits
}  // namespace

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

void ThreadPool::run_items(Job& job, int thread_id) {
  int64_t ran = 0;  // counted once at the end: one write to the shared `done` per thread, not per item
  for (;;) {
    const int64_t i = job.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= job.n) break;  // exhausted: the caller no longer needs us (fn may be gone)
    (*job.fn)(i, thread_id);
    ++ran;
  }
  if (ran > 0) job.done.fetch_add(ran, std::memory_order_release);
}

void ThreadPool::worker(int thread_id) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_relaxed)) {
      if (++spins < kWorkerSpins) {
        SEER_CPU_RELAX();
        continue;
      }
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
    }
    if (stop_.load()) return;
    std::shared_ptr<Job> job;
    {
      std::lock_guard<std::mutex> lock(mu_);
      job = job_;
      seen = generation_.load(std::memory_order_relaxed);
    }
    if (job) run_items(*job, thread_id);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int)>& fn) {
  if (n <= 0) return;
  if (num_threads_ == 1 || n == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = job;
    generation_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_all();
  run_items(*job, 0);
  for (int spins = 0; job->done.load(std::memory_order_acquire) != n; ++spins) {
    if (spins < kCallerSpins)
      SEER_CPU_RELAX();
    else
      std::this_thread::yield();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (job_ == job) job_.reset();
}

}  // namespace seer
