// The transformer forward on the GPU (issue 4 §5): the same model as seer::Session's CPU forward
// (src/model/engine.cpp) with bf16 weights and activations, an fp32 residual stream, cuBLAS GEMMs
// (bf16 in, fp32 accumulation; for up to 4 tokens the GEMV kernels of model_ops.cuh, with q/k/v and
// gate/up/SwiGLU fused into one launch each), the KV cache in GPU memory and attention through the
// block-sparse kernels (src/kernels/cuda): sparse_prefill for n > 1 tokens, the split-KV sparse_decode
// for one.
//
// Per layer, for n new tokens:
//   h = rmsnorm(x) ; q,k,v = h·Wqᵀ,h·Wkᵀ,h·Wvᵀ (+bias) ; [q_norm/k_norm] ; (gates on the GPU, or
//   policy: q,k → host when it reads them, AttentionPolicy::needs_pre_rope_qk) ;
//   RoPE ; k,v → cache ; attention over the selected blocks ; x += attn·Woᵀ ;
//   h = rmsnorm(x) ; x += (silu(h·Wgᵀ) * h·Wuᵀ)·Wdᵀ
// Device buffers (row-major, token-major activations):
//   weights   bf16 [out_features, in_features]; norms and biases fp32
//   k/v cache bf16 [num_layers][num_kv_heads, max_context, head_dim]
//   x         fp32 [n, hidden]; h bf16 [n, hidden]; q bf16 [n, Hq*d]; k, v bf16 [n, Hkv*d]
//
// The learned gates (a policy whose device_gates() describes them: `gate`) run on the GPU itself
// (src/model/cuda_gate.h): scoring, selection and the CSR lists stay on the device, and the block
// counts go back to the policy once per forward (add_device_counts). Any other policy may see each
// layer's pre-RoPE q/k, copied to the host as fp32 (one copy per layer); its selection goes back as
// the CSR lists the kernels read. The dense selection is uploaded once per forward and shared by
// every layer. A one-token forward without a host policy runs as a CUDA graph (set_graphs). A policy
// that reads the post-RoPE q and K cache (AttentionPolicy::needs_kv_cache(): quest) also gets
// those: the layer's q, and a host mirror of its K cache kept up to date row by row (fp32 [Hkv,
// max_context, head_dim], allocated on first use; the V cache is not mirrored). A policy that ranks
// blocks by the layer's own attention (AttentionPolicy::scores_from_attention: the oracles) gets its
// block statistics from a dense pass over every key block, reduced on the device as it asks
// (AttentionContext::block_scores; prefill: the prefill kernel's block maxima pooled over each query
// block, decode: the split decode kernel's SparseDecodeParams::block_stat); only those come back. Pre-RoPE
// q/k are copied only for a policy that reads them (AttentionPolicy::needs_pre_rope_qk). A policy that asks for ground truth
// (AttentionPolicy::ground_truth, gate training) gets it from the prefill kernel's block maxima
// (SparsePrefillParams::block_max), reduced on the device (kernels/cuda/block_max_pool) and copied
// into its buffers before after_attention().
#pragma once

#include <seer/engine.h>
#include <seer/model.h>
#include <seer/status.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace seer {

class AttentionPolicy;
class ThreadPool;

class CudaForward {
 public:
  // Ok when this build has CUDA and a device is usable; otherwise says why.
  static Status available();
  // Uploads the weights as bf16 (quantised GGUF blocks are dequantised on the host first).
  static Result<std::unique_ptr<CudaForward>> create(const ModelConfig& c, const ModelWeights& w, int max_context);
  // Random weights of the config's shapes, generated on the GPU (benchmarks of models whose files
  // are not here, e.g. Llama-3.1-8B shapes). Uniform, scaled 1/sqrt(in_features); norms 1.
  static Result<std::unique_ptr<CudaForward>> create_random(const ModelConfig& c, int max_context, uint64_t seed);
  ~CudaForward();

  // Appends `tokens` at positions start .. start+n-1 (start = tokens already cached) and, for
  // `which`, copies logits [n_out, vocab] fp32 to `logits` (null: they stay on the GPU, for
  // sample_last). Returns when the work is done. `pool`: host threads for the policy (may be null).
  Status forward(std::span<const int> tokens, int start, Logits which, AttentionPolicy* policy, ThreadPool* pool,
                 std::vector<float>* logits);
  // Sets up on the device what `policy` needs (the learned gates: created, their decode query folded into
  // the Q weights) and waits for it, so that the first forward's time is the forward's; the first forward
  // with the policy does it otherwise. Null or a policy without device gates: nothing to do.
  Status prepare(AttentionPolicy* policy);
  // The next token from the last forward's last-position logits, sampled on the GPU
  // (src/kernels/cuda/sample.cuh; seer::Sampler's rule, `u` its uniform draw). Only the token comes
  // back. Needs a forward with Logits::kLast just before.
  Status sample_last(float temperature, int top_k, float top_p, double u, int* token);
  // Perplexity without copying logits back: nll[i] = -log softmax(row first + i of the last forward's
  // logits)[targets[i]], computed on the GPU in double (kernels/cuda/sample.cuh); only the k values
  // come back. Needs a forward with logits left on the device (a null `logits` argument) just before.
  Status token_nll(int first, std::span<const int> targets, std::vector<double>* nll);
  // Benchmarks of a density without a policy: when rho < 1 (and no policy is given), every forward
  // keeps, per selection row (one per KV head and query block), the sink block, the row's own block and a seeded random subset of the
  // other causal blocks, ceil(rho * causal blocks) in all; one selection per forward, shared by
  // every layer (the plan-once-per-forward path). rho >= 1: dense.
  void set_fixed_density(double rho, uint64_t seed);
  // One-token forwards run as a CUDA graph, captured once per block count (and gates, density and
  // buffer addresses) and replayed: on by default; off, or with SEER_CUDA_GRAPHS=0 in the environment,
  // every step launches its kernels one by one (the same kernels, the same bits).
  void set_graphs(bool on);
  int64_t graph_replays() const;  // one-token forwards that ran as a graph so far
  // Whether the attached gates' decode query comes from the model's own Q product
  // (PolicyOptions::gate_fold_query on a model without q norm; CudaGates::fold_query).
  bool gate_query_folded() const;
  int max_context() const;
  size_t weight_bytes() const;  // device memory held by the weights
  size_t cache_bytes() const;   // device memory held by the KV cache

 private:
  CudaForward();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seer
