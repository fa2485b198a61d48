// Token sampling on the GPU (issue 4 §5): the next token from a logits row without copying the row
// to the host; and the negative log-likelihood of given tokens (perplexity), for the same reason.
// Sampling is exactly seer::Sampler (src/model/sampler.cpp) given the same uniform draw:
//   temperature <= 0: argmax (the first of equal maxima);
//   else the top_k largest logits ordered by (logit desc, index asc), p_i = exp((l_i - l_0) / T) in
//   double, the top-p prefix (the shortest whose cumulative share reaches top_p), then the first i
//   whose running sum exceeds u * total.
// top_k must be in [1, kMaxSampleTopK] (the host sampler takes the other cases). One CTA; the k-th
// largest logit is found bit by bit (32 counting passes over the row), no sort of the vocabulary.
//
// Layouts: logits [vocab] fp32 on the GPU; token [1] int32 on the GPU (written).
#pragma once

#include <cstdint>

#include "kernels/cuda/common.cuh"

namespace seer::cuda {

constexpr int kMaxSampleTopK = 1024;

struct SampleParams {
  const float* logits = nullptr;  // [vocab]
  int vocab = 0;
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  double u = 0.0;  // uniform in [0, 1), drawn by the host's generator
  int32_t* token = nullptr;
};

cudaError_t run_sample(const SampleParams& p, cudaStream_t stream);

// Scoring (perplexity): nll[i] = -log softmax(logits row i)[targets[i]] for `rows` rows, in double
// as seer::token_nll (the row's max, then the sum of exp(l - max) in double; only the order of the
// sum differs). One CTA per row. targets must lie in [0, vocab) (the host checks them).
// Layouts: logits [rows, vocab] fp32, targets [rows] int32, nll [rows] fp64, all on the GPU.
struct NllParams {
  const float* logits = nullptr;
  int vocab = 0;
  const int32_t* targets = nullptr;
  int rows = 0;
  double* nll = nullptr;
};

cudaError_t run_token_nll(const NllParams& p, cudaStream_t stream);

}  // namespace seer::cuda
