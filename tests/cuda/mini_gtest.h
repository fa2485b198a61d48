// A tiny stand-in for the part of GoogleTest that the CUDA tests use (TEST, EXPECT_TRUE/LE/EQ,
// ASSERT_TRUE/EQ, GTEST_SKIP, streamed messages, --gtest_filter=<substring>), for machines without
// GTest (the GPU image). It prints "N passed, M failed, K skipped" and exits non-zero on failure.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace mini_gtest {

struct TestCase {
  std::string name;
  std::function<void()> fn;
};
inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> r;
  return r;
}
inline bool& failed() {
  static bool f = false;
  return f;
}
inline bool& skipped() {
  static bool s = false;
  return s;
}
struct Registrar {
  Registrar(const char* suite, const char* name, std::function<void()> fn) {
    registry().push_back({std::string(suite) + "." + name, std::move(fn)});
  }
};
// Collects a streamed message and reports it when the statement ends.
class Report {
 public:
  Report(const char* file, int line, const char* what, bool skip) : file_(file), line_(line), skip_(skip) {
    msg_ << what;
  }
  ~Report() {
    if (skip_) {
      skipped() = true;
      std::printf("  skipped: %s\n", msg_.str().c_str());
    } else {
      failed() = true;
      std::printf("%s:%d: Failure\n  %s\n", file_, line_, msg_.str().c_str());
    }
  }
  template <typename T>
  Report& operator<<(const T& v) {
    msg_ << v;
    return *this;
  }

 private:
  const char* file_;
  int line_;
  bool skip_;
  std::ostringstream msg_;
};
struct Voidify {
  void operator&(const Report&) {}
};

inline int run_all(int argc, char** argv) {
  std::string filter;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--gtest_filter=", 15) == 0) filter = argv[i] + 15;
  if (!filter.empty() && filter.back() == '*') filter.pop_back();  // "Suite.*" → prefix match
  int passed = 0, failures = 0, skips = 0;
  for (auto& t : registry()) {
    if (!filter.empty() && t.name.find(filter) == std::string::npos) continue;
    failed() = skipped() = false;
    std::printf("[ RUN      ] %s\n", t.name.c_str());
    std::fflush(stdout);
    t.fn();
    if (failed()) {
      ++failures;
      std::printf("[  FAILED  ] %s\n", t.name.c_str());
    } else if (skipped()) {
      ++skips;
      std::printf("[  SKIPPED ] %s\n", t.name.c_str());
    } else {
      ++passed;
      std::printf("[       OK ] %s\n", t.name.c_str());
    }
    std::fflush(stdout);
  }
  std::printf("%d passed, %d failed, %d skipped\n", passed, failures, skips);
  return failures == 0 ? 0 : 1;
}

}  // namespace mini_gtest

#define TEST(suite, name)                                                                          \
  static void suite##_##name##_body();                                                             \
  static ::mini_gtest::Registrar suite##_##name##_registrar(#suite, #name, suite##_##name##_body); \
  static void suite##_##name##_body()
#define MINI_GTEST_CHECK_(cond, text) \
  if (cond) {                         \
  } else                              \
    ::mini_gtest::Report(__FILE__, __LINE__, text, false)
#define EXPECT_TRUE(c) MINI_GTEST_CHECK_((c), "expected: " #c " ")
#define EXPECT_LE(a, b) MINI_GTEST_CHECK_((a) <= (b), "expected: " #a " <= " #b " ")
#define EXPECT_EQ(a, b) MINI_GTEST_CHECK_((a) == (b), "expected: " #a " == " #b " ")
#define EXPECT_NE(a, b) MINI_GTEST_CHECK_((a) != (b), "expected: " #a " != " #b " ")
#define EXPECT_FALSE(c) MINI_GTEST_CHECK_(!(c), "expected false: " #c " ")
#define EXPECT_LT(a, b) MINI_GTEST_CHECK_((a) < (b), "expected: " #a " < " #b " ")
#define EXPECT_GE(a, b) MINI_GTEST_CHECK_((a) >= (b), "expected: " #a " >= " #b " ")
#define ASSERT_TRUE(c) \
  if (c) {             \
  } else               \
    return ::mini_gtest::Voidify() & ::mini_gtest::Report(__FILE__, __LINE__, "assertion failed: " #c " ", false)
#define ASSERT_EQ(a, b) ASSERT_TRUE((a) == (b))
#define ASSERT_NEAR(a, b, tol) ASSERT_TRUE(std::fabs(double(a) - double(b)) <= double(tol))
#define GTEST_SKIP() return ::mini_gtest::Voidify() & ::mini_gtest::Report(__FILE__, __LINE__, "", true)
#define MINI_GTEST_MAIN \
  int main(int argc, char** argv) { return ::mini_gtest::run_all(argc, argv); }
