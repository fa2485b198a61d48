// Minimal stand-in for {fmt}, used only by tests/cuda/CMakeLists.txt (the standalone GPU check
// build) when the GPU machine has no fmt installed. It supports what seer/status.h needs:
// fmt::format_string<Args...> and fmt::format with "{}" fields, "{:.Nf}" / "{:.Ng}" precision
// fields (other specs are ignored) and "{{" / "}}" escapes.
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
// Copies literal text up to the next replacement field, unescaping "{{" and "}}". Returns the
// field's spec (what follows ':') and moves f past the field; false when there is none.
inline bool next_field(std::ostringstream& os, std::string_view& f, std::string_view* spec) {
  size_t i = 0;
  while (i < f.size()) {
    const char c = f[i];
    if ((c == '{' || c == '}') && i + 1 < f.size() && f[i + 1] == c) {
      os << c;
      i += 2;
      continue;
    }
    if (c == '{') {
      const size_t close = f.find('}', i);
      if (close == std::string_view::npos) break;
      std::string_view field = f.substr(i + 1, close - i - 1);
      const size_t colon = field.find(':');
      *spec = colon == std::string_view::npos ? std::string_view() : field.substr(colon + 1);
      f = f.substr(close + 1);
      return true;
    }
    os << c;
    ++i;
  }
  f = std::string_view();
  return false;
}
template <typename A>
void write_arg(std::ostringstream& os, std::string_view spec, const A& a) {
  if constexpr (std::is_floating_point_v<A>) {
    if (spec.size() >= 3 && spec[0] == '.') {
      const int precision = std::stoi(std::string(spec.substr(1, spec.size() - 2)));
      std::ostringstream t;
      if (spec.back() == 'f') t.setf(std::ios::fixed, std::ios::floatfield);
      t.precision(precision);
      t << a;
      os << t.str();
      return;
    }
  }
  os << a;
}
inline void format_rest(std::ostringstream& os, std::string_view f) {
  std::string_view spec;
  while (next_field(os, f, &spec)) os << "{}";
}
template <typename A, typename... Rest>
void format_rest(std::ostringstream& os, std::string_view f, const A& a, const Rest&... rest) {
  std::string_view spec;
  if (!next_field(os, f, &spec)) return;
  write_arg(os, spec, a);
  format_rest(os, f, rest...);
}
}  // namespace detail

template <typename... Args>
std::string format(format_string<Args...> f, Args&&... args) {
  std::ostringstream os;
  detail::format_rest(os, f.str, args...);
  return os.str();
}

}  // namespace fmt
