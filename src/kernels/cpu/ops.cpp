// Elementwise and row-wise CPU ops; see ops.h. RoPE scaling follows the Hugging Face definitions
// (_compute_llama3_parameters, _compute_yarn_parameters).
#include "kernels/cpu/ops.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace seer {

void rmsnorm(const float* x, const float* w, float* y, int64_t n, int dim, float eps) {
  for (int64_t t = 0; t < n; ++t) {
    const float* xr = x + t * dim;
    float* yr = y + t * dim;
    double ss = 0.0;
    for (int i = 0; i < dim; ++i) ss += double(xr[i]) * xr[i];
    float scale = float(1.0 / std::sqrt(ss / dim + eps));
    for (int i = 0; i < dim; ++i) yr[i] = xr[i] * scale * w[i];
  }
}

std::vector<float> rope_inv_freq(const ModelConfig& c, float* attention_scale) {
  const int half = c.head_dim / 2;
  std::vector<float> inv(half);
  std::vector<double> base(half);
  for (int i = 0; i < half; ++i) base[i] = 1.0 / std::pow(double(c.rope_theta), 2.0 * i / c.head_dim);
  *attention_scale = 1.0f;
  const RopeScaling& s = c.rope_scaling;
  switch (s.type) {
    case RopeScalingType::kNone:
      for (int i = 0; i < half; ++i) inv[i] = float(base[i]);
      break;
    case RopeScalingType::kLlama3: {
      const double old_ctx = s.original_max_position;
      const double low_wavelen = old_ctx / s.low_freq_factor;
      const double high_wavelen = old_ctx / s.high_freq_factor;
      for (int i = 0; i < half; ++i) {
        double f = base[i];
        double wavelen = 2.0 * std::numbers::pi / f;
        double out = wavelen > low_wavelen ? f / s.factor : f;
        bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
        if (medium) {
          double smooth = (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
          out = (1.0 - smooth) * out / s.factor + smooth * out;
        }
        inv[i] = float(out);
      }
      break;
    }
    case RopeScalingType::kYarn: {
      const double dim = c.head_dim;
      const double max_pos = s.original_max_position;
      auto correction_dim = [&](double rotations) {
        return dim * std::log(max_pos / (rotations * 2.0 * std::numbers::pi)) /
               (2.0 * std::log(double(c.rope_theta)));
      };
      double low = std::floor(correction_dim(s.beta_fast));
      double high = std::ceil(correction_dim(s.beta_slow));
      low = std::max(low, 0.0);
      high = std::min(high, dim - 1);
      if (low == high) high += 0.001;
      for (int i = 0; i < half; ++i) {
        double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
        double extrapolation_factor = 1.0 - ramp;
        double interp = base[i] / s.factor;
        inv[i] = float(interp * (1.0 - extrapolation_factor) + base[i] * extrapolation_factor);
      }
      double af = s.attention_factor;
      if (af <= 0.0) af = s.factor <= 1.0 ? 1.0 : 0.1 * std::log(double(s.factor)) + 1.0;
      *attention_scale = float(af);
      break;
    }
  }
  return inv;
}

void rope_tables(const std::vector<float>& inv_freq, float attention_scale, const int* positions,
                 int64_t n, float* cos_out, float* sin_out) {
  const int half = int(inv_freq.size());
  for (int64_t t = 0; t < n; ++t) {
    for (int i = 0; i < half; ++i) {
      // HF computes freqs in fp32: pos * inv_freq rounded to float, then cos/sin.
      float angle = float(positions[t]) * inv_freq[i];
      cos_out[t * half + i] = float(std::cos(double(angle))) * attention_scale;
      sin_out[t * half + i] = float(std::sin(double(angle))) * attention_scale;
    }
  }
}

void rope_apply(float* x, int64_t n, int num_heads, int head_dim, const float* cos_t,
                const float* sin_t) {
  const int half = head_dim / 2;
  for (int64_t t = 0; t < n; ++t) {
    const float* c = cos_t + t * half;
    const float* s = sin_t + t * half;
    for (int h = 0; h < num_heads; ++h) {
      float* v = x + (t * num_heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        float a = v[i], b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i] + a * s[i];
      }
    }
  }
}

void silu_mul(float* g, const float* u, int64_t n, int dim) {
  const int64_t total = n * dim;
  for (int64_t i = 0; i < total; ++i) {
    float a = g[i];
    g[i] = a / (1.0f + std::exp(-a)) * u[i];
  }
}

void embed_rows(const Weight& emb, const int* tokens, int64_t n, float* y) {
  for (int64_t t = 0; t < n; ++t) dequantize_row(emb.dtype, emb.row(tokens[t]), y + t * emb.cols, emb.cols);
}

void add_bias(float* y, const float* b, int64_t n, int dim) {
  for (int64_t t = 0; t < n; ++t)
    for (int i = 0; i < dim; ++i) y[t * dim + i] += b[i];
}

}  // namespace seer
