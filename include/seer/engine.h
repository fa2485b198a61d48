// Inference session: runs a Model over token sequences with a KV cache.
//
// forward() takes n new tokens at positions pos()..pos()+n-1. n > 1 is a prefill: every matrix
// product is a matrix-matrix product over the n tokens; n == 1 is a decode step. K/V of the new
// tokens are appended to the per-layer cache, layout [num_kv_heads, max_context, head_dim] (f32).
//
// Attention goes through one interface (seer/attention.h): for every layer the session asks an
// AttentionPolicy which key blocks each query block / each decode query may see. The dense policy
// selects every causal block; SeerAttention gates and other policies plug in the same way.
#pragma once

#include <seer/model.h>
#include <seer/status.h>

#include <memory>
#include <span>
#include <vector>

namespace seer {

class AttentionPolicy;
class Sampler;

enum class Logits { kNone, kLast, kAll };

// Where the forward runs. kCuda: the whole model on the GPU (src/model/cuda_forward.h), bf16.
enum class Device { kCpu, kCuda };

struct SessionOptions {
  int max_context = 0;  // 0: the model's trained context (config.max_position)
  int num_threads = 0;  // 0: all hardware threads
  std::shared_ptr<AttentionPolicy> policy;  // null: dense attention
  // Matrix products with Q4_0 / Q4_1 / Q8_0 weights, prefill and decode alike, take int8-quantised
  // activations (one scale per 32 values; vpdpbusd on AVX-512 VNNI machines, as llama.cpp does): decode
  // ~2x and a 512-token prefill ~1.5x faster than the f32 path, and a token's products are the same
  // whether it comes in a prompt or a decode step. Logits move by up to ~2, perplexity by +0.3-0.4% on
  // SmolLM2. false (`--f32-matmul`): dequantised f32 weights (sgemm, fused dots), the numpy reference's
  // numerics to float32 noise. Other weight types, and machines without VNNI, always take the f32 path.
  bool int8_matmul = true;
  Device device = Device::kCpu;
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> create(const Model& model, SessionOptions opts = {});
  ~Session();

  // Appends `tokens` to the context and returns logits as a row-major [n_out, vocab] span
  // (n_out = 0, 1 or tokens.size()), valid until the next call.
  Result<std::span<const float>> forward(std::span<const int> tokens, Logits which);
  // Appends `tokens` and returns the next token that `sampler` draws from the last position's
  // logits. A GPU session samples on the device when Sampler::device_ok() (only the token comes
  // back); otherwise the logits are sampled on the host. Either way: sampler.sample(logits).
  Result<int> forward_sample(std::span<const int> tokens, Sampler& sampler);
  // Appends `tokens` and scores targets.size() of the new positions from `first`: the sum over i of
  // -log softmax(logits of new position first + i)[targets[i]], in double, the rows spread over the
  // session's threads and summed in order (perplexity; a full-vocabulary log-softmax per row is too
  // slow on one thread when the forward runs on a GPU).
  Result<double> forward_nll(std::span<const int> tokens, int first, std::span<const int> targets);

  // Wall time spent in the attention kernels since the session was created (or since
  // reset_attention_seconds()), to put a policy's own cost next to the attention it saves.
  // CPU sessions only (0 on the GPU, whose kernels run asynchronously).
  double attention_seconds() const;
  void reset_attention_seconds();

  int pos() const;             // tokens in the cache
  int max_context() const;
  void reset();                // empty the cache
  const Model& model() const;
  AttentionPolicy* policy() const;
  // Replaces the policy for the following forwards (null: dense).
  void set_policy(std::shared_ptr<AttentionPolicy> policy);
  Device device() const;

 private:
  Session();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seer
