// The learned gates on the GPU (issue 4 §3): the `gate` policy of a GPU session, with every step on
// the device and no host round trip. Same math as the CPU gate policy (seer::PrefillGate,
// seer::KCompressionCache, seer::select_prefill / select_decode; SPEC §1-§3), in these steps:
//   every forward, every layer:  the new pre-RoPE K joins the per-block running max/min/sum (one
//                                store shared by both gates: the prefill gate pools whole blocks from
//                                it, the K-compression cache compresses each block it completes); with
//                                prefill_and_rope the same pass also applies the model's RoPE to Q and K
//   prefill chunk, sparse layer: key features -> linear_k (GEMM) -> RoPE; pooled new queries ->
//                                [linear_q (GEMM)] -> RoPE; scores (GEMM) -> selection per query head
//   decode step, sparse layer:   query head pooling -> [linear_q] -> [qnorm] -> RoPE (or, folded into
//                                the model's Q product, fold_query: its product -> [qnorm] -> RoPE);
//                                scores against the compressed cache -> selection per KV head
// Selections are the CSR lists the attention kernels read, written on the device; their block
// counts accumulate on the device and are read back once per forward (take_counts).
//
// State per layer (fp32 unless said otherwise), for batch_size sequences:
//   K statistics  [B][3, Hkv, max_blocks, head_dim]
//   entries       bf16 [B][Hkv, max_blocks, dg]   (decode gate only), or with
//                 PolicyOptions::gate_cache_int8 int8 [B][Hkv, max_blocks, dg] and fp32 scales
//                 [B][Hkv, max_blocks] (cuda::GateEntries; the CPU cache rounds its values the same way)
// Memory: the statistics take 12 * Hkv * head_dim bytes per block and layer (Llama-3.1-8B shapes at
// a 128k context: 0.8 GB in all), the cache 2 * Hkv * dg more (int8: dg + 4); the prefill scores [Hq, rows, nb] are
// scratch shared by the layers (512 MB for a 128k-token chunk of 32 heads).
// The GEMMs run in TF32 (fp32 storage, 10-bit-mantissa products, fp32 sums): gate scores move by
// ~1e-3 relative against the fp32 CPU gate, far below what separates the blocks a gate keeps.
#pragma once

#include <seer/policies.h>
#include <seer/sparsity.h>
#include <seer/status.h>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace seer {

// A selection on the device, as the attention kernels read it.
struct DeviceSelection {
  const int32_t* offsets = nullptr;  // [num_heads * num_rows + 1]; null for fixed-stride rows
  const int32_t* indices = nullptr;  // ascending within a row
  const int32_t* counts = nullptr;   // fixed-stride rows (decode): row r at indices + r * stride, counts[r] long
  int64_t stride = 0;
  bool per_kv_head = false;          // decode: per (sequence, KV head); prefill: per query head
  int first_q_block = 0;
  int num_rows = 0;        // rows per head (prefill); 1 (decode)
  int max_row_blocks = 0;  // a bound on any row's length (the decode split plan)
};

class CudaGates {
 public:
  // `blas` and `stream` belong to the caller and must outlive the gates; `blas` must issue its work on
  // `stream` (cublasSetStream), since the gates' kernels and GEMMs feed each other. Gate weights are
  // copied.
  static Result<std::unique_ptr<CudaGates>> create(const DeviceGateSpec& spec, const ModelConfig& model,
                                                   int max_context, int batch_size, cublasHandle_t blas,
                                                   cudaStream_t stream);
  ~CudaGates();

