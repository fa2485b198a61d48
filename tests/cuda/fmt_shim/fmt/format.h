// Minimal stand-in for {fmt}, used only by tests/cuda/CMakeLists.txt (the standalone GPU check
// build) when the GPU machine has no fmt installed. It supports what seer/status.h needs:
// fmt::format_string<Args...> and fmt::format with plain "{}" fields.
#pragma once

#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>

namespace fmt {

template <typename... Args>
struct basic_format_string {
  std::string_view str;
  template <typename S>
  basic_format_string(const S& s) : str(s) {}
};
// As in fmt: a non-deduced context, so Args come from the arguments only.
template <typename... Args>
using format_string = basic_format_string<std::type_identity_t<Args>...>;

namespace detail {
inline void format_rest(std::ostringstream& os, std::string_view f) { os << f; }
template <typename A, typename... Rest>
void format_rest(std::ostringstream& os, std::string_view f, const A& a, const Rest&... rest) {
  const size_t at = f.find("{}");
  if (at == std::string_view::npos) {
    os << f;
    return;
  }
  os << f.substr(0, at) << a;
  format_rest(os, f.substr(at + 2), rest...);
}
}  // namespace detail

template <typename... Args>
std::string format(format_string<Args...> f, Args&&... args) {
  std::ostringstream os;
  detail::format_rest(os, f.str, args...);
  return os.str();
}

}  // namespace fmt
