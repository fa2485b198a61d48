// Range checks for the float parameters of model configs (GGUF metadata, HF config.json). Configs
// hold doubles; the model keeps floats. A double that is NaN, infinite, or outside the float range
// (1e39 -> inf, 1e-39 -> a subnormal, 1e-50 -> 0) loaded without complaint and gave NaN logits or
// garbage perplexity, so every such value is checked here, against a sane range, before narrowing.
#pragma once

#include <seer/status.h>

#include <cfloat>
#include <cmath>
#include <string>

namespace seer {

// An interval of allowed values; `lo_open` / `hi_open` exclude the bound itself.
struct FloatRange {
  double lo = 0.0;
  double hi = 0.0;
  bool lo_open = false;
  bool hi_open = false;
};

// `value` of `key` in `file`, narrowed to float, if it is finite, inside `range` and (unless 0)
// a normal float; otherwise an error naming the file, the key, the value and the range.
inline Result<float> checked_float(const std::string& file, const std::string& key, double value,
                                   FloatRange range) {
  const bool above_lo = range.lo_open ? value > range.lo : value >= range.lo;
  const bool below_hi = range.hi_open ? value < range.hi : value <= range.hi;
  if (!std::isfinite(value) || !above_lo || !below_hi) {
    return Status::error("{}: key '{}': value {} is out of range {}{}, {}{}", file, key, value,
                         range.lo_open ? '(' : '[', range.lo, range.hi, range.hi_open ? ')' : ']');
  }
  const float f = float(value);
  if (value != 0.0 && !(std::fabs(f) >= FLT_MIN)) {
    return Status::error("{}: key '{}': value {} is too small for a float", file, key, value);
  }
  return f;
}

}  // namespace seer
