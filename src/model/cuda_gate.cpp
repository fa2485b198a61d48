// The learned gates on the GPU; see cuda_gate.h. Kernels in src/kernels/cuda/gate.cu, GEMMs here.
// Compiled only with SEER_HAVE_CUDA (the CPU build globs src/model/ too).
#ifdef SEER_HAVE_CUDA
#include "model/cuda_gate.h"

#include <seer/gates.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/ops.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/gate.cuh"
#include "model/cuda_util.h"

namespace seer {

namespace {

using bf16 = __nv_bfloat16;

cuda::GatePools device_pools(const std::vector<PoolType>& pools) {
  cuda::GatePools p;
  p.count = int(pools.size());
  for (size_t i = 0; i < pools.size() && i < 3; ++i) p.type[i] = int8_t(pools[i]);
  return p;
}

// A row-major matrix operand of a batched GEMM: base, leading dimension, stride between the batch's
// matrices (elements).
struct Mat {
  const float* ptr;
  int64_t ld, stride;
};

// Row-major, batched, TF32: C[m, n] = alpha * A[m, k] · B with B [k, n] (trans_b false) or [n, k]
// (trans_b true, i.e. A · Bᵀ).
Status gemm(cublasHandle_t blas, bool trans_b, int m, int n, int k, float alpha, Mat a, Mat b, float* c, int64_t ldc,
            int64_t sc, int batch) {
  const float beta = 0.0f;
  // Column-major view: Cᵀ [n, m] = op(B)ᵀ · Aᵀ.
  SEER_CUBLAS_CHECK(cublasGemmStridedBatchedEx(blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, n, m, k,
                                               &alpha, b.ptr, CUDA_R_32F, int(b.ld), b.stride, a.ptr, CUDA_R_32F,
                                               int(a.ld), a.stride, &beta, c, CUDA_R_32F, int(ldc), sc, batch,
                                               CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
  return Status::ok();
}

// A K-only gate's scores from kScoreTile * 2 query blocks on: only the causal part, as tiles of kScoreTile query
// blocks by kScoreTile key blocks in one batched GEMM over pointer arrays (cuda::run_gate_score_tiles), 10 of the
// square's 16 tiles at 512 blocks (32k tokens), 136 of 256 at 2048. H200, gate+rope - rope, against one GEMM
// over the square below 1024 query blocks and two row bands from there: 32k 0.1080-0.1087 -> 0.1035-0.1051 ms,
// 128k 0.870-0.878 -> 0.825-0.838 ms; tiles of 64 blocks: 32k 0.1050-0.1068, 128k 0.892-0.897 ms.
constexpr int kScoreTile = 128;

struct GateWeights {  // one layer of one gate, on the GPU
  DeviceBuffer linear_q, linear_k, q_norm, k_norm;
};

struct GateOnDevice {
  const GateSet* set = nullptr;
  std::vector<GateWeights> layers;
  DeviceBuffer inv_freq;     // [dg / 2]
  DeviceBuffer block_table;  // [max_blocks, dg]: cos | sin at every block start
  DeviceBuffer slot_table;   // [block_size, dg]: cos | sin of every offset within a block, unscaled
  float rope_scale = 1.0f;
  cuda::GateRope rope(bool on) const {
    cuda::GateRope r;
    if (on) {
      r.inv_freq = inv_freq.as<float>();
      r.block_table = block_table.as<float>();
      r.slot_table = slot_table.as<float>();
    }
    r.scale = rope_scale;
    return r;
  }
};

Status upload(const std::vector<float>& v, DeviceBuffer* dst, const char* what) {
  if (v.empty()) return Status::ok();
  SEER_RETURN_IF_ERROR(dst->reserve(v.size() * sizeof(float), what));
  SEER_CUDA_CHECK(cudaMemcpy(dst->ptr, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice));
  return Status::ok();
}

const char* kind_name(GateKind k) { return k == GateKind::kPrefill ? "prefill" : "decode"; }

// The tensor sizes the kernels rely on (load_gates has checked names and shapes; this guards
// hand-built gate sets).
Status check_sizes(const GateSet& g, const ModelConfig& m) {
  const GateConfig& c = g.config;
  const int Hq = m.num_qo_heads, Hkv = m.num_kv_heads, d = m.head_dim, dg = c.hidden_size;
  if (int(g.layers.size()) != m.num_layers)
    return Status::error("GPU gates: the {} gate has {} layers, the model {}", kind_name(c.kind), g.layers.size(),
                         m.num_layers);
  const bool two = c.prefill_two_linear(d);
  const size_t kin = c.k_pools.size() * size_t(d);
  size_t want_k = 0, want_q = 0;
  if (c.kind == GateKind::kPrefill) {
    want_k = size_t(two ? Hkv : Hq) * kin * dg;
    want_q = two ? size_t(Hq) * c.q_pools.size() * d * dg : 0;
    if (!two && int(c.q_pools.size()) * d != dg)
      return Status::error("GPU gates: a prefill gate without a Q linear needs |Q pools| * head_dim == hidden size");
  } else {
    want_k = size_t(Hkv) * kin * dg;
    want_q = c.q_head_pooling == QHeadPooling::kQproj      ? size_t(Hq) * d * dg
             : c.q_head_pooling == QHeadPooling::kQavgproj ? size_t(Hkv) * d * dg
                                                           : 0;
    if (c.q_head_pooling == QHeadPooling::kQavg && d != dg)
      return Status::error("GPU gates: Qavg needs head_dim == hidden size ({} vs {})", d, dg);
  }
  const bool norms = c.kind == GateKind::kDecode && c.use_qk_norm;
  for (size_t l = 0; l < g.layers.size(); ++l) {
    const GateLayerWeights& w = g.layers[l];
    if (w.linear_k.size() != want_k || w.linear_q.size() != want_q ||
        (norms && (w.q_norm.size() != size_t(dg) || w.k_norm.size() != size_t(dg))))
      return Status::error("GPU gates: layer {} of the {} gate: linear_k {} / linear_q {} values, expected {} / {}", l,
                           kind_name(c.kind), w.linear_k.size(), w.linear_q.size(), want_k, want_q);
  }
  return Status::ok();
}

// `max_blocks` sizes the RoPE table of block starts. A prefill gate without a Q linear keeps its
// per-query-head K linear [Hq, kin, dg] regrouped as [Hkv, kin, g * dg], so that one GEMM per KV
// head projects the features for its g query heads.
Status upload_gate(const GateSet& g, int max_blocks, GateOnDevice* out) {
  out->set = &g;
  float scale = 1.0f;
  ModelConfig c = g.model;
  const int dg = g.config.hidden_size, bs = g.config.block_size;
  c.head_dim = dg;
  const std::vector<float> inv = rope_inv_freq(c, &scale);
  SEER_RETURN_IF_ERROR(upload(inv, &out->inv_freq, "gate RoPE"));
  out->rope_scale = scale;
  // [count, dg] tables of cos | sin at positions j * step, j < count, RoPE scaled by `sc`.
  auto cos_sin_rows = [&](int count, int step, float sc) {
    std::vector<int> pos(static_cast<size_t>(count));
    for (int j = 0; j < count; ++j) pos[size_t(j)] = j * step;
    std::vector<float> cs(size_t(count) * dg / 2), sn(cs.size()), table(size_t(count) * dg);
    rope_tables(inv, sc, pos.data(), count, cs.data(), sn.data());
    for (int j = 0; j < count; ++j) {
      std::copy_n(cs.begin() + int64_t(j) * dg / 2, dg / 2, table.begin() + int64_t(j) * dg);
      std::copy_n(sn.begin() + int64_t(j) * dg / 2, dg / 2, table.begin() + int64_t(j) * dg + dg / 2);
    }
    return table;
  };
  SEER_RETURN_IF_ERROR(upload(cos_sin_rows(max_blocks, bs, scale), &out->block_table, "gate RoPE"));
  SEER_RETURN_IF_ERROR(upload(cos_sin_rows(bs, 1, 1.0f), &out->slot_table, "gate RoPE"));  // offsets, unscaled
  const int d = g.model.head_dim, Hkv = g.model.num_kv_heads, grp = g.model.num_qo_heads / Hkv;
  const bool regroup = g.config.kind == GateKind::kPrefill && !g.config.prefill_two_linear(d);
  const size_t kin = g.config.k_pools.size() * size_t(d);
  out->layers = std::vector<GateWeights>(g.layers.size());
  for (size_t l = 0; l < g.layers.size(); ++l) {
    const GateLayerWeights& w = g.layers[l];
    GateWeights& d_w = out->layers[l];
    SEER_RETURN_IF_ERROR(upload(w.linear_q, &d_w.linear_q, "gate weights"));
    if (regroup) {  // [Hkv][g][kin][dg] -> [Hkv][kin][g][dg]
      std::vector<float> r(w.linear_k.size());
      for (int h = 0; h < Hkv; ++h)
        for (int i = 0; i < grp; ++i)
          for (size_t row = 0; row < kin; ++row)
            std::copy_n(w.linear_k.begin() + int64_t(((size_t(h) * grp + i) * kin + row) * dg), dg,
                        r.begin() + int64_t(((size_t(h) * kin + row) * grp + i) * dg));
      SEER_RETURN_IF_ERROR(upload(r, &d_w.linear_k, "gate weights"));
    } else {
      SEER_RETURN_IF_ERROR(upload(w.linear_k, &d_w.linear_k, "gate weights"));
    }
    if (g.config.use_qk_norm && g.config.kind == GateKind::kDecode) {
      SEER_RETURN_IF_ERROR(upload(w.q_norm, &d_w.q_norm, "gate weights"));
      SEER_RETURN_IF_ERROR(upload(w.k_norm, &d_w.k_norm, "gate weights"));
    }
  }
  return Status::ok();
}

}  // namespace

struct CudaGates::Impl {
  DeviceGateSpec spec;
  ModelConfig model;
  int max_context = 0, batch = 1, bs = 64, max_blocks = 0;
  cublasHandle_t blas = nullptr;
  cudaStream_t stream = nullptr;
  GateOnDevice pre, dec;
  bool has_pre = false, has_dec = false;
  std::vector<DeviceBuffer> stats;    // per layer: [B][3, Hkv, max_blocks, d]
  // Per layer: the K-compression cache's entries [B][Hkv, max_blocks, dg], bf16 or int8
  // (options.gate_cache_int8; then entry_scales [B][Hkv, max_blocks] too): cuda::GateEntries.
  std::vector<DeviceBuffer> entries, entry_scales;
  DeviceBuffer counters;              // u64 [num_layers][2][3]
  // Scratch, shared by the layers.
  DeviceBuffer kfeat, kproj, khead, qfeat, qproj, scores, offsets, indices;
  DeviceBuffer dfeat, dproj;  // the decode gate's compression of the blocks a prefill chunk completes
  DeviceBuffer q_partial, e_partial;  // decode projections: [B, Hkv, slices, dg]
  DeviceBuffer done;                  // decode: u32 [B, Hkv] slice counters
  // fold_query, per layer: the folded query weight bf16 [Hkv * dg, hidden] and bias fp32 [Hkv * dg]
  // (empty: not folded / no bias).
  std::vector<DeviceBuffer> fold_w, fold_b;
  // A decode budget split by shares (options.decode_budget_shares): i32 [num_layers, Hkv] Top-K per KV
  // head (seer::layer_budget_blocks, as the CPU's ScoredPolicy), and each layer's largest; empty: uniform.
  DeviceBuffer budget_k;
  std::vector<int> budget_k_max;
  // A prefill Top-K split by shares (options.prefill_budget_shares): i32 [num_layers, Hq] k per query
  // head (seer::prefill_budget_blocks, as the CPU's ScoredPolicy) for a forward over the rows
  // prefill_k_rows (first query block, block count; uploaded when they change), the host copy in
  // prefill_k_host; empty: uniform.
  DeviceBuffer prefill_k;
  std::vector<int> prefill_k_host;
  std::pair<int, int> prefill_k_rows{-1, -1};
  int slices = 1;
  std::vector<unsigned long long> host_counts;
  DeviceBuffer tile_ptrs;          // the tiled score GEMM's pointers: [q tiles | key tiles | score tiles]
  std::vector<int64_t> tile_key;   // the buffers and shape tile_ptrs were built for

  int64_t stats_stride() const { return 3LL * model.num_kv_heads * max_blocks * model.head_dim; }
  int64_t entries_stride() const { return int64_t(model.num_kv_heads) * max_blocks; }  // entries per sequence
  bool int8_entries() const { return spec.options.gate_cache_int8; }
  cuda::GateEntries layer_entries(int layer) const {
    cuda::GateEntries e;
    if (int8_entries()) {
      e.int8 = entries[size_t(layer)].as<int8_t>();
      e.scale = entry_scales[size_t(layer)].as<float>();
    } else {
      e.bf16 = entries[size_t(layer)].as<bf16>();
    }
    e.stride = entries_stride();
    return e;
  }

  cuda::GateKStats kstats(int layer, int seq) const {
    cuda::GateKStats s;
    s.stats = stats[size_t(layer)].as<float>() + seq * stats_stride();
    s.num_kv_heads = model.num_kv_heads;
    s.head_dim = model.head_dim;
    s.block_size = bs;
    s.max_blocks = max_blocks;
    return s;
  }
  unsigned long long* layer_counts(int layer, bool decode) const {
    return counters.as<unsigned long long>() + (size_t(layer) * 2 + (decode ? 1 : 0)) * 3;
  }

  Status init(const DeviceGateSpec& s, const ModelConfig& m, int ctx, int b, cublasHandle_t h, cudaStream_t st) {
    spec = s;
    model = m;
    max_context = ctx;
    batch = b;
    blas = h;
    stream = st;
    has_pre = s.prefill != nullptr;
    has_dec = s.decode != nullptr;
    if (!has_pre && !has_dec) return Status::error("GPU gates: neither a prefill nor a decode gate");
    if (batch < 1) return Status::error("GPU gates: batch size {} must be >= 1", batch);
    const int d = m.head_dim, g = m.num_kv_heads > 0 ? m.num_qo_heads / m.num_kv_heads : 0;
    if (d > 128 || g < 1 || g > 16)
      return Status::error("GPU gates: head_dim {} (at most 128) and group size {} (1..16) are not supported", d, g);
    for (const GateSet* gs : {s.prefill, s.decode}) {
      if (!gs) continue;
      SEER_RETURN_IF_ERROR(check_sizes(*gs, m));
      const int dg = gs->config.hidden_size;
      if (dg != 64 && dg != 128 && dg != 256)
        return Status::error("GPU gates: gate hidden size {} is not supported (64, 128 or 256)", dg);
      bs = gs->config.block_size;
    }
    if (bs != s.options.block_size)
      return Status::error("GPU gates: the gates' block size {} differs from the policy's {}", bs, s.options.block_size);
    max_blocks = (ctx + bs - 1) / bs;
    if (has_pre) SEER_RETURN_IF_ERROR(upload_gate(*s.prefill, max_blocks, &pre));
    if (has_dec) SEER_RETURN_IF_ERROR(upload_gate(*s.decode, max_blocks, &dec));
    stats = std::vector<DeviceBuffer>(size_t(m.num_layers));
    for (auto& st_buf : stats)
      SEER_RETURN_IF_ERROR(st_buf.reserve(size_t(batch * stats_stride()) * sizeof(float), "gate K statistics"));
    if (has_dec) {
      const size_t n = size_t(batch * entries_stride()), dg = size_t(s.decode->config.hidden_size);
      fold_w = std::vector<DeviceBuffer>(size_t(m.num_layers));  // empty until fold_query
      fold_b = std::vector<DeviceBuffer>(size_t(m.num_layers));
      entries = std::vector<DeviceBuffer>(size_t(m.num_layers));
      for (auto& e : entries)
        SEER_RETURN_IF_ERROR(e.reserve(n * dg * (int8_entries() ? 1 : sizeof(bf16)), "the K-compression cache"));
      if (int8_entries()) {
        entry_scales = std::vector<DeviceBuffer>(size_t(m.num_layers));
        for (auto& e : entry_scales) SEER_RETURN_IF_ERROR(e.reserve(n * sizeof(float), "the K-compression cache"));
      }
    }
    SEER_RETURN_IF_ERROR(done.reserve(size_t(batch) * m.num_kv_heads * sizeof(unsigned), "gate workspace"));
    SEER_CUDA_CHECK(cudaMemsetAsync(done.ptr, 0, size_t(batch) * m.num_kv_heads * sizeof(unsigned), stream));
    if (has_dec) {  // CTAs per (sequence, KV head): about one wave over the GPU, so that a batch of one still
      // spreads its weight reads, and a large batch pays no cross-CTA sum (H200, batch 16 x 8 KV heads, ncu:
      // 2 slices 22 us, 16 slices 29 us, 1 slice 15 us)
      int device = 0, sms = 0;
      SEER_CUDA_CHECK(cudaGetDevice(&device));
      SEER_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
      slices = std::clamp(sms / std::max(1, batch * m.num_kv_heads), 1, cuda::kGateMaxSlices);
      const int dg = s.decode->config.hidden_size;
      const size_t n = size_t(batch) * m.num_kv_heads * slices * dg;
      SEER_RETURN_IF_ERROR(q_partial.reserve(n * sizeof(float), "gate workspace"));
      SEER_RETURN_IF_ERROR(e_partial.reserve(n * sizeof(float), "gate workspace"));
      SEER_RETURN_IF_ERROR(qproj.reserve(size_t(batch) * m.num_kv_heads * dg * sizeof(float), "gate queries"));
    }
    const DecodeSparsity& ds = s.options.decode;
    if (has_dec && ds.kind == DecodeSparsity::Kind::kBudget && !s.options.decode_budget_shares.empty()) {
      if (s.options.decode_budget_shares.size() != size_t(m.num_layers) * m.num_kv_heads)
        return Status::error("GPU gates: {} decode budget shares for {} layers x {} KV heads",
                             s.options.decode_budget_shares.size(), m.num_layers, m.num_kv_heads);
      const size_t H = size_t(m.num_kv_heads);
      const std::vector<int> k = layer_budget_blocks(s.options.decode_budget_shares, m.num_kv_heads,
                                                     s.options.start_layer, int64_t(ds.value) / bs);
      budget_k_max.assign(size_t(m.num_layers), 0);
      for (size_t i = 0; i < k.size(); ++i) budget_k_max[i / H] = std::max(budget_k_max[i / H], k[i]);
      SEER_RETURN_IF_ERROR(budget_k.reserve(k.size() * sizeof(int32_t), "gate budget shares"));
      SEER_CUDA_CHECK(cudaMemcpy(budget_k.ptr, k.data(), k.size() * sizeof(int32_t), cudaMemcpyHostToDevice));
    }
    const size_t nc = size_t(m.num_layers) * 6;
    SEER_RETURN_IF_ERROR(counters.reserve(nc * sizeof(unsigned long long), "gate counters"));
    SEER_CUDA_CHECK(cudaMemsetAsync(counters.ptr, 0, nc * sizeof(unsigned long long), stream));
    host_counts.resize(nc);
    return Status::ok();
  }

  bool sparse_layer(int layer, bool decode) const {
    if (layer < spec.options.start_layer) return false;
    return decode ? has_dec && spec.options.decode.kind != DecodeSparsity::Kind::kDense
                  : has_pre && spec.options.prefill.kind != PrefillSparsity::Kind::kDense;
  }

  // Scores [Hq, rows, nb] = qp [Hq, rows, dg] · kh [Hq, nb, dg]ᵀ * scale where causal (every query block's keys
  // up to its own; other entries are left as they were), as kScoreTile-square tiles in one batched GEMM. The
  // tiles' pointers are rebuilt on the device when the buffers or the shape change (once per forward shape).
  Status score_tiles(const float* qp, const float* kh, int rows, int nb, int first_qb, int dg, float scale) {
    const int Hq = model.num_qo_heads, t = kScoreTile;
    const int tiles = Hq * cuda::score_tiles_per_head(rows, first_qb, t);
    const std::vector<int64_t> key = {int64_t(reinterpret_cast<uintptr_t>(qp)), int64_t(reinterpret_cast<uintptr_t>(kh)),
                                      int64_t(reinterpret_cast<uintptr_t>(scores.ptr)), rows, nb, first_qb, Hq, dg};
    const bool rebuild = key != tile_key;
    if (rebuild) {
      tile_key.clear();  // (until the pointers are written)
      SEER_RETURN_IF_ERROR(tile_ptrs.reserve(size_t(3) * tiles * sizeof(void*), "gate score tiles"));
    }
    const float** qa = tile_ptrs.as<const float*>();
    const float** ka = qa + tiles;
    float** sa = reinterpret_cast<float**>(tile_ptrs.as<void*>() + size_t(2) * tiles);
    if (rebuild) {
      SEER_CUDA_CHECK(cuda::run_gate_score_tiles(qp, kh, scores.as<float>(), Hq, rows, nb, first_qb, dg, t, qa, ka, sa,
                                                 stream));
      tile_key = key;
    }
    // Row-major as gemm() above: the column-major view is Cᵀ = kh · qpᵀ.
    const float beta = 0.0f;
    SEER_CUBLAS_CHECK(cublasGemmBatchedEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, t, t, dg, &scale,
                                          reinterpret_cast<const void* const*>(ka), CUDA_R_32F, dg,
                                          reinterpret_cast<const void* const*>(qa), CUDA_R_32F, dg, &beta,
                                          reinterpret_cast<void* const*>(sa), CUDA_R_32F, nb, tiles,
                                          CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
    return Status::ok();
  }

  // Absorbs the chunk; when `scoring`, leaves the scores [Hq, rows, nb] in `scores`.
  // With rope.cos, q and k (then writable) also leave rotated by the model's RoPE.
  Status prefill_scores(int layer, int seq, const bf16* q, const bf16* k, int n, int start, bool scoring,
                        cuda::GateModelRope rope = {}) {
    const int Hq = model.num_qo_heads, Hkv = model.num_kv_heads, d = model.head_dim, g = Hq / Hkv;
    const int kv_len = start + n;
    if (layer < 0 || layer >= model.num_layers || seq < 0 || seq >= batch || n < 1 || start < 0 ||
        kv_len > max_context)
      return Status::error("GPU gates: bad prefill call (layer {}, sequence {}, {} tokens at {}, context {})", layer,
                           seq, n, start, max_context);
    const int nb = (kv_len + bs - 1) / bs, first_qb = start / bs, rows = nb - first_qb;
    // One pass over the chunk: K statistics, the pooled new queries when scoring, the model's RoPE when
    // asked (q and k are written only then).
    const GateConfig* pc = scoring ? &pre.set->config : nullptr;
    // When scoring, the pass also leaves the key features of the blocks it touches, kfeat [Hkv, nb, kin].
    cuda::GateKFeatures kf;
    if (pc) {
      SEER_RETURN_IF_ERROR(qfeat.reserve(size_t(Hq) * rows * pc->q_pools.size() * d * sizeof(float), "gate features"));
      SEER_RETURN_IF_ERROR(kfeat.reserve(size_t(Hkv) * nb * pc->k_pools.size() * d * sizeof(float), "gate features"));
      kf = {kfeat.as<float>(), device_pools(pc->k_pools), nb};
    }
    // A K-only gate's single pooled query is rotated in the same pass (its RoPE pairs are the pass's).
    const bool q_roped = pc && !pc->prefill_two_linear(d) && pc->q_pools.size() == 1;
    SEER_CUDA_CHECK(cuda::run_gate_pool(kstats(layer, seq), const_cast<bf16*>(k), int64_t(Hkv) * d,
                                        const_cast<bf16*>(q), int64_t(Hq) * d, Hq,
                                        pc ? device_pools(pc->q_pools) : cuda::GatePools{},
                                        pc ? qfeat.as<float>() : nullptr,
                                        q_roped ? pre.block_table.as<float>() : nullptr, n, start, rope, kf, stream));

    if (has_dec) {  // compress the blocks this chunk completes; the partial last block's entry is zero
      const GateConfig& c = dec.set->config;
      const GateWeights& W = dec.layers[size_t(layer)];
      const int dg = c.hidden_size, kin = int(c.k_pools.size()) * d;
      const int j0 = start / bs, j1 = kv_len / bs;
      const cuda::GateEntries e = layer_entries(layer).from(seq * entries_stride(), dg);  // this sequence's
      if (j1 > j0) {
        const int nblk = j1 - j0;
        SEER_RETURN_IF_ERROR(dfeat.reserve(size_t(Hkv) * nblk * kin * sizeof(float), "gate features"));
        SEER_RETURN_IF_ERROR(dproj.reserve(size_t(Hkv) * nblk * dg * sizeof(float), "gate projections"));
        SEER_CUDA_CHECK(cuda::run_gate_k_features(kstats(layer, seq), device_pools(c.k_pools), kv_len, j0, nblk,
                                                  dfeat.as<float>(), nblk, stream));
        SEER_RETURN_IF_ERROR(gemm(blas, false, nblk, dg, kin, 1.0f, {dfeat.as<float>(), kin, int64_t(nblk) * kin},
                                   {W.linear_k.as<float>(), dg, int64_t(kin) * dg}, dproj.as<float>(), dg,
                                   int64_t(nblk) * dg, Hkv));
        SEER_CUDA_CHECK(cuda::run_gate_norm_rope(dproj.as<float>(), Hkv, nblk, dg, int64_t(nblk) * dg,
                                                 W.k_norm.as<float>(), dec.rope(c.use_rope), j0, bs, e,
                                                 max_blocks, stream));
      }
      if (kv_len % bs != 0) {  // every KV head's entry j1: zero (scale 0 with int8)
        const size_t row = size_t(dg) * e.value_bytes();
        SEER_CUDA_CHECK(cudaMemset2DAsync(static_cast<char*>(e.values()) + j1 * row, max_blocks * row, 0, row,
                                          size_t(Hkv), stream));
        if (e.int8)
          SEER_CUDA_CHECK(cudaMemset2DAsync(e.scale + j1, size_t(max_blocks) * sizeof(float), 0, sizeof(float),
                                            size_t(Hkv), stream));
      }
    }
    if (!scoring) return Status::ok();

    const GateConfig& c = pre.set->config;
    const GateWeights& W = pre.layers[size_t(layer)];
    const bool two = c.prefill_two_linear(d);
    const int dg = c.hidden_size, kin = int(c.k_pools.size()) * d, qin = int(c.q_pools.size()) * d;
    const int kg = two ? 1 : g;  // projected keys per KV head and block: kproj [Hkv, nb, kg, dg]
    SEER_RETURN_IF_ERROR(kproj.reserve(size_t(Hkv) * nb * kg * dg * sizeof(float), "gate projections"));
    SEER_RETURN_IF_ERROR(qproj.reserve(size_t(Hq) * rows * dg * sizeof(float), "gate projections"));
    SEER_RETURN_IF_ERROR(scores.reserve(size_t(Hq) * rows * nb * sizeof(float), "gate scores"));
    SEER_RETURN_IF_ERROR(offsets.reserve((size_t(Hq) * rows + 1) * sizeof(int32_t), "gate selection"));
    SEER_RETURN_IF_ERROR(indices.reserve(size_t(Hq) * rows * nb * sizeof(int32_t), "gate selection"));

    // Keys: features of every block (the pass above wrote the chunk's blocks; the blocks before them
    // here) -> projection (K-only: the g query heads' matrices side by side, one GEMM per KV head) ->
    // RoPE at the block starts.
    SEER_CUDA_CHECK(cuda::run_gate_k_features(kstats(layer, seq), device_pools(c.k_pools), kv_len, 0, first_qb,
                                              kfeat.as<float>(), nb, stream));
    float* kp = kproj.as<float>();
    SEER_RETURN_IF_ERROR(gemm(blas, false, nb, kg * dg, kin, 1.0f, {kfeat.as<float>(), kin, int64_t(nb) * kin},
                               {W.linear_k.as<float>(), kg * dg, int64_t(kin) * kg * dg}, kp, kg * dg,
                               int64_t(nb) * kg * dg, Hkv));
    // K-only: the RoPE writes each query head's keys as one matrix, khead [Hq, nb, dg] (query head
    // h = kvh * g + i: column group i of kvh's projections), so that the score GEMM is a strided batch.
    float* kh = nullptr;
    if (!two) {
      SEER_RETURN_IF_ERROR(khead.reserve(size_t(Hq) * nb * dg * sizeof(float), "gate projections"));
      kh = khead.as<float>();
    }
    SEER_CUDA_CHECK(cuda::run_gate_rope_rows(kp, int64_t(Hkv) * nb * kg, dg, nb, kg, 0, pre.block_table.as<float>(),
                                             stream, kh));
    // Queries: pooled new tokens per query block (above) -> [linear_q] -> RoPE.
    float* qp = qfeat.as<float>();  // qin == dg without a Q linear
    if (two) {
      SEER_RETURN_IF_ERROR(gemm(blas, false, rows, dg, qin, 1.0f, {qfeat.as<float>(), qin, int64_t(rows) * qin},
                                 {W.linear_q.as<float>(), dg, int64_t(qin) * dg}, qproj.as<float>(), dg,
                                 int64_t(rows) * dg, Hq));
      qp = qproj.as<float>();
    }
    if (!q_roped)
      SEER_CUDA_CHECK(cuda::run_gate_rope_rows(qp, int64_t(Hq) * rows, dg, rows, 1, first_qb,
                                               pre.block_table.as<float>(), stream));
    // Scores [Hq, rows, nb] = qg · kgᵀ / sqrt(dg). Two-linear: a KV head's g query heads share its
    // keys (one GEMM of g * rows rows per KV head); K-only: query head h*g + i has its own keys.
    const float scale = 1.0f / std::sqrt(float(dg));
    if (two) {
      SEER_RETURN_IF_ERROR(gemm(blas, true, g * rows, nb, dg, scale, {qp, dg, int64_t(g) * rows * dg},
                                {kp, dg, int64_t(nb) * dg}, scores.as<float>(), nb, int64_t(g) * rows * nb, Hkv));
    } else if (rows >= 2 * kScoreTile) {  // K-only, long chunk: the causal tiles
      SEER_RETURN_IF_ERROR(score_tiles(qp, kh, rows, nb, first_qb, dg, scale));
    } else {  // K-only: query head h*g + i against its own keys, the whole [rows, nb] in one GEMM
      SEER_RETURN_IF_ERROR(gemm(blas, true, rows, nb, dg, scale, {qp, dg, int64_t(rows) * dg},
                                {kh, dg, int64_t(nb) * dg}, scores.as<float>(), nb, int64_t(rows) * nb, Hq));
    }
    return Status::ok();
  }

  Status prefill(int layer, int seq, const bf16* q, const bf16* k, int n, int start, DeviceSelection* sel,
                 bool* sparse, cuda::GateModelRope rope = {}) {
    *sparse = sparse_layer(layer, false);
    SEER_RETURN_IF_ERROR(prefill_scores(layer, seq, q, k, n, start, *sparse, rope));
    if (!*sparse) return Status::ok();
    const int Hq = model.num_qo_heads, kv_len = start + n;
    const int nb = (kv_len + bs - 1) / bs, first_qb = start / bs, rows = nb - first_qb;
    cuda::GateSelectParams sp;
    sp.scores = scores.as<float>();
    sp.row_stride = nb;
    sp.num_rows = Hq * rows;
    sp.rows_per_head = rows;
    sp.first_q_block = first_qb;
    sp.num_blocks = nb;
    sp.last_block_dense = spec.options.prefill.last_block_dense;
    sp.keep_sink = spec.options.prefill.keep_sink;
    sp.sink_excluded = pre.set->config.sink_excluded;
    sp.block_size = bs;
    sp.top_k = spec.options.prefill.kind == PrefillSparsity::Kind::kDensity;
    sp.mass = spec.options.prefill.kind == PrefillSparsity::Kind::kMass;
    sp.k = sp.top_k ? density_top_k(spec.options.prefill.value, nb) : 0;
    const std::vector<float>& shares = spec.options.prefill_budget_shares;
    if (sp.top_k && !shares.empty()) {  // each query head its own k (seer::prefill_budget_blocks, as the CPU)
      if (shares.size() != size_t(model.num_layers) * Hq)
        return Status::error("GPU gates: {} prefill budget shares for {} layers x {} query heads", shares.size(),
                             model.num_layers, Hq);
      if (prefill_k_rows != std::pair{first_qb, nb}) {
        prefill_k_host = prefill_budget_blocks(shares, Hq, spec.options.start_layer, sp.k, first_qb, nb);
        SEER_RETURN_IF_ERROR(prefill_k.reserve(prefill_k_host.size() * sizeof(int32_t), "gate budget shares"));
        SEER_CUDA_CHECK(cudaMemcpyAsync(prefill_k.ptr, prefill_k_host.data(), prefill_k_host.size() * sizeof(int32_t),
                                        cudaMemcpyHostToDevice, stream));
        prefill_k_rows = {first_qb, nb};
      }
      sp.head_k = prefill_k.as<int32_t>() + size_t(layer) * Hq;
    }
    sp.tau = spec.options.prefill.value;
    sp.row_offsets = offsets.as<int32_t>();
    sp.block_indices = indices.as<int32_t>();
    sp.counts = layer_counts(layer, false);
    SEER_CUDA_CHECK(cuda::run_gate_select(sp, stream));
    SEER_CUDA_CHECK_LAUNCH("gate prefill", stream);
    sel->offsets = offsets.as<int32_t>();
    sel->indices = indices.as<int32_t>();
    sel->per_kv_head = false;
    sel->first_q_block = first_qb;
    sel->num_rows = rows;
    sel->max_row_blocks = nb;
    return Status::ok();
  }

  // CudaGates::fold_query: the folded weight (and bias) of a layer the decode gate scores.
  Status fold_query(int layer, const bf16* wq, const float* bq) {
    if (layer < 0 || layer >= model.num_layers) return Status::error("GPU gates: fold_query: no layer {}", layer);
    if (!has_dec || !sparse_layer(layer, true)) return Status::ok();
    if (!wq) return Status::error("GPU gates: fold_query: layer {} has no Q weight", layer);
    const GateConfig& c = dec.set->config;
    const int dg = c.hidden_size, rows = folded_query_rows(), D = model.hidden_size;
    SEER_RETURN_IF_ERROR(fold_w[size_t(layer)].reserve(size_t(rows) * D * sizeof(bf16), "folded gate query"));
    if (bq) SEER_RETURN_IF_ERROR(fold_b[size_t(layer)].reserve(size_t(rows) * sizeof(float), "folded gate query"));
    SEER_CUDA_CHECK(cuda::run_gate_fold_query(wq, bq, dec.layers[size_t(layer)].linear_q.as<float>(),
                                              int(c.q_head_pooling), model.num_qo_heads, model.num_kv_heads,
                                              model.head_dim, dg, D, fold_w[size_t(layer)].as<bf16>(),
                                              bq ? fold_b[size_t(layer)].as<float>() : nullptr, stream));
    return Status::ok();
  }
  int folded_query_rows() const { return has_dec ? model.num_kv_heads * dec.set->config.hidden_size : 0; }
  const bf16* folded_query_weight(int layer) const {
    return layer >= 0 && size_t(layer) < fold_w.size() ? fold_w[size_t(layer)].as<bf16>() : nullptr;
  }

  // Updates the cache; when `scoring`, leaves the scores [B * Hkv, nb] in `scores` (from q, or from the
  // model's folded product q_folded).
  Status decode_scores(int layer, const bf16* q, const bf16* k, const int32_t* kv_lens, int max_kv_len,
                       bool scoring, const bf16* q_folded = nullptr) {
    const int Hq = model.num_qo_heads, Hkv = model.num_kv_heads, d = model.head_dim;
    if (layer < 0 || layer >= model.num_layers || max_kv_len < 1 || max_kv_len > max_context)
      return Status::error("GPU gates: bad decode call (layer {}, longest sequence {}, context {})", layer, max_kv_len,
                           max_context);
    if (scoring && !has_dec) return Status::error("GPU gates: no decode gate to score with");
    cuda::GateDecodeParams p;
    p.batch_size = batch;
    p.num_qo_heads = Hq;
    p.num_kv_heads = Hkv;
    p.head_dim = d;
    p.block_size = bs;
    p.max_blocks = max_blocks;
    p.kv_lens = kv_lens;
    p.k = k;
    p.k_stride = int64_t(Hkv) * d;
    p.stats = stats[size_t(layer)].as<float>();
    p.stats_stride = stats_stride();
    p.scoring = scoring;
    p.slices = has_dec ? slices : 1;  // statistics only: one CTA per (sequence, KV head)
    p.q_partial = q_partial.as<float>();
    p.e_partial = e_partial.as<float>();
    p.done = done.as<unsigned>();
    p.qg = qproj.as<float>();
    if (has_dec) {
      const GateConfig& c = dec.set->config;
      const GateWeights& W = dec.layers[size_t(layer)];
      p.hidden = c.hidden_size;
      p.entries = layer_entries(layer);
      p.k_pools = device_pools(c.k_pools);
      p.linear_k = W.linear_k.as<float>();
      p.k_norm = W.k_norm.as<float>();
      p.q = q;
      p.q_stride = int64_t(Hq) * d;
      p.q_pooling = int(c.q_head_pooling);
      p.linear_q = W.linear_q.as<float>();
      p.q_norm = W.q_norm.as<float>();
      p.rope = dec.rope(c.use_rope);
      p.upstream_rope_position = spec.options.gate_upstream_rope_position;
      if (q_folded && scoring) {
        if (!folded_query_weight(layer))
          return Status::error("GPU gates: a folded query for layer {}, which fold_query has not folded", layer);
        p.q_folded = q_folded;
        p.q_folded_stride = folded_query_rows();
        p.q_folded_bias = fold_b[size_t(layer)].as<float>();
      }
    }
    SEER_CUDA_CHECK(cuda::run_gate_decode_step(p, stream));
    if (!scoring) return Status::ok();
    const int nb = (max_kv_len + bs - 1) / bs;
    SEER_RETURN_IF_ERROR(scores.reserve(size_t(batch) * Hkv * nb * sizeof(float), "gate scores"));
    SEER_CUDA_CHECK(cuda::run_gate_decode_scores(p, scores.as<float>(), nb, nb, stream));
    return Status::ok();
  }

  Status decode(int layer, const bf16* q, const bf16* k, const int32_t* kv_lens, int max_kv_len, DeviceSelection* sel,
                bool* sparse, const bf16* q_folded) {
    *sparse = sparse_layer(layer, true);
    SEER_RETURN_IF_ERROR(decode_scores(layer, q, k, kv_lens, max_kv_len, *sparse, q_folded));
    if (!*sparse) return Status::ok();
    const int rows = batch * model.num_kv_heads, nb = (max_kv_len + bs - 1) / bs;
    SEER_RETURN_IF_ERROR(offsets.reserve(size_t(rows) * sizeof(int32_t), "gate selection"));
    SEER_RETURN_IF_ERROR(indices.reserve(size_t(rows) * nb * sizeof(int32_t), "gate selection"));
    const DecodeSparsity& ds = spec.options.decode;
    cuda::GateSelectParams sp;  // fixed-stride rows: no scan, sparse_decode reads them as they are
    sp.scores = scores.as<float>();
    sp.row_stride = nb;
    sp.num_rows = rows;
    sp.decode = true;
    sp.kv_lens = kv_lens;
    sp.num_heads = model.num_kv_heads;
    sp.num_blocks = nb;
    sp.block_size = bs;
    sp.top_k = ds.kind == DecodeSparsity::Kind::kBudget;
    sp.mass = ds.kind == DecodeSparsity::Kind::kMass;
    sp.k = sp.top_k ? int(std::min<int64_t>(int64_t(ds.value) / bs, nb)) : 0;
    if (sp.top_k && !budget_k_max.empty()) {
      sp.head_k = budget_k.as<int32_t>() + size_t(layer) * model.num_kv_heads;
      sp.k = std::min(budget_k_max[size_t(layer)], nb);  // (bounds the rows' lists: max_row_blocks)
    }
    sp.tau = ds.value;
    sp.sink_excluded = dec.set->config.sink_excluded;
    sp.block_indices = indices.as<int32_t>();
    sp.row_counts = offsets.as<int32_t>();
    sp.index_stride = nb;
    sp.counts = layer_counts(layer, true);
    SEER_CUDA_CHECK(cuda::run_gate_select(sp, stream));
    SEER_CUDA_CHECK_LAUNCH("gate decode", stream);
    sel->offsets = nullptr;
    sel->indices = indices.as<int32_t>();
    sel->counts = offsets.as<int32_t>();
    sel->stride = nb;
    sel->per_kv_head = true;
    sel->first_q_block = nb - 1;
    sel->num_rows = 1;
    sel->max_row_blocks = sp.top_k ? std::min(nb, sp.k + 2) : nb;
    return Status::ok();
  }

  Status download_scores(size_t count, std::vector<float>* out) {
    out->resize(count);
    SEER_CUDA_CHECK(cudaMemcpyAsync(out->data(), scores.ptr, count * sizeof(float), cudaMemcpyDeviceToHost, stream));
    SEER_CUDA_CHECK(cudaStreamSynchronize(stream));
    return Status::ok();
  }

  Status take_counts(std::vector<LayerDensity>* out) {
    const size_t nc = host_counts.size();
    SEER_CUDA_CHECK(cudaMemcpyAsync(host_counts.data(), counters.ptr, nc * sizeof(unsigned long long),
                                    cudaMemcpyDeviceToHost, stream));
    SEER_CUDA_CHECK(cudaMemsetAsync(counters.ptr, 0, nc * sizeof(unsigned long long), stream));
    SEER_CUDA_CHECK(cudaStreamSynchronize(stream));
    out->assign(size_t(model.num_layers), LayerDensity{});
    for (int l = 0; l < model.num_layers; ++l)
      for (int phase = 0; phase < 2; ++phase) {
        const unsigned long long* c = host_counts.data() + (size_t(l) * 2 + phase) * 3;
        BlockCounts& b = phase ? (*out)[size_t(l)].decode : (*out)[size_t(l)].prefill;
        b.selected = int64_t(c[0]);
        b.dense = int64_t(c[1]);
        b.forced = int64_t(c[2]);
      }
    return Status::ok();
  }
};

CudaGates::CudaGates() : impl_(std::make_unique<Impl>()) {}
CudaGates::~CudaGates() = default;
int CudaGates::block_size() const { return impl_->bs; }

Result<std::unique_ptr<CudaGates>> CudaGates::create(const DeviceGateSpec& spec, const ModelConfig& model,
                                                     int max_context, int batch_size, cublasHandle_t blas,
                                                     cudaStream_t stream) {
  std::unique_ptr<CudaGates> g(new CudaGates());
  SEER_RETURN_IF_ERROR(g->impl_->init(spec, model, max_context, batch_size, blas, stream));
  // The weights' uploads (pageable cudaMemcpy on the legacy stream) land before `stream` reads them.
  SEER_CUDA_CHECK(cudaDeviceSynchronize());
  return g;
}

Status CudaGates::prefill(int layer, int seq, const bf16* q, const bf16* k, int n, int start, DeviceSelection* sel,
                          bool* sparse) {
  return impl_->prefill(layer, seq, q, k, n, start, sel, sparse);
}

Status CudaGates::prefill_and_rope(int layer, int seq, __nv_bfloat16* q, __nv_bfloat16* k, int n, int start,
                                   const float* rope_cos, const float* rope_sin, DeviceSelection* sel, bool* sparse) {
  if (!rope_cos || !rope_sin) return Status::error("GPU gates: prefill_and_rope without RoPE tables");
  return impl_->prefill(layer, seq, q, k, n, start, sel, sparse, cuda::GateModelRope{rope_cos, rope_sin});
}

Status CudaGates::decode(int layer, const bf16* q, const bf16* k, const int32_t* kv_lens, int max_kv_len,
                         DeviceSelection* sel, bool* sparse, const bf16* q_folded) {
  return impl_->decode(layer, q, k, kv_lens, max_kv_len, sel, sparse, q_folded);
}

Status CudaGates::fold_query(int layer, const bf16* wq, const float* bq) { return impl_->fold_query(layer, wq, bq); }
const bf16* CudaGates::folded_query_weight(int layer) const { return impl_->folded_query_weight(layer); }
int CudaGates::folded_query_rows() const { return impl_->folded_query_rows(); }

Status CudaGates::prefill_scores(int layer, int seq, const bf16* q, const bf16* k, int n, int start,
                                 std::vector<float>* scores) {
  if (!impl_->has_pre) return Status::error("GPU gates: no prefill gate to score with");
  SEER_RETURN_IF_ERROR(impl_->prefill_scores(layer, seq, q, k, n, start, true));
  const int nb = (start + n + impl_->bs - 1) / impl_->bs, rows = nb - start / impl_->bs;
  return impl_->download_scores(size_t(impl_->model.num_qo_heads) * rows * nb, scores);
}

Status CudaGates::decode_scores(int layer, const bf16* q, const bf16* k, const int32_t* kv_lens, int max_kv_len,
                                std::vector<float>* scores, const bf16* q_folded) {
  SEER_RETURN_IF_ERROR(impl_->decode_scores(layer, q, k, kv_lens, max_kv_len, true, q_folded));
  const int nb = (max_kv_len + impl_->bs - 1) / impl_->bs;
  return impl_->download_scores(size_t(impl_->batch) * impl_->model.num_kv_heads * nb, scores);
}

Status CudaGates::decode_entries(int layer, std::vector<float>* out) {
  Impl& m = *impl_;
  if (!m.has_dec || layer < 0 || layer >= m.model.num_layers)
    return Status::error("GPU gates: no decode gate cache for layer {}", layer);
  const cuda::GateEntries e = m.layer_entries(layer);
  const size_t n = size_t(m.batch) * size_t(e.stride), dg = size_t(m.dec.set->config.hidden_size);
  std::vector<uint8_t> raw(n * dg * size_t(e.value_bytes()));
  std::vector<float> scale(e.int8 ? n : 0);
  SEER_CUDA_CHECK(cudaMemcpyAsync(raw.data(), e.values(), raw.size(), cudaMemcpyDeviceToHost, m.stream));
  if (e.int8)
    SEER_CUDA_CHECK(cudaMemcpyAsync(scale.data(), e.scale, n * sizeof(float), cudaMemcpyDeviceToHost, m.stream));
  SEER_CUDA_CHECK(cudaStreamSynchronize(m.stream));
  out->resize(n * dg);
  for (size_t i = 0; i < n * dg; ++i) {
    if (e.int8) {
      (*out)[i] = scale[i / dg] * float(int8_t(raw[i]));
    } else {
      uint16_t v;
      std::memcpy(&v, raw.data() + 2 * i, 2);
      (*out)[i] = bf16_to_fp32(v);
    }
  }
  return Status::ok();
}

Status CudaGates::decode_query(std::vector<float>* out) {
  Impl& m = *impl_;
  if (!m.has_dec) return Status::error("GPU gates: no decode gate query");
  out->resize(size_t(m.batch) * m.model.num_kv_heads * m.dec.set->config.hidden_size);
  SEER_CUDA_CHECK(cudaMemcpyAsync(out->data(), m.qproj.ptr, out->size() * sizeof(float), cudaMemcpyDeviceToHost, m.stream));
  SEER_CUDA_CHECK(cudaStreamSynchronize(m.stream));
  return Status::ok();
}

Status CudaGates::take_counts(std::vector<LayerDensity>* out) { return impl_->take_counts(out); }

}  // namespace seer

#endif  // SEER_HAVE_CUDA