  // A prefill chunk of sequence `seq`: n >= 1 new tokens at positions start.. with pre-RoPE
  // q [n][Hq * head_dim] and k [n][Hkv * head_dim] (bf16, on the GPU). Updates the layer's state and,
  // when the layer is sparse for prefill, writes its selection and sets *sparse.
  Status prefill(int layer, int seq, const __nv_bfloat16* q, const __nv_bfloat16* k, int n, int start,
                 DeviceSelection* sel, bool* sparse);
  // prefill() that also applies the model's RoPE to q and k in place (cos / sin [n][head_dim/2] on the
  // GPU, as cuda::run_rope takes them, with the same bits), in the pass that pools their pre-RoPE
  // values: the caller then skips its own RoPE of the chunk, and the pooling costs no extra read.
  Status prefill_and_rope(int layer, int seq, __nv_bfloat16* q, __nv_bfloat16* k, int n, int start,
                          const float* rope_cos, const float* rope_sin, DeviceSelection* sel, bool* sparse);
  // One decode step of every sequence: q [B][Hq * head_dim], k [B][Hkv * head_dim]; kv_lens [B] on the
  // GPU, after the new token, at most max_kv_len. As prefill() for decode sparsity.
  // With q_folded (fold_query below): the query's projection [B][Hkv * dg] bf16 made by the model, in place
  // of the step's own from q (then unused).
  Status decode(int layer, const __nv_bfloat16* q, const __nv_bfloat16* k, const int32_t* kv_lens, int max_kv_len,
                DeviceSelection* sel, bool* sparse, const __nv_bfloat16* q_folded = nullptr);
  // The decode gate's query projection folded into the model's Q product, for a layer the decode gate
  // scores (others: nothing to do). The model's q must be pre-RoPE and linear in the layer's input x:
  // q = Wq · x (+ bq), no q norm. Then the gate's query map E_h (Qproj: linear_q; Qavgproj: the group
  // mean, then linear_q; Qavg: the group mean), applied to q, is W · x with
  //   W [Hkv * dg, hidden] bf16, row h * dg + o = Σ_r E_h[r, o] · Wq[h * g * d + r, :]   (fp32 sums)
  // and the bias folded the same way (kept by the gates, added by the step). The model computes
  // qf = W · x beside its q (one more part of the same product) and passes it to decode(): the step's
  // projection, a chain of dependent reads, leaves its critical path. wq [Hq * d, hidden] bf16, bq
  // [Hq * d] fp32 or null, on the GPU; hidden = the ModelConfig's.
  Status fold_query(int layer, const __nv_bfloat16* wq, const float* bq);
  // fold_query's W for `layer` (null when not folded) and its row count (Hkv * dg; 0 without a decode gate).
  const __nv_bfloat16* folded_query_weight(int layer) const;
  int folded_query_rows() const;
  // The same steps with the scores (logits / sqrt(dg)) copied to the host instead of a selection, for
  // tests and tools: prefill [Hq, rows, nb] (entries above a row's diagonal are unspecified), decode
  // [B * Hkv, ceil(max_kv_len / bs)] (entries past a sequence's blocks unspecified). State as above.
  Status prefill_scores(int layer, int seq, const __nv_bfloat16* q, const __nv_bfloat16* k, int n, int start,
                        std::vector<float>* scores);
  Status decode_scores(int layer, const __nv_bfloat16* q, const __nv_bfloat16* k, const int32_t* kv_lens,
                       int max_kv_len, std::vector<float>* scores, const __nv_bfloat16* q_folded = nullptr);
  // The decode gate's K-compression cache of `layer` as the scores read it (bf16 values, or int8
  // values times their entry's scale), for tests and tools: [B][Hkv, ceil(max_context / bs), dg]
  // (entries past a sequence's blocks unspecified). Waits for the stream.
  Status decode_entries(int layer, std::vector<float>* out);
  // The decode gate's query of the last scoring step, [B][Hkv, dg] after qnorm and RoPE, as the scores
  // read it, for tests and tools. Waits for the stream.
  Status decode_query(std::vector<float>* out);
  // Block counts of the sparse layers since the last call, per layer (waits for the stream).
  Status take_counts(std::vector<LayerDensity>* out);

  int block_size() const;

 private:
  CudaGates();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seer
