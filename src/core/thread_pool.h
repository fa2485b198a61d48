// A small persistent thread pool. parallel_for(n, fn) runs fn(i, thread_id) for i in [0, n)
// with dynamic scheduling (an atomic counter); the calling thread takes part as thread 0.
//
// A decode step issues a few hundred parallel_for calls, so handing out work must cost
// microseconds, and an oversubscribed machine (CI running two test processes, a busy desktop)
// must not turn each call into a scheduler time slice. Hence:
//  * workers spin briefly on a generation counter before they block on a condition variable;
//  * the caller waits only for items to be *done*, never for every worker to check in: a worker
//    that was descheduled and wakes late finds the job exhausted and goes back to waiting.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
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
  struct Job {
    const std::function<void(int64_t, int)>* fn = nullptr;
    int64_t n = 0;
    alignas(64) std::atomic<int64_t> next{0};  // claimed by every item: a line of its own
    alignas(64) std::atomic<int64_t> done{0};  // items finished, added once per thread
  };
  static void run_items(Job& job, int thread_id);
  void worker(int thread_id);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<Job> job_;  // guarded by mu_
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
};

int hardware_threads();

}  // namespace seer
