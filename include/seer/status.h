// Status and Result<T>: how every library function that can fail reports it.
// No exception crosses the library boundary and nothing inside the library calls exit().
// Messages name the file, the field and the offending value, e.g.
//   "model.gguf: tensor 'blk.0.attn_q.weight': offset 123456 + size 9999 is beyond the file (100000 bytes)".
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace seer {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  template <typename... Args>
  static Status error(fmt::format_string<Args...> f, Args&&... args) {
    Status s;
    s.ok_ = false;
    s.message_ = fmt::format(f, std::forward<Args>(args)...);
    return s;
  }
  bool is_ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const std::string& message() const { return message_; }
  // Prefixes context ("while loading X: ...") to an error; no-op on success.
  Status with_context(const std::string& ctx) const {
    if (ok_) return *this;
    Status s = *this;
    s.message_ = ctx + ": " + message_;
    return s;
  }

 private:
  bool ok_ = true;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status status) : v_(std::move(status)) {
    if (std::get<Status>(v_).is_ok()) std::abort();  // a Result built from ok() is a bug
  }
  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace seer

// Propagate an error Status from an expression returning Status.
#define SEER_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    ::seer::Status seer_status_ = (expr);           \
    if (!seer_status_.is_ok()) return seer_status_; \
  } while (0)

#define SEER_CONCAT_INNER_(a, b) a##b
#define SEER_CONCAT_(a, b) SEER_CONCAT_INNER_(a, b)
// `SEER_ASSIGN_OR_RETURN(auto x, f());` unwraps a Result<T> or returns its error.
#define SEER_ASSIGN_OR_RETURN(lhs, expr) \
  SEER_ASSIGN_OR_RETURN_IMPL_(SEER_CONCAT_(seer_result_, __LINE__), lhs, expr)
#define SEER_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.is_ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

// Invariants that only a bug can break.
#define SEER_ASSERT(cond)                                                          \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "seer: internal error: %s:%d: assertion failed: %s\n", \
                   __FILE__, __LINE__, #cond);                                     \
      std::abort();                                                                \
    }                                                                              \
  } while (0)
