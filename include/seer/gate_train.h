// Gate training math (SPEC §4): the loss of one layer's gate against its ground truth, and its
// analytic gradient with respect to that gate's weights.
//
// The base model is frozen and each layer's loss depends only on its own gate, so training needs,
// per layer and per training sequence, the gate's inputs (block-pooled pre-RoPE features, or the
// decode tokens' pre-RoPE queries) and the ground truth computed once from the frozen model
// (seer/train.h builds them). Everything here runs in double precision: the features are small
// next to the model forward that produced them, and double makes the finite-difference checks tight.
//
// Layouts (d = head_dim, dg = GateConfig::hidden_size, nb = blocks of the sequence, bs = block size):
//   pooled features: [heads, nb, |pools| * d], per block the pools concatenated in [max|min|avg]
//                    order (SPEC §1.2), a partial last block pooled over the tokens it has.
// Gate RoPE positions: block j at bs*j (both gates, SPEC §2.3 training); a decode query at its
// token position. The gate RoPE is the inference gates' one (seer/gates.h). As at inference, the
// prefill gate always applies it (no norms, no use_rope switch); the decode gate honours
// use_qk_norm and use_rope.
//
// Losses (unscaled; the trainer multiplies by the ×10 gate_loss_scale and sums layers):
//   prefill: KL(gt ‖ softmax(logits)) summed over kept rows and key blocks j <= row, divided by
//            num_qo_heads * kept_rows * nb (upstream's KLDivLoss 'mean' over the whole
//            [Hq, rows, nb] tensor, masked entries counting in the denominator, SPEC §4.1).
//   decode:  the same with rows = scored tokens, per KV head, valid blocks j < pos/bs, divided by
//            num_kv_heads * n * nb (SPEC §4.2); a row whose ground truth is all zero adds 0.
#pragma once

#include <seer/gates.h>

#include <vector>

namespace seer {

// One training sequence, one layer, prefill gate (SPEC §4.1).
struct PrefillGateExample {
  int num_blocks = 0;          // nb = ceil(T / bs)
  std::vector<float> q_pooled; // [num_qo_heads, nb, |q_pools| * d]
  std::vector<float> k_pooled; // [num_kv_heads, nb, |k_pools| * d]
  int first_row = 0;           // query-block rows < first_row are left out (nb / 4)
  std::vector<float> gt;       // [num_qo_heads, nb - first_row, nb]; row r is query block
                               // first_row + r, zero above the diagonal, each row sums to 1
};

// One training sequence, one layer, decode gate (SPEC §4.2). Only the scored tokens are stored
// (the second half of the sequence, or a sample of it).
struct DecodeGateExample {
  int num_blocks = 0;          // nb = ceil(T / bs)
  std::vector<float> k_pooled; // [num_kv_heads, nb, |k_pools| * d]
  std::vector<int> pos;        // [n] positions of the scored tokens in their sequence
  std::vector<float> q;        // [n, num_qo_heads, d] their pre-RoPE queries (after the model's q_norm)
  std::vector<float> gt;       // [n, num_kv_heads, nb]; zero at j >= pos/bs; rows sum to 1 or are 0
};

// Block pooling of pre-RoPE vectors: x [T, heads, d] token-major -> [heads, ceil(T/bs), |pools| * d].
std::vector<float> pool_block_features(const std::vector<PoolType>& pools, const float* x, int T,
                                       int heads, int d, int bs);

// The gate's logits for an example, scaled by 1/sqrt(dg), -inf where masked:
//   prefill [num_qo_heads, nb, nb] (every row, causal: j <= i);
//   decode  [n, num_kv_heads, nb] (j < pos/bs).
// They equal what PrefillGate / decode_gate_scores compute at inference on the same inputs.
std::vector<double> prefill_gate_logits(const GateSet& gates, int layer, const PrefillGateExample& ex);
std::vector<double> decode_gate_logits(const GateSet& gates, int layer, const DecodeGateExample& ex);

// Loss of one layer (see above). When `grad` is given, adds grad_scale * dLoss/dW to it; `grad`
// must have the layer's tensor sizes (gate_tensor_specs), zero-initialised by the caller.
double prefill_gate_loss(const GateSet& gates, int layer, const PrefillGateExample& ex,
                         GateLayerWeights* grad = nullptr, double grad_scale = 1.0);
double decode_gate_loss(const GateSet& gates, int layer, const DecodeGateExample& ex,
                        GateLayerWeights* grad = nullptr, double grad_scale = 1.0);

}  // namespace seer
