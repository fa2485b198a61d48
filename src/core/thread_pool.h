// A small persistent thread pool. parallel_for(n, fn) runs fn(i, thread_id) for i in [0, n)
// with dynamic scheduling (an atomic counter); the calling thread takes part as thread 0.
// A decode step issues a few hundred parallel_for calls, so waking workers must cost
// microseconds: workers spin briefly on the job generation counter before they block on a
// condition variable, and the caller spins until the job is done.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace seer {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);  // total threads including the caller; <= 0: hardware
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return num_threads_; }
  void parallel_for(int64_t n, const std::function<void(int64_t i, int thread_id)>& fn);

 private:
  void worker(int thread_id);
  void run_items(int thread_id);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void(int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> active_{0};
  std::atomic<bool> stop_{false};
};

int hardware_threads();

}  // namespace seer
