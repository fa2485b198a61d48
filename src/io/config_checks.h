// Checks the model loaders (GGUF, HF) share: range checks for the float parameters of model configs
// (GGUF metadata, HF config.json), and the tally of tensors a loader did not use. Configs
// hold doubles; the model keeps floats. A double that is NaN, infinite, or outside the float range
// (1e39 -> inf, 1e-39 -> a subnormal, 1e-50 -> 0) loaded without complaint and gave NaN logits or
// garbage perplexity, so every such value is checked here, against a sane range, before narrowing.
#pragma once

#include <seer/status.h>

#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

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

// N of a "<prefix>N.*" tensor name ("blk." in GGUF, "model.layers." in Hugging Face files), -1 for
// other names.
inline int64_t layer_of(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return -1;
  int64_t n = -1;
  const char* begin = name.data() + prefix.size();
  const char* end = name.data() + name.size();
  const auto [next, ec] = std::from_chars(begin, end, n);
  if (ec != std::errc() || next == begin || next == end || *next != '.') return -1;
  return n;
}

// The tensors a loader did not take, in the order given to add(): the first of a layer at or past
// the model's layer count (a count too small for the file: reported first) and the first other one,
// each with its file, and how many of each.
struct UnusedTensors {
  UnusedTensors(int layers, std::string_view prefix) : num_layers(layers), layer_prefix(prefix) {}
  int num_layers;
  std::string_view layer_prefix;
  std::string first_beyond, beyond_file, first_other, other_file;
  int64_t first_layer = 0;
  size_t beyond = 0, other = 0;

  void add(const std::string& name, const std::string& file) {
    const int64_t layer = layer_of(name, layer_prefix);
    if (layer >= num_layers) {
      if (beyond++ == 0) first_beyond = name, beyond_file = file, first_layer = layer;
    } else if (other++ == 0) {
      first_other = name, other_file = file;
    }
  }
};

}  // namespace seer
