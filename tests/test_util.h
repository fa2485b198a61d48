// Shared helpers for tests: fresh random data, poisoning, tolerant comparisons.
#pragma once

#include <gtest/gtest.h>
#include <seer/status.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <future>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace seer::test {

// Runs `load` on a thread. If it has not returned within 10 s (blocked in open() of the FIFO
// `fifo`, which waits for a writer), the test fails and the FIFO's write end is opened, so that
// the blocked open() returns and the thread can be joined.
inline Status run_against_fifo(const std::string& fifo, std::function<Status()> load) {
  auto done = std::async(std::launch::async, std::move(load));
  if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "the loader blocked on the FIFO " << fifo;
    while (done.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
      if (fd >= 0) ::close(fd);
    }
  }
  return done.get();
}


inline std::vector<float> random_vector(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A prefill density:ρ whose Top-K k (density_top_k: int((1 - sqrt(1 - ρ)) * nb)) is k, 1 <= k <= nb.
inline double density_for_top_k(int k, int nb) { return k >= nb ? 1.0 : 1.0 - std::pow(1.0 - (k + 0.5) / nb, 2.0); }

// Fills with NaN so that an element the kernel forgets to write is caught.
inline void poison(std::vector<float>& v) { std::fill(v.begin(), v.end(), std::numeric_limits<float>::quiet_NaN()); }

// max |a - b| with NaN/Inf anywhere as a failure; returns the max abs diff.
inline double max_abs_diff(const float* a, const float* b, size_t n, std::string* why = nullptr) {
  double m = 0.0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) {
      if (why) *why = "non-finite value at index " + std::to_string(i);
      return std::numeric_limits<double>::infinity();
    }
    m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  }
  return m;
}

inline std::string source_path(const std::string& rel) { return std::string(SEER_SOURCE_DIR) + "/" + rel; }

}  // namespace seer::test
