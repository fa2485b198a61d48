// ThreadPool: every index runs exactly once, across many back-to-back jobs of every size, with
// more threads than cores (the late-worker path), and the caller returns only when all are done.
#include "core/thread_pool.h"

#include <atomic>
#include <vector>

#include "test_util.h"

namespace seer {
namespace {

TEST(ThreadPool, EveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int rep = 0; rep < 300; ++rep) {
      const int64_t n = rep % 37;
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> bad_tid{0};
      pool.parallel_for(n, [&](int64_t i, int tid) {
        hits[size_t(i)].fetch_add(1);
        if (tid < 0 || tid >= threads) bad_tid.fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "threads " << threads << " n " << n;
      ASSERT_EQ(bad_tid.load(), 0);
    }
  }
}

TEST(ThreadPool, CallerSeesAllWrites) {
  ThreadPool pool(4);
  std::vector<int64_t> out(10000);
  for (int rep = 0; rep < 50; ++rep) {
    pool.parallel_for(int64_t(out.size()), [&](int64_t i, int) { out[size_t(i)] = i * rep; });
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], int64_t(i) * rep);
  }
}

}  // namespace
}  // namespace seer
