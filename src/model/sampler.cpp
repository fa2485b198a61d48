// Token sampling on the host; see seer/generate.h. The GPU sampler (src/kernels/cuda/sample.cuh)
// follows the same steps on the device.
#include <seer/generate.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace seer {

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {}

int Sampler::sample(std::span<const float> logits) {
  const int n = int(logits.size());
  if (p_.temperature <= 0.0f) return int(std::max_element(logits.begin(), logits.end()) - logits.begin());
  cand_.resize(size_t(n));
  for (int i = 0; i < n; ++i) cand_[size_t(i)] = {logits[size_t(i)], i};
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t keep = size_t(n);
  if (p_.top_k > 0 && p_.top_k < n) {
    keep = size_t(p_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + keep, cand_.end(), by_logit);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  cand_.resize(keep);
  const double mx = cand_[0].first;
  std::vector<double> prob(keep);
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) total += prob[i] = std::exp((cand_[i].first - mx) / p_.temperature);
  if (p_.top_p < 1.0f) {
    double cum = 0.0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      cum += prob[i] / total;
      if (cum >= p_.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
    total = 0.0;
    for (size_t i = 0; i < keep; ++i) total += prob[i];
  }
  const double r = draw() * total;  // = std::uniform_real_distribution<double>(0, total)(rng_)
  double acc = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    acc += prob[i];
    if (r < acc) return cand_[i].second;
  }
  return cand_[keep - 1].second;
}

double Sampler::draw() { return std::generate_canonical<double, std::numeric_limits<double>::digits>(rng_); }

bool Sampler::device_ok(int vocab) const {
  return p_.temperature <= 0.0f || (p_.top_k >= 1 && p_.top_k <= kMaxDeviceTopK && p_.top_k < vocab);
}

}  // namespace seer
