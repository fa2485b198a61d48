// Gate helpers shared by the inference gates (gates.cpp) and the gate-training math
// (gate_train.cpp): the gate RoPE frequencies and block pooling. Private to src/seer.
//
// Pooled features are [|pools| * head_dim] per block, pools concatenated in the order they are
// listed (always max | min | avg after parsing, SPEC §1.2); avg divides by the real token count.
#pragma once

#include <seer/gates.h>

#include "kernels/cpu/ops.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace seer::gate_detail {

constexpr float kNormEps = 1e-6f;  // attngate_qnorm / knorm RMSNorm eps (SPEC §2.1)

// "[2, 384, 128]" for error messages.
inline std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// The base model's RoPE recomputed for dg rotary dims; *scale gets the attention factor.
inline std::vector<float> gate_inv_freq(const GateSet& g, float* scale) {
  ModelConfig c = g.model;
  c.head_dim = g.config.hidden_size;
  return rope_inv_freq(c, scale);
}

// Writes the pooled feature [|pools| * d] from running max/min/sum over `count` tokens.
inline void write_features(const std::vector<PoolType>& pools, const float* mx, const float* mn,
                           const float* sum, int count, int d, float* feat /*[|pools|*d]*/) {
  const float inv = 1.0f / float(count);
  for (size_t p = 0; p < pools.size(); ++p) {
    float* f = feat + p * d;
    switch (pools[p]) {
      case PoolType::kMax: std::copy_n(mx, d, f); break;
      case PoolType::kMin: std::copy_n(mn, d, f); break;
      case PoolType::kAvg:
        for (int i = 0; i < d; ++i) f[i] = sum[i] * inv;
        break;
    }
  }
}

// Running max / min / sum of `count` vectors of n floats, `stride` floats apart; only the
// statistics `pools` needs are accumulated (prefill Q is usually avg only).
inline void pool_stats(const std::vector<PoolType>& pools, const float* x, int count, int64_t stride,
                       int64_t n, float* __restrict mx, float* __restrict mn, float* __restrict sum) {
  bool need[3] = {false, false, false};
  for (PoolType p : pools) need[int(p)] = true;
  std::copy_n(x, n, mx);
  std::copy_n(x, n, mn);
  std::copy_n(x, n, sum);
  for (int t = 1; t < count; ++t) {
    const float* __restrict v = x + t * stride;
    if (need[0])
      for (int64_t i = 0; i < n; ++i) mx[i] = v[i] > mx[i] ? v[i] : mx[i];
    if (need[1])
      for (int64_t i = 0; i < n; ++i) mn[i] = v[i] < mn[i] ? v[i] : mn[i];
    if (need[2])
      for (int64_t i = 0; i < n; ++i) sum[i] += v[i];
  }
}

}  // namespace seer::gate_detail
