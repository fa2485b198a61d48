// Shared pieces of the trainer (src/train/).
#pragma once

#include <seer/gate_train.h>

#include <cstdint>
#include <vector>

namespace seer {

// splitmix64 step: advances `state` and returns the next 64-bit value (same on every platform).
inline uint64_t splitmix64_next(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Positions of the decode loss tokens of a T-token row: the second half [T/2, T) (SPEC §4.2
// loss_slice_ratio 0.5), or `max_tokens` of them drawn without replacement from `seed`, ascending.
std::vector<int> decode_sample_positions(int T, int max_tokens, uint64_t seed);

// Every layer's examples of one row.
struct RowExamples {
  std::vector<PrefillGateExample> prefill;  // [num_layers] or empty
  std::vector<DecodeGateExample> decode;    // [num_layers] or empty
  int64_t bytes() const {
    int64_t b = 0;
    for (const auto& e : prefill) b += int64_t(e.q_pooled.size() + e.k_pooled.size() + e.gt.size()) * 4;
    for (const auto& e : decode) b += int64_t(e.k_pooled.size() + e.q.size() + e.gt.size() + e.pos.size()) * 4;
    return b;
  }
};

}  // namespace seer
