// Command-line values of the benchmark programs: every number checked (whole, in range), so a typo
// ends with a message and code 2 instead of a crash or a silent zero; and the median they report.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace seer::bench {

[[noreturn]] inline void usage_error(const char* prog, const std::string& msg) {
  std::fprintf(stderr, "%s: %s (--help)\n", prog, msg.c_str());
  std::exit(2);
}

inline double number(const char* prog, const char* flag, const std::string& s, double lo, double hi, bool whole) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v))
    usage_error(prog, std::string(flag) + ": expects a number, got '" + s + "'");
  if (whole && v != std::floor(v)) usage_error(prog, std::string(flag) + ": expects a whole number, got " + s);
  if (v < lo || v > hi) {
    std::ostringstream r;
    r.precision(12);
    r << flag << ": must be in [" << lo << ", " << hi << "], got " << s;
    usage_error(prog, r.str());
  }
  return v;
}

// "a,b,c": each item as number() checks it; an empty list is allowed where `allow_empty`.
inline std::vector<double> numbers(const char* prog, const char* flag, const std::string& s, double lo, double hi,
                                   bool whole, bool allow_empty = true) {
  std::vector<double> v;
  if (s.empty()) {
    if (!allow_empty) usage_error(prog, std::string(flag) + ": expects a list of numbers");
    return v;
  }
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(number(prog, flag, item, lo, hi, whole));
  if (!s.empty() && s.back() == ',') usage_error(prog, std::string(flag) + ": an empty item in '" + s + "'");
  return v;
}

// -t: 0 (every core) up to 4 per core, as `seer -t` (more only oversubscribes the thread pool).
inline int threads(const char* prog, const std::string& s) {
  const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  return int(number(prog, "-t", s, 0, 4.0 * cores, true));
}

// The median of `v` (sorted): the middle value, or the mean of the two middle ones.
inline double median(const std::vector<double>& v) {
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace seer::bench
