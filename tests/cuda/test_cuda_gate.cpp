// The learned gates on the GPU (src/model/cuda_gate.h, src/kernels/cuda/gate.cuh) against the CPU
// references on fresh random inputs:
//   * selection: run_gate_select == seer::select_prefill / select_decode, exactly (lists and
//     counts), on scores with ties, NaN and infinities, every method and forcing rule, per-head
//     counts from budget shares (prefill and decode), and for a
//     gate trained without block 0 (sink_excluded) against the scores the CPU gates hand the
//     selection then;
//   * pooling: run_gate_pool == host max / min / sums of the same bf16 rows;
//   * prefill gate: CudaGates::prefill_scores == seer::PrefillGate logits over a chunked sequence
//     with decode steps in between, for the K-only and the two-linear gates;
//   * decode gate: CudaGates::decode_scores == seer::KCompressionCache + decode_gate_scores for a
//     batch of sequences of different lengths, every query head pooling, with and without qk-norm;
//   * the model: CudaForward with a policy that hands its gates to the device keeps every block
//     when the sparsity keeps every block (logits equal the dense forward), and counts blocks.
// Scores: the GPU projects in TF32 and keeps the compressed cache in bf16, so they are compared
// relative to each row's largest score (1%); a wrong pool, position, head mapping or norm moves
// them by O(100%).
#ifdef SEER_CUDA_MINI_GTEST
#include "mini_gtest.h"
#else
#include <gtest/gtest.h>
#endif

#include <cuda_runtime.h>

#include <seer/attention.h>
#include <seer/dtype.h>
#include <seer/gates.h>
#include <seer/model.h>
#include <seer/policies.h>
#include <seer/sparsity.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/gate.cuh"
#include "kernels/cuda/model_ops.cuh"
#include "model/cuda_forward.h"
#include "model/cuda_gate.h"

namespace {

using namespace seer;
using bf16 = __nv_bfloat16;

bool gpu_present() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

#define GPU_OR_SKIP()                             \
  do {                                            \
    if (!gpu_present()) GTEST_SKIP() << "no GPU"; \
  } while (0)

// A device copy of a host vector (freed with the object).
template <typename T>
struct Dev {
  T* ptr = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) { EXPECT_EQ(cudaMalloc(&ptr, std::max<size_t>(1, n) * sizeof(T)), cudaSuccess); }
  explicit Dev(const std::vector<T>& v) : Dev(v.size()) { upload(v); }
  ~Dev() { cudaFree(ptr); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  void upload(const std::vector<T>& v) {
    EXPECT_EQ(cudaMemcpy(ptr, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<T> download(size_t count) const {
    std::vector<T> v(count);
    EXPECT_EQ(cudaMemcpy(v.data(), ptr, count * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
  }
};

// ---------------------------------------------------------------------------------------------
// Selection

// Logits with ties (a share rounded to coarse steps); mode 1 sprinkles NaN, -inf and +inf in; mode 2
// keeps all within 100 +- 0.01 (keys sharing their high bits: the radix passes start low); mode 3 is
// mode 2 with a few outliers at +-1e30 (the value bins crowd every other key into one bin, which the
// radix passes then split).
// kMasked: 60% of the scores -inf (a masked row): Top-K's k-th largest is often -inf itself, and a
// threshold or mass row has many zero weights (the mass cut's lowest positive weight is not bit 1).
enum ScoreMode { kPlain = 0, kSpecials = 1, kNarrow = 2, kOutliers = 3, kMasked = 4 };
const char* const kScoreModeName[] = {"", " specials", " narrow", " outliers", " masked"};

std::vector<float> random_scores(size_t n, std::mt19937& rng, int mode) {
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> s(n);
  for (float& x : s) {
    x = nd(rng);
    const float r = u(rng);
    if (r < 0.3f) x = std::round(x * 2.0f) / 2.0f;  // ties
    if (mode == kNarrow || mode == kOutliers) x = 100.0f + x / 512.0f;
    if (mode == kOutliers) {
      if (r > 0.99f) x = 1e30f;
      else if (r > 0.985f) x = -1e30f;
    }
    if (mode == kMasked && r > 0.4f) x = -std::numeric_limits<float>::infinity();
    if (mode != kSpecials) continue;
    if (r > 0.995f) x = std::numeric_limits<float>::quiet_NaN();
    else if (r > 0.99f) x = -std::numeric_limits<float>::infinity();
    else if (r > 0.9895f) x = std::numeric_limits<float>::infinity();
  }
  return s;
}

struct GpuSelection {
  std::vector<int32_t> offsets, indices;
  BlockCounts counts;
};

// CSR output, or (fixed_stride) rows of `stride` entries with counts, turned into CSR here.
GpuSelection gpu_select(cuda::GateSelectParams p, const std::vector<float>& scores, int64_t capacity,
                        int64_t fixed_stride = 0) {
  Dev<float> s(scores);
  Dev<int32_t> off(size_t(p.num_rows) + 1), idx(size_t(std::max<int64_t>(1, capacity)));
  Dev<unsigned long long> counts(std::vector<unsigned long long>{0, 0, 0});
  p.scores = s.ptr;
  p.block_indices = idx.ptr;
  p.counts = counts.ptr;
  if (fixed_stride > 0) {
    p.row_counts = off.ptr;
    p.index_stride = fixed_stride;
  } else {
    p.row_offsets = off.ptr;
  }
  EXPECT_EQ(cuda::run_gate_select(p, nullptr), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  GpuSelection r;
  if (fixed_stride > 0) {
    const std::vector<int32_t> n = off.download(size_t(p.num_rows));
    const std::vector<int32_t> all = idx.download(size_t(capacity));
    r.offsets.assign(1, 0);
    for (int row = 0; row < p.num_rows; ++row) {
      r.indices.insert(r.indices.end(), all.begin() + row * fixed_stride, all.begin() + row * fixed_stride + n[size_t(row)]);
      r.offsets.push_back(int32_t(r.indices.size()));
    }
  } else {
    r.offsets = off.download(size_t(p.num_rows) + 1);
    r.indices = idx.download(size_t(r.offsets.back()));
  }
  const auto c = counts.download(3);
  r.counts.selected = int64_t(c[0]);
  r.counts.dense = int64_t(c[1]);
  r.counts.forced = int64_t(c[2]);
  return r;
}

void expect_same(const GpuSelection& g, const std::vector<int32_t>& offsets, const std::vector<int32_t>& indices,
                 const BlockCounts& c, const std::string& what) {
  EXPECT_EQ(g.offsets, offsets) << what;
  EXPECT_EQ(g.indices, indices) << what;
  EXPECT_EQ(g.counts.selected, c.selected) << what;
  EXPECT_EQ(g.counts.dense, c.dense) << what;
  EXPECT_EQ(g.counts.forced, c.forced) << what;
}

// The CPU reference of a gate trained without block 0 (GateConfig::sink_excluded), on scores whose
// entry 0 the GPU must ignore: the CPU gates give block 0 +inf, so Top-K ranks it first (here: the
// same logits with entry 0 = +inf). A threshold takes the softmax over blocks 1.. and passes block 0;
// here: entry 0 = -inf, which leaves the softmax over the others as it is and block 0 out, and the
// rule's forced sink (prefill keep_sink, decode always) puts it back, so the lists are the same and
// block 0 is one forced block per row more than the GPU's pick.
void sink_excluded_reference(std::vector<float>& rows, int64_t num_rows, int64_t stride, bool top_k) {
  for (int64_t r = 0; r < num_rows; ++r)
    rows[size_t(r * stride)] = top_k ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
}

// Prefill selection parameters of `heads` heads x `rows` query blocks from `first` on, under `s` (its method,
// k, sink rule and last_block_dense); the buffers are gpu_select's.
cuda::GateSelectParams prefill_select_params(const PrefillSparsity& s, int heads, int rows, int first, bool excluded) {
  const int nb = first + rows;
  cuda::GateSelectParams p;
  p.row_stride = nb;
  p.num_rows = heads * rows;
  p.rows_per_head = rows;
  p.first_q_block = first;
  p.num_blocks = nb;
  p.last_block_dense = s.last_block_dense;
  p.keep_sink = s.keep_sink;
  p.sink_excluded = excluded;
  p.top_k = s.kind == PrefillSparsity::Kind::kDensity;
  p.mass = s.kind == PrefillSparsity::Kind::kMass;
  p.k = p.top_k ? density_top_k(s.value, nb) : 0;
  p.tau = s.value;
  return p;
}

TEST(CudaGate, PrefillSelectionMatchesCpu) {
  GPU_OR_SKIP();
  std::mt19937 rng(11);
  const int heads = 3;
  // Row lengths first + 1 .. first + rows: in every register tier (<= 128, 256, 512, 2048 entries) and
  // past them; with 150 rows, from 200, 460 and 1950 on a call's rows span two tiers (two launches).
  for (int first : {0, 7, 200, 460, 1950, 2100})
    for (int rows : {1, 2, 37, 150})
      for (const char* method : {"density:0.1", "density:0.1,nosink", "density:0.5", "density:1", "threshold:0",
                                 "threshold:0.02", "threshold:0.3", "threshold:0.3,nosink", "mass:0.05", "mass:0.5",
                                 "mass:0.9,nosink", "mass:0.99", "mass:1"})
        for (bool lbd : {false, true})
          for (int mode : {kPlain, kSpecials, kNarrow, kOutliers, kMasked})
          for (bool excluded : {false, true}) {
            auto sp = PrefillSparsity::parse(method);
            ASSERT_TRUE(sp.is_ok());
            PrefillSparsity s = sp.value();
            s.last_block_dense = lbd;
            const int nb = first + rows;
            const std::vector<float> scores = random_scores(size_t(heads) * rows * nb, rng, mode);
            const bool top_k = s.kind == PrefillSparsity::Kind::kDensity;
            std::vector<float> ref = scores;
            PrefillSparsity rs = s;
            if (excluded) {
              sink_excluded_reference(ref, int64_t(heads) * rows, nb, top_k);
              if (!top_k) rs.keep_sink = true;
            }
            PrefillSelectArgs a;
            a.num_heads = heads;
            a.first_q_block = first;
            a.num_rows = rows;
            a.num_blocks = nb;
            BlockSelection cpu;
            BlockCounts cc;
            ASSERT_TRUE(select_prefill(rs, a, ref.data(), &cpu, &cc).is_ok());
            if (excluded && !top_k) cc.forced -= int64_t(heads) * rows;  // block 0: the GPU's pick
            const cuda::GateSelectParams p = prefill_select_params(s, heads, rows, first, excluded);
            const GpuSelection g = gpu_select(p, scores, int64_t(heads) * rows * nb);
            expect_same(g, cpu.offsets, cpu.indices, cc,
                        std::string(method) + " first " + std::to_string(first) + " rows " + std::to_string(rows) +
                            (lbd ? " last_block_dense" : "") + kScoreModeName[mode] +
                            (excluded ? " sink excluded" : ""));
          }
}

// The CPU's decode lists of a batch (select_decode per sequence; rows [B][Hkv] of `scores`, max_nb apart,
// each sequence's own blocks), as one CSR over every row, as run_gate_select lists them, with the counts.
// `excluded`: a gate trained without block 0 (sink_excluded_reference); head_blocks: per-head budgets.
struct CpuDecodeLists {
  std::vector<int32_t> offsets{0}, indices;
  BlockCounts counts;
};
CpuDecodeLists cpu_decode_lists(const DecodeSparsity& s, const std::vector<float>& scores,
                                const std::vector<int32_t>& kv_lens, int Hkv, int bs, bool excluded,
                                const int* head_blocks = nullptr) {
  CpuDecodeLists out;
  const int B = int(kv_lens.size()), max_nb = (kv_lens.back() + bs - 1) / bs;
  for (int b = 0; b < B; ++b) {
    const int nb = (kv_lens[size_t(b)] + bs - 1) / bs;
    std::vector<float> rows(size_t(Hkv) * nb);
    for (int h = 0; h < Hkv; ++h)
      std::copy_n(scores.begin() + (int64_t(b) * Hkv + h) * max_nb, nb, rows.begin() + int64_t(h) * nb);
    if (excluded) sink_excluded_reference(rows, Hkv, nb, s.kind == DecodeSparsity::Kind::kBudget);
    DecodeSelectArgs a;
    a.num_heads = Hkv;
    a.num_blocks = nb;
    a.head_blocks = head_blocks;
    BlockSelection cpu;
    EXPECT_TRUE(select_decode(s, a, rows.data(), &cpu, &out.counts).is_ok());
    for (size_t r = 1; r < cpu.offsets.size(); ++r)
      out.offsets.push_back(out.offsets.back() + cpu.offsets[r] - cpu.offsets[r - 1]);
    out.indices.insert(out.indices.end(), cpu.indices.begin(), cpu.indices.end());
  }
  return out;
}

// Decode selection parameters of B sequences x Hkv heads, rows max_nb apart (method fields left to the caller).
cuda::GateSelectParams decode_select_params(const int32_t* kv_lens, int B, int Hkv, int max_nb, int bs) {
  cuda::GateSelectParams p;
  p.row_stride = max_nb;
  p.num_rows = B * Hkv;
  p.decode = true;
  p.kv_lens = kv_lens;
  p.num_heads = Hkv;
  p.num_blocks = max_nb;
  p.block_size = bs;
  return p;
}

TEST(CudaGate, DecodeSelectionMatchesCpu) {
  GPU_OR_SKIP();
  std::mt19937 rng(12);
  const int Hkv = 2, bs = 64;
  // Rows in registers (up to 2048 blocks), then read from memory (a longest row of 2050 blocks).
  for (const std::vector<int32_t>& kv_lens : {std::vector<int32_t>{1, 63, 64, 65, 1000, 4097, 131072},
                                              std::vector<int32_t>{1, 65, 4097, 131072 + 100}})
    for (const char* method : {"budget:1", "budget:64", "budget:320", "budget:4096", "budget:1000000", "threshold:0",
                               "threshold:0.001", "threshold:0.2", "mass:0.05", "mass:0.5", "mass:0.9", "mass:1"})
      for (int mode : {kPlain, kSpecials, kNarrow, kOutliers, kMasked})
      for (bool excluded : {false, true}) {
        const int B = int(kv_lens.size());
        const int max_nb = (kv_lens.back() + bs - 1) / bs;
        DecodeSparsity s = DecodeSparsity::parse(method).value();
        const bool top_k = s.kind == DecodeSparsity::Kind::kBudget;
        const bool mass = s.kind == DecodeSparsity::Kind::kMass;
        std::vector<float> scores = random_scores(size_t(B) * Hkv * max_nb, rng, mode);
        CpuDecodeLists want = cpu_decode_lists(s, scores, kv_lens, Hkv, bs, excluded);
        const std::vector<int32_t>& offsets = want.offsets;
        const std::vector<int32_t>& indices = want.indices;
        BlockCounts& cc = want.counts;
        if (excluded && !top_k) cc.forced -= int64_t(B) * Hkv;  // block 0: the GPU's pick
        Dev<int32_t> lens(kv_lens);
        cuda::GateSelectParams p = decode_select_params(lens.ptr, B, Hkv, max_nb, bs);
        p.top_k = top_k;
        p.mass = mass;
        p.k = p.top_k ? int(std::min<int64_t>(int64_t(s.value) / bs, max_nb)) : 0;
        p.tau = s.value;
        p.sink_excluded = excluded;
        for (bool fixed : {false, true}) {  // CSR, and the fixed-stride rows sparse_decode reads
          const GpuSelection g = gpu_select(p, scores, int64_t(B) * Hkv * max_nb, fixed ? max_nb : 0);
          expect_same(g, offsets, indices, cc,
                      std::string(method) + " longest " + std::to_string(kv_lens.back()) +
                          kScoreModeName[mode] + (excluded ? " sink excluded" : "") +
                          (fixed ? " fixed-stride" : " CSR"));
        }
      }
}

// A budget split over the KV heads by shares (GateSelectParams::head_k, seer::share_budget): each row's
// Top-K takes its head's own k, and the lists equal the CPU's select_decode with the same per-head counts
// (DecodeSelectArgs::head_blocks). Shares of two "layers" of three heads; the second layer's counts go
// to the kernel, from 1 block to more than a row holds.
TEST(CudaGate, DecodeSelectionWithBudgetSharesMatchesCpu) {
  GPU_OR_SKIP();
  std::mt19937 rng(13);
  const int Hkv = 3, bs = 64;
  std::uniform_real_distribution<float> share(0.05f, 3.0f);
  for (const std::vector<int32_t>& kv_lens : {std::vector<int32_t>{1, 65, 700, 4097, 131072},
                                              std::vector<int32_t>{64, 1000, 131072 + 100}})
    for (int budget : {64, 512, 4096})
      for (int trial = 0; trial < 3; ++trial)
        for (bool excluded : {false, true}) {
          std::vector<float> shares(size_t(2) * Hkv);
          for (float& x : shares) x = share(rng);
          if (trial == 2) shares[size_t(Hkv)] = 40.0f;  // one head past the longest row of the short lists
          const std::vector<int> all_k = share_budget(shares, budget / bs);
          const std::vector<int32_t> head_k(all_k.begin() + Hkv, all_k.end());
          const int B = int(kv_lens.size()), max_nb = (kv_lens.back() + bs - 1) / bs;
          const DecodeSparsity s = DecodeSparsity::parse("budget:" + std::to_string(budget)).value();
          std::vector<float> scores = random_scores(size_t(B) * Hkv * max_nb, rng, trial == 1 ? kSpecials : kPlain);
          const CpuDecodeLists want = cpu_decode_lists(s, scores, kv_lens, Hkv, bs, excluded, all_k.data() + Hkv);
          const std::vector<int32_t>& offsets = want.offsets;
          const std::vector<int32_t>& indices = want.indices;
          const BlockCounts& cc = want.counts;
          for (int b = 0; b < B; ++b)  // each head its own count, with the sink and current block on top
            for (int h = 0; h < Hkv; ++h) {
              const size_t row = size_t(b) * Hkv + size_t(h);
              EXPECT_GE(offsets[row + 1] - offsets[row], std::min(head_k[size_t(h)], (kv_lens[size_t(b)] + bs - 1) / bs));
            }
          Dev<int32_t> lens(kv_lens), ks(head_k);
          cuda::GateSelectParams p = decode_select_params(lens.ptr, B, Hkv, max_nb, bs);
          p.top_k = true;
          p.k = std::min(*std::max_element(head_k.begin(), head_k.end()), max_nb);
          p.head_k = ks.ptr;
          p.sink_excluded = excluded;
          for (bool fixed : {false, true}) {
            const GpuSelection g = gpu_select(p, scores, int64_t(B) * Hkv * max_nb, fixed ? max_nb : 0);
            expect_same(g, offsets, indices, cc,
                        "budget " + std::to_string(budget) + " trial " + std::to_string(trial) + " longest " +
                            std::to_string(kv_lens.back()) + (excluded ? " sink excluded" : "") +
                            (fixed ? " fixed-stride" : " CSR"));
          }
        }
}

// A prefill Top-K split over the query heads by shares (GateSelectParams::head_k, seer::share_budget of
// density:ρ's k): each head's rows take its own k; the closed-form CSR offsets and counts then sum over
// heads of different lengths. Against the CPU's select_prefill with the same per-head counts
// (PrefillSelectArgs::head_blocks), in every register tier, with the sink rule and last_block_dense.
TEST(CudaGate, PrefillSelectionWithBudgetSharesMatchesCpu) {
  GPU_OR_SKIP();
  std::mt19937 rng(14);
  const int heads = 5;
  std::uniform_real_distribution<float> share(0.05f, 4.0f);
  for (int first : {0, 7, 200, 460, 1950})
    for (int rows : {1, 37, 150})
      for (const char* method : {"density:0.05", "density:0.2", "density:0.2,nosink"})
        for (bool lbd : {false, true})
          for (bool excluded : {false, true}) {
            PrefillSparsity s = PrefillSparsity::parse(method).value();
            s.last_block_dense = lbd;
            const int nb = first + rows, k = density_top_k(s.value, nb);
            std::vector<float> shares(size_t(2) * heads);  // two layers; the second's counts go to the kernel
            for (float& x : shares) x = share(rng);
            if (lbd) shares[size_t(heads) + 1] = 60.0f;  // one head past the rows' lengths
            const std::vector<int> all_k = share_budget(shares, k);
            const std::vector<int32_t> head_k(all_k.begin() + heads, all_k.end());
            const std::vector<float> scores = random_scores(size_t(heads) * rows * nb, rng, excluded ? kSpecials : kPlain);
            std::vector<float> ref = scores;
            if (excluded) sink_excluded_reference(ref, int64_t(heads) * rows, nb, true);
            PrefillSelectArgs a;
            a.num_heads = heads;
            a.first_q_block = first;
            a.num_rows = rows;
            a.num_blocks = nb;
            a.head_blocks = all_k.data() + heads;
            BlockSelection cpu;
            BlockCounts cc;
            ASSERT_TRUE(select_prefill(s, a, ref.data(), &cpu, &cc).is_ok());
            Dev<int32_t> ks(head_k);
            cuda::GateSelectParams p = prefill_select_params(s, heads, rows, first, excluded);
            p.head_k = ks.ptr;  // (p.k, the uniform k, is the closed form's switch)
            const GpuSelection g = gpu_select(p, scores, int64_t(heads) * rows * nb);
            expect_same(g, cpu.offsets, cpu.indices, cc,
                        std::string(method) + " first " + std::to_string(first) + " rows " + std::to_string(rows) +
                            (lbd ? " last_block_dense" : "") + (excluded ? " sink excluded" : ""));
          }
}

// ---------------------------------------------------------------------------------------------
// Gate math

ModelConfig gate_model(int Hq, int Hkv, int d) {
  ModelConfig c;
  c.num_layers = 2;
  c.num_qo_heads = Hq;
  c.num_kv_heads = Hkv;
  c.head_dim = d;
  c.hidden_size = Hq * d;
  c.max_position = 4096;
  c.rope_theta = 10000.0f;
  return c;
}

// A gate set with the tensors gate_tensor_specs() lists, uniform weights (wide enough that scores
// spread over several units).
GateSet random_gate(const GateConfig& cfg, const ModelConfig& m, uint64_t seed) {
  GateSet g;
  g.config = cfg;
  g.model = m;
  std::mt19937 rng{uint32_t(seed)};
  g.layers.resize(size_t(m.num_layers));
  for (int l = 0; l < m.num_layers; ++l)
    for (const GateTensorSpec& t : gate_tensor_specs(cfg, m, l)) {
      std::vector<float>& w = g.layers[size_t(l)].get(t.role);
      w.resize(size_t(t.numel()));
      const bool norm = t.role == GateTensorRole::kQNorm || t.role == GateTensorRole::kKNorm;
      std::uniform_real_distribution<float> u(norm ? 0.5f : -0.15f, norm ? 1.5f : 0.15f);
      for (float& x : w) x = u(rng);
    }
  return g;
}

// bf16-exact random activations [n, heads * d], with a per-channel offset so pools differ.
std::vector<float> random_acts(int n, int heads, int d, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> offs(size_t(heads) * d);
  for (float& o : offs) o = nd(rng);
  std::vector<float> x(size_t(n) * heads * d);
  for (size_t i = 0; i < x.size(); ++i) x[i] = bf16_to_fp32(fp32_to_bf16(offs[i % offs.size()] + nd(rng)));
  return x;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& x) {
  std::vector<uint16_t> r(x.size());
  for (size_t i = 0; i < x.size(); ++i) r[i] = fp32_to_bf16(x[i]);
  return r;
}

// |gpu - cpu| <= 1% of the row's largest |cpu| (plus a floor) + extra[j], over the row's first n
// entries.
void expect_rows_close(const float* gpu, const float* cpu, int n, const std::string& what,
                       const std::vector<float>& extra = {}) {
  float scale = 1e-3f;
  for (int j = 0; j < n; ++j) scale = std::max(scale, std::fabs(cpu[j]));
  for (int j = 0; j < n; ++j) {
    ASSERT_TRUE(std::isfinite(gpu[j])) << what << " entry " << j;
    ASSERT_NEAR(gpu[j], cpu[j], 0.01f * scale + (extra.empty() ? 0.0f : extra[size_t(j)])) << what << " entry " << j;
  }
}

struct GateHarness {
  ModelConfig m;
  cublasHandle_t blas = nullptr;
  cudaStream_t stream = nullptr;
  GateHarness() {
    EXPECT_EQ(cublasCreate(&blas), CUBLAS_STATUS_SUCCESS);
    EXPECT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    EXPECT_EQ(cublasSetStream(blas, stream), CUBLAS_STATUS_SUCCESS);
  }
  ~GateHarness() {
    cublasDestroy(blas);
    cudaStreamDestroy(stream);
  }
};

struct Piece {
  int start, n;
};

// Default pieces: a chunk of 150 -> 20 decode steps -> a chunk of 100 (its first block partly filled
// before). Pieces of fewer than 100 tokens come one token at a time (decode steps).
void check_prefill_gate(const GateConfig& cfg, int Hq, int Hkv, int d, const std::string& what,
                        const std::vector<Piece>& pieces = {{0, 150}, {150, 1}, {151, 19}, {170, 100}},
                        int max_context = 1024) {
  ModelConfig m = gate_model(Hq, Hkv, d);
  m.max_position = std::max(m.max_position, max_context);
  const GateSet gs = random_gate(cfg, m, 5);
  DeviceGateSpec spec;
  spec.prefill = &gs;
  spec.options.block_size = cfg.block_size;
  GateHarness hx;
  auto made = CudaGates::create(spec, m, max_context, 1, hx.blas, hx.stream);
  ASSERT_TRUE(made.is_ok()) << made.status().message();
  CudaGates& gpu = *made.value();
  PrefillGate cpu(gs);
  std::mt19937 rng(21);
  const int layer = 1;
  for (Piece pc : pieces) {
    for (int t0 = pc.start; t0 < pc.start + pc.n;) {
      const bool step = pc.n < 100;  // decode steps come one token at a time
      const int n = step ? 1 : pc.n;
      const std::vector<float> q = random_acts(n, Hq, d, rng), k = random_acts(n, Hkv, d, rng);
      Dev<uint16_t> qd(to_bf16(q)), kd(to_bf16(k));
      const auto* qb = reinterpret_cast<const bf16*>(qd.ptr);
      const auto* kb = reinterpret_cast<const bf16*>(kd.ptr);
      if (step) {
        Dev<int32_t> len(std::vector<int32_t>{t0 + 1});
        DeviceSelection sel;
        bool sparse = true;
        ASSERT_TRUE(gpu.decode(layer, qb, kb, len.ptr, t0 + 1, &sel, &sparse).is_ok());
        EXPECT_FALSE(sparse);
        ASSERT_TRUE(cpu.absorb(layer, k.data(), 1, t0).is_ok());
        ++t0;
        continue;
      }
      std::vector<float> g;
      const Status st = gpu.prefill_scores(layer, 0, qb, kb, n, t0, &g);
      ASSERT_TRUE(st.is_ok()) << st.message();
      PrefillGateScores c;
      ASSERT_TRUE(cpu.forward(layer, q.data(), k.data(), n, t0, false, &c).is_ok());
      ASSERT_EQ(g.size(), c.scores.size());
      for (int h = 0; h < Hq; ++h)
        for (int r = 0; r < c.num_rows; ++r) {
          const size_t o = (size_t(h) * c.num_rows + r) * c.num_key_blocks;
          expect_rows_close(g.data() + o, c.scores.data() + o, c.first_q_block + r + 1,
                            what + " chunk at " + std::to_string(t0) + " head " + std::to_string(h) + " row " +
                                std::to_string(r));
        }
      t0 += n;
    }
  }
}

// The pooling pass alone (run_gate_pool) against plain host pooling: the K statistics (max and min
// exactly: the inputs are bf16; sums to fp32 rounding) and the pooled queries (max exactly, avg), over
// two chunks (the second merges into the block the first left partial); head_dim 64 and 128 (8 and 16
// units per head), blocks of 64 and 128, without and with the model's RoPE in the same pass, Q pools
// max+avg and avg alone; the key features the pass writes for the touched blocks (K pools max|min|avg,
// or avg|max) against the host's and, bitwise, against run_gate_k_features over the same statistics.
// Heads sit around -6 and +6 in turn, so in some heads every block's max is
// negative and in others every min is positive: a max or min that takes in a stray zero shows. 3 KV + 6
// query heads: an odd count, the last CTA takes one head.
TEST(CudaGate, PoolingMatchesHostStatistics) {
  GPU_OR_SKIP();
  const int Hkv = 3, Hq = 6, max_blocks = 8;
  for (int d : {64, 128})
    for (int bs : {64, 128})
      for (bool with_rope : {false, true})
        for (int q_pool_count : {2, 1}) {
          const std::string what = "d " + std::to_string(d) + " block " + std::to_string(bs) +
                                   (with_rope ? " with RoPE" : "") + " Q pools " + std::to_string(q_pool_count);
          std::mt19937 rng(uint32_t(d * 7 + bs + with_rope * 3 + q_pool_count));
          std::normal_distribution<float> nd(0.0f, 1.0f);
          std::uniform_real_distribution<float> u(-1.0f, 1.0f);
          auto acts = [&](int n, int heads) {  // [n][heads][d], head h around -6 or +6
            std::vector<float> x(size_t(n) * heads * d);
            for (size_t i = 0; i < x.size(); ++i)
              x[i] = bf16_to_fp32(fp32_to_bf16(((i / size_t(d)) % size_t(heads) % 2 ? 6.0f : -6.0f) + nd(rng)));
            return x;
          };
          const size_t plane = size_t(Hkv) * max_blocks * d;
          Dev<float> stats(3 * plane);
          cuda::GateKStats ks;
          ks.stats = stats.ptr;
          ks.num_kv_heads = Hkv;
          ks.head_dim = d;
          ks.block_size = bs;
          ks.max_blocks = max_blocks;
          cuda::GatePools qp;
          qp.count = q_pool_count;
          qp.type[0] = int8_t(q_pool_count == 2 ? PoolType::kMax : PoolType::kAvg);
          qp.type[1] = int8_t(PoolType::kAvg);
          cuda::GatePools kp;  // key features: max|min|avg, or avg|max
          kp.count = q_pool_count == 2 ? 3 : 2;
          const PoolType k_types[2][3] = {{PoolType::kAvg, PoolType::kMax, PoolType::kAvg},
                                          {PoolType::kMax, PoolType::kMin, PoolType::kAvg}};
          for (int i = 0; i < 3; ++i) kp.type[i] = int8_t(k_types[q_pool_count == 2][i]);
          const size_t kf_head = size_t(max_blocks) * kp.count * d;  // floats per KV head
          Dev<float> kfeat(Hkv * kf_head), kref(Hkv * kf_head);
          std::vector<float> keys;  // every key so far, [t][Hkv][d]
          for (auto [start, n] : {std::pair{0, 150}, std::pair{150, 100}}) {
            const std::vector<float> q = acts(n, Hq), k = acts(n, Hkv);
            keys.insert(keys.end(), k.begin(), k.end());
            Dev<uint16_t> qd(to_bf16(q)), kd(to_bf16(k));
            const int first_j = start / bs, rows = (start + n - 1) / bs - first_j + 1, kv = start + n;
            Dev<float> qfeat(size_t(Hq) * rows * q_pool_count * d);
            std::vector<float> cs(size_t(n) * d / 2), sn(cs.size());
            for (size_t i = 0; i < cs.size(); ++i) {
              cs[i] = u(rng);
              sn[i] = u(rng);
            }
            Dev<float> csd(cs), snd(sn);
            cuda::GateModelRope rope;
            if (with_rope) rope = {csd.ptr, snd.ptr};
            ASSERT_EQ(cuda::run_gate_pool(ks, reinterpret_cast<bf16*>(kd.ptr), int64_t(Hkv) * d,
                                          reinterpret_cast<bf16*>(qd.ptr), int64_t(Hq) * d, Hq, qp, qfeat.ptr, nullptr,
                                          n, start, rope, {kfeat.ptr, kp, max_blocks}, nullptr),
                      cudaSuccess)
                << what;
            ASSERT_EQ(cuda::run_gate_k_features(ks, kp, kv, first_j, rows, kref.ptr, max_blocks, nullptr), cudaSuccess)
                << what;
            ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << what;
            const std::vector<float> st = stats.download(stats.n), qf = qfeat.download(qfeat.n);
            const std::vector<float> kf = kfeat.download(kfeat.n), kr = kref.download(kref.n);
            for (int r = 0; r < rows; ++r) {
              const int j = first_j + r;
              for (int h = 0; h < Hkv; ++h)  // K: every token of the block so far
                for (int c = 0; c < d; ++c) {
                  float mx = -INFINITY, mn = INFINITY;
                  double sum = 0.0, mag = 0.0;
                  for (int t = j * bs; t < std::min(kv, (j + 1) * bs); ++t) {
                    const float v = keys[(size_t(t) * Hkv + h) * d + c];
                    mx = std::max(mx, v);
                    mn = std::min(mn, v);
                    sum += v;
                    mag += std::fabs(v);
                  }
                  const size_t o = (size_t(h) * max_blocks + j) * d + c;
                  const std::string at = what + " chunk at " + std::to_string(start) + " K head " + std::to_string(h) +
                                         " block " + std::to_string(j) + " channel " + std::to_string(c);
                  ASSERT_EQ(st[o], mx) << at;
                  ASSERT_EQ(st[plane + o], mn) << at;
                  ASSERT_NEAR(st[2 * plane + o], sum, 1e-6 * mag + 1e-6) << at;
                  const int count = std::min(kv, (j + 1) * bs) - j * bs;
                  for (int p = 0; p < kp.count; ++p) {
                    const float f = kf[h * kf_head + (size_t(j) * kp.count + p) * d + c];
                    const float ref = kr[h * kf_head + (size_t(r) * kp.count + p) * d + c];
                    ASSERT_EQ(std::memcmp(&f, &ref, sizeof f), 0) << at << " feature " << p << ": " << f << " vs " << ref;
                    const auto type = PoolType(kp.type[p]);
                    if (type == PoolType::kMax) {
                      ASSERT_EQ(f, mx) << at;
                    }
                    if (type == PoolType::kMin) {
                      ASSERT_EQ(f, mn) << at;
                    }
                    if (type == PoolType::kAvg) {
                      ASSERT_NEAR(f, sum / count, (1e-6 * mag + 1e-6) / count) << at;
                    }
                  }
                }
              const int t0 = std::max(start, j * bs), t1 = std::min(kv, (j + 1) * bs);
              for (int h = 0; h < Hq; ++h)  // Q: the chunk's tokens of the block
                for (int c = 0; c < d; ++c) {
                  float mx = -INFINITY;
                  double sum = 0.0, mag = 0.0;
                  for (int t = t0; t < t1; ++t) {
                    const float v = q[(size_t(t - start) * Hq + h) * d + c];
                    mx = std::max(mx, v);
                    sum += v;
                    mag += std::fabs(v);
                  }
                  const float* f = qf.data() + (size_t(h) * rows + r) * q_pool_count * d;
                  if (q_pool_count == 2) {
                    ASSERT_EQ(f[c], mx) << what << " Q head " << h << " block " << j;
                  }
                  ASSERT_NEAR(f[(q_pool_count - 1) * d + c], sum / (t1 - t0), (1e-6 * mag + 1e-6) / (t1 - t0))
                      << what << " Q head " << h << " block " << j;
                }
            }
          }
        }
}

TEST(CudaGate, PrefillScoresMatchCpuGate) {
  GPU_OR_SKIP();
  GateConfig k_only;  // released form: Qavg_Kmaxminavg, dg = d, one K linear per query head
  k_only.hidden_size = 64;
  check_prefill_gate(k_only, 4, 2, 64, "K-only group 2");
  GateConfig two;  // two linears: Q max+avg, K max+min, dg != d
  ASSERT_TRUE(parse_gate_type("Qmaxavg_Kmaxmin", &two.q_pools, &two.k_pools).is_ok());
  two.gate_type = "Qmaxavg_Kmaxmin";
  two.hidden_size = 128;
  check_prefill_gate(two, 6, 2, 64, "two-linear group 3");
  GateConfig dbl;  // force_double, head_dim 128, no GQA
  dbl.hidden_size = 128;
  dbl.force_double = true;
  check_prefill_gate(dbl, 2, 2, 128, "force_double group 1");
  // An odd number of heads (1 KV + 2 query heads): the pooling pass's last CTA takes one head of two.
  check_prefill_gate(k_only, 2, 1, 64, "K-only odd head count");
  // Blocks of 128 tokens, head_dim 128 (16 tokens per lane in the pooling pass).
  GateConfig b128 = k_only;
  b128.block_size = 128;
  b128.hidden_size = 128;
  check_prefill_gate(b128, 4, 2, 128, "K-only block 128");
  // Chunks of >= 256 query blocks: the causal scores as 128-block tiles (kScoreTile in cuda_gate.cpp), the
  // last row band and the diagonal key tiles overlapping their neighbours where the counts are not multiples
  // of 128; from the start, from inside a block of a sequence already 1000 tokens long (15 blocks before the
  // chunk), and a 313-block chunk after 312 blocks.
  check_prefill_gate(k_only, 4, 2, 64, "K-only long chunks", {{0, 1000}, {1000, 66000}}, 67000);
  check_prefill_gate(k_only, 4, 2, 64, "K-only one long chunk", {{0, 65600}}, 65600);
  check_prefill_gate(k_only, 4, 2, 64, "K-only chunk after a chunk", {{0, 20000}, {20000, 20000}}, 40000);
}

// prefill_and_rope (the model's RoPE folded into the pooling pass) against prefill() followed by the
// model's own RoPE passes: the same rotated q and k, bit for bit, and the same selection, over a
// chunk and a second one that starts inside a block; head_dim 40 runs the scalar model RoPE as the
// reference. Layer 0 is below start_layer: the pass rotates Q without pooling it.
TEST(CudaGate, PrefillAndRopeMatchesSeparatePasses) {
  GPU_OR_SKIP();
  for (int d : {64, 128, 40}) {
    const int Hq = 4, Hkv = 2;
    const ModelConfig m = gate_model(Hq, Hkv, d);
    GateConfig cfg;  // K-only (dg = d); two linears for d = 40 (the gate RoPE needs 512 % dg == 0)
    cfg.hidden_size = d;
    if (d == 40) {
      ASSERT_TRUE(parse_gate_type("Qmaxavg_Kmaxmin", &cfg.q_pools, &cfg.k_pools).is_ok());
      cfg.gate_type = "Qmaxavg_Kmaxmin";
      cfg.hidden_size = 64;
    }
    const GateSet gs = random_gate(cfg, m, 7);
    DeviceGateSpec spec;
    spec.prefill = &gs;
    spec.options.prefill = PrefillSparsity::parse("density:0.3").value();
    spec.options.start_layer = 1;
    GateHarness hx;
    auto a = CudaGates::create(spec, m, 1024, 1, hx.blas, hx.stream);
    auto b = CudaGates::create(spec, m, 1024, 1, hx.blas, hx.stream);
    ASSERT_TRUE(a.is_ok() && b.is_ok());
    std::mt19937 rng(41);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto [start, n] : {std::pair{0, 150}, std::pair{150, 100}}) {
      for (int layer : {1, 0}) {
        const std::string what = "head_dim " + std::to_string(d) + " chunk at " + std::to_string(start) + " layer " +
                                 std::to_string(layer);
        const std::vector<uint16_t> q = to_bf16(random_acts(n, Hq, d, rng)), k = to_bf16(random_acts(n, Hkv, d, rng));
        std::vector<float> cs(size_t(n) * d / 2), sn(cs.size());
        for (size_t i = 0; i < cs.size(); ++i) {
          cs[i] = u(rng);
          sn[i] = u(rng);
        }
        Dev<uint16_t> q1(q), k1(k), q2(q), k2(k);
        Dev<float> dcs(cs), dsn(sn);
        auto* q1b = reinterpret_cast<bf16*>(q1.ptr);
        auto* k1b = reinterpret_cast<bf16*>(k1.ptr);
        auto* q2b = reinterpret_cast<bf16*>(q2.ptr);
        auto* k2b = reinterpret_cast<bf16*>(k2.ptr);
        DeviceSelection sa, sb;
        bool spa = false, spb = false;
        ASSERT_TRUE(a.value()->prefill(layer, 0, q1b, k1b, n, start, &sa, &spa).is_ok());
        ASSERT_EQ(cuda::run_rope(q1b, dcs.ptr, dsn.ptr, n, Hq, d, hx.stream), cudaSuccess);
        ASSERT_EQ(cuda::run_rope(k1b, dcs.ptr, dsn.ptr, n, Hkv, d, hx.stream), cudaSuccess);
        ASSERT_TRUE(b.value()->prefill_and_rope(layer, 0, q2b, k2b, n, start, dcs.ptr, dsn.ptr, &sb, &spb).is_ok());
        ASSERT_EQ(cudaStreamSynchronize(hx.stream), cudaSuccess);
        EXPECT_EQ(q1.download(q.size()), q2.download(q.size())) << what << ": rotated q";
        EXPECT_EQ(k1.download(k.size()), k2.download(k.size())) << what << ": rotated k";
        EXPECT_NE(q1.download(q.size()), q) << what << ": q left unrotated";
        ASSERT_EQ(spa, layer == 1) << what;
        ASSERT_EQ(spb, layer == 1) << what;
        if (layer == 0) continue;  // a dense layer: no selection
        ASSERT_EQ(sa.num_rows, sb.num_rows) << what;
        const size_t rows = size_t(Hq) * sa.num_rows;
        std::vector<int32_t> oa(rows + 1), ob(rows + 1);
        ASSERT_EQ(cudaMemcpy(oa.data(), sa.offsets, oa.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
        ASSERT_EQ(cudaMemcpy(ob.data(), sb.offsets, ob.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
        ASSERT_EQ(oa, ob) << what;
        std::vector<int32_t> ia(size_t(oa.back())), ib(ia.size());
        ASSERT_EQ(cudaMemcpy(ia.data(), sa.indices, ia.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
        ASSERT_EQ(cudaMemcpy(ib.data(), sb.indices, ib.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
        EXPECT_EQ(ia, ib) << what;
      }
    }
  }
}

// Decode steps of B sequences against the CPU cache (KCacheOptions::int8_entries with int8): the GPU's
// entries (CudaGates::decode_entries) against the CPU's, and its scores against the CPU's and, tightly,
// against its own query times its own entries.
void check_decode_gate(const GateConfig& cfg, int Hq, int Hkv, int d, const std::string& what, int B = 2,
                       bool int8 = false, bool upstream_rope = false) {
  const ModelConfig m = gate_model(Hq, Hkv, d);
  const GateSet gs = random_gate(cfg, m, 9);
  DeviceGateSpec spec;
  spec.decode = &gs;
  spec.options.gate_cache_int8 = int8;
  spec.options.gate_upstream_rope_position = upstream_rope;
  GateHarness hx;
  const int layer = 1, bs = cfg.block_size, ctx = 2048, max_blocks = ctx / bs, dg = cfg.hidden_size;
  auto made = CudaGates::create(spec, m, ctx, B, hx.blas, hx.stream);
  ASSERT_TRUE(made.is_ok()) << made.status().message();
  CudaGates& gpu = *made.value();
  KCacheOptions co;
  co.int8_entries = int8;
  co.upstream_decode_rope_position = upstream_rope;
  std::vector<std::unique_ptr<KCompressionCache>> cpu;
  for (int b = 0; b < B; ++b) cpu.push_back(std::make_unique<KCompressionCache>(gs, co));
  std::mt19937 rng(31);
  std::vector<int32_t> lens(static_cast<size_t>(B));  // partial blocks, some about to complete
  for (int b = 0; b < B; ++b) lens[size_t(b)] = b % 2 ? 64 * (3 + b) - 2 : 130 + 7 * b;
  for (int b = 0; b < B; ++b) {
    const std::vector<float> k = random_acts(lens[size_t(b)], Hkv, d, rng);
    const std::vector<float> q = random_acts(lens[size_t(b)], Hq, d, rng);
    Dev<uint16_t> qd(to_bf16(q)), kd(to_bf16(k));
    DeviceSelection sel;
    bool sparse = true;
    ASSERT_TRUE(gpu.prefill(layer, b, reinterpret_cast<const bf16*>(qd.ptr), reinterpret_cast<const bf16*>(kd.ptr),
                            lens[size_t(b)], 0, &sel, &sparse).is_ok());
    EXPECT_FALSE(sparse);
    ASSERT_TRUE(cpu[size_t(b)]->update(layer, k.data(), lens[size_t(b)], 0).is_ok());
  }
  for (int step = 0; step < 70; ++step) {
    for (auto& l : lens) ++l;
    const std::vector<float> q = random_acts(B, Hq, d, rng), k = random_acts(B, Hkv, d, rng);
    Dev<uint16_t> qd(to_bf16(q)), kd(to_bf16(k));
    Dev<int32_t> ld(lens);
    const int max_len = *std::max_element(lens.begin(), lens.end());
    std::vector<float> g, ge;
    const Status st = gpu.decode_scores(layer, reinterpret_cast<const bf16*>(qd.ptr),
                                        reinterpret_cast<const bf16*>(kd.ptr), ld.ptr, max_len, &g);
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_TRUE(gpu.decode_entries(layer, &ge).is_ok());
    const int gnb = (max_len + bs - 1) / bs;
    for (int b = 0; b < B; ++b) {
      const int pos = lens[size_t(b)] - 1;
      const std::string at = what + " step " + std::to_string(step) + " seq " + std::to_string(b);
      ASSERT_TRUE(cpu[size_t(b)]->update(layer, k.data() + size_t(b) * Hkv * d, 1, pos).is_ok());
      DecodeGateScores c;
      ASSERT_TRUE(decode_gate_scores(*cpu[size_t(b)], layer, q.data() + size_t(b) * Hq * d, pos, false, &c).is_ok());
      std::vector<float> qg(size_t(Hkv) * dg);  // (q is bf16-exact: the query the GPU projects too)
      decode_gate_query(gs, layer, q.data() + size_t(b) * Hq * d, pos, qg.data());
      for (int h = 0; h < Hkv; ++h) {
        const float* e = cpu[size_t(b)]->entries(layer, h);
        const float* eg = ge.data() + ((size_t(b) * Hkv + h) * max_blocks) * dg;
        const float* qh = qg.data() + size_t(h) * dg;
        std::vector<float> bound(size_t(c.num_blocks));
        for (int j = 0; j < c.num_blocks; ++j) {
          // The stored entry against the CPU's: one rounding step (int8: its scale; bf16: 2^-8 of the
          // value), plus the TF32 projection of blocks compressed in the prefill (~1e-3 of the entry).
          float emax = 0.0f;
          for (int i = 0; i < dg; ++i) emax = std::max(emax, std::fabs(e[size_t(j) * dg + i]));
          double acc = 0.0, ref = 0.0, mag = 0.0;
          for (int i = 0; i < dg; ++i) {
            const float ev = e[size_t(j) * dg + i], gv = eg[size_t(j) * dg + i];
            const float step_i = int8 ? emax / 127.0f : std::fabs(ev) / 256.0f;
            ASSERT_NEAR(gv, ev, step_i + 4e-3f * emax + 1e-6f) << at << " head " << h << " entry " << j << " dim " << i;
            acc += std::fabs(qh[i]) * step_i;
            ref += double(qh[i]) * gv;
            mag += std::fabs(double(qh[i]) * gv);
          }
          bound[size_t(j)] = float(acc / std::sqrt(double(dg)));
          // The scores kernel against the entries it read: fp32 sums of the same products.
          const float gs_j = g[(size_t(b) * Hkv + h) * gnb + size_t(j)];
          ASSERT_NEAR(gs_j, ref / std::sqrt(double(dg)), 1e-4 * mag / std::sqrt(double(dg)) + 1e-6)
              << at << " head " << h << " block " << j << ": score against the stored entry";
        }
        expect_rows_close(g.data() + (size_t(b) * Hkv + h) * gnb, c.scores.data() + size_t(h) * c.num_blocks,
                          c.num_blocks, at + " head " + std::to_string(h), bound);
      }
    }
  }
}

// A decode gate: Qproj with q/k norm, dg 64.
GateConfig qproj_gate() {
  GateConfig c;
  c.kind = GateKind::kDecode;
  c.q_head_pooling = QHeadPooling::kQproj;
  c.use_qk_norm = true;
  c.hidden_size = 64;
  return c;
}

TEST(CudaGate, DecodeScoresMatchCpuCache) {
  GPU_OR_SKIP();
  const GateConfig qproj = qproj_gate();
  check_decode_gate(qproj, 4, 2, 64, "Qproj qk-norm");
  GateConfig avgproj = qproj;
  avgproj.q_head_pooling = QHeadPooling::kQavgproj;
  avgproj.hidden_size = 128;
  avgproj.use_qk_norm = false;
  check_decode_gate(avgproj, 8, 2, 64, "Qavgproj dg 128");
  GateConfig avg = qproj;
  avg.q_head_pooling = QHeadPooling::kQavg;
  avg.hidden_size = 128;
  avg.use_rope = false;
  ASSERT_TRUE(parse_gate_type("Qavg_Kmaxavg", &avg.q_pools, &avg.k_pools).is_ok());
  check_decode_gate(avg, 8, 2, 128, "Qavg Kmaxavg no RoPE");
  // Llama's heads and a batch of 9: one CTA per (sequence, KV head) projects (no cross-CTA sum) on a
  // GPU of up to 143 SMs; the others above have 16.
  GateConfig llama = qproj;
  llama.hidden_size = 128;
  check_decode_gate(llama, 32, 8, 128, "Qproj qk-norm 32/8 heads batch 9", 9);
  // Blocks completed by decode steps rotated at their last position, as upstream (SPEC §2.3).
  check_decode_gate(qproj, 4, 2, 64, "Qproj qk-norm, upstream RoPE position", 2, false, true);
}

// The int8 K-compression cache (PolicyOptions::gate_cache_int8) at every gate width the scores kernel
// takes (a 16-byte load is 16 values: 4, 8 or 16 threads per entry).
TEST(CudaGate, DecodeInt8CacheMatchesCpu) {
  GPU_OR_SKIP();
  const GateConfig qproj = qproj_gate();
  check_decode_gate(qproj, 4, 2, 64, "int8 Qproj qk-norm dg 64", 2, true);
  GateConfig avgproj = qproj;
  avgproj.q_head_pooling = QHeadPooling::kQavgproj;
  avgproj.use_qk_norm = false;
  avgproj.hidden_size = 256;
  check_decode_gate(avgproj, 8, 2, 64, "int8 Qavgproj dg 256", 3, true);
  GateConfig llama = qproj;
  llama.hidden_size = 128;
  check_decode_gate(llama, 32, 8, 128, "int8 Qproj qk-norm 32/8 heads batch 9", 9, true);
}

// The decode gate's query folded into the model's Q product (CudaGates::fold_query): the folded weight
// against host sums of the gate's query map times Wq (one bf16 rounding); then decode steps from the
// model's product qf = W · x against steps that project q = Wq · x + bq themselves, both rounded to bf16 as
// the model stores them (two gate sets fed the same keys hold the same state): the query each step makes
// (after qnorm and RoPE; CudaGates::decode_query) within 2% of its size and RMS, and the scores (the scores
// kernel makes its own query from qf) within 1% of the magnitude of their products (Σ |q_i e_i| / sqrt(dg),
// the entries downloaded). The roundings move them by ~0.3% (the query's largest deviations over thousands
// of values come to 1.1% of the RMS); a wrong head, group member, transposition, position or norm, or a
// lost bias, by O(100%).
void check_folded_query(const GateConfig& cfg, int Hq, int Hkv, int d, bool bias, const std::string& what, int B = 2) {
  ModelConfig m = gate_model(Hq, Hkv, d);
  m.hidden_size = 136;  // the layer's input width D, unrelated to Hq * d
  const int D = m.hidden_size, g = Hq / Hkv, dg = cfg.hidden_size, layer = 1, bs = cfg.block_size, ctx = 1024;
  const GateSet gs = random_gate(cfg, m, 11);
  DeviceGateSpec spec;
  spec.decode = &gs;
  spec.options.decode = DecodeSparsity::parse("budget:256").value();  // a layer the decode gate scores
  spec.options.gate_cache_int8 = false;  // bf16 entries: the scores are checked against them as downloaded
  GateHarness hx;
  auto made_a = CudaGates::create(spec, m, ctx, B, hx.blas, hx.stream);
  auto made_b = CudaGates::create(spec, m, ctx, B, hx.blas, hx.stream);
  ASSERT_TRUE(made_a.is_ok() && made_b.is_ok()) << made_a.status().message();
  CudaGates& a = *made_a.value();  // projects q in its step
  CudaGates& b = *made_b.value();  // takes the folded product
  std::mt19937 rng(57);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::normal_distribution<float> nd(0.0f, 0.5f);
  std::vector<float> wq(size_t(Hq) * d * D), bq(bias ? size_t(Hq) * d : 0);
  for (float& w : wq) w = bf16_to_fp32(fp32_to_bf16(u(rng) * 2.0f / std::sqrt(float(D))));
  for (float& x : bq) x = nd(rng);
  Dev<uint16_t> wq_d(to_bf16(wq));
  Dev<float> bq_d(bq);
  const auto* wqb = reinterpret_cast<const bf16*>(wq_d.ptr);
  ASSERT_TRUE(b.fold_query(layer, wqb, bias ? bq_d.ptr : nullptr).is_ok()) << what;
  ASSERT_EQ(b.folded_query_rows(), Hkv * dg) << what;
  ASSERT_NE(b.folded_query_weight(layer), nullptr) << what;
  EXPECT_EQ(a.folded_query_weight(layer), nullptr) << what;
  EXPECT_EQ(b.folded_query_weight(0), nullptr) << what << ": layer 0 was not folded";
  // The gate's map E_h[r, o] over the group's g * d query values.
  const std::vector<float>& lq = gs.layers[size_t(layer)].linear_q;
  auto e_at = [&](int h, int r, int o) -> double {
    switch (cfg.q_head_pooling) {
      case QHeadPooling::kQproj: return lq[(size_t(h) * g * d + r) * dg + o];
      case QHeadPooling::kQavgproj: return lq[(size_t(h) * d + r % d) * dg + o] / double(g);
      default: return r % d == o ? 1.0 / g : 0.0;
    }
  };
  std::vector<uint16_t> wf(size_t(Hkv) * dg * D);
  ASSERT_EQ(cudaMemcpy(wf.data(), b.folded_query_weight(layer), wf.size() * 2, cudaMemcpyDeviceToHost), cudaSuccess);
  std::vector<double> bf(size_t(Hkv) * dg, 0.0);  // the folded bias, for the host's qf
  for (int h = 0; h < Hkv; ++h)
    for (int o = 0; o < dg; ++o) {
      for (int r = 0; r < g * d; ++r) bf[size_t(h) * dg + o] += bias ? e_at(h, r, o) * bq[size_t(h) * g * d + r] : 0.0;
      for (int c = 0; c < D; ++c) {
        double ref = 0.0, mag = 0.0;
        for (int r = 0; r < g * d; ++r) {
          const double t = e_at(h, r, o) * wq[(size_t(h) * g * d + r) * D + c];
          ref += t;
          mag += std::fabs(t);
        }
        ASSERT_NEAR(bf16_to_fp32(wf[(size_t(h) * dg + o) * D + c]), ref, std::fabs(ref) / 256.0 + 1e-5 * mag)
            << what << " folded row " << h * dg + o << " column " << c;
      }
    }
  // The same keys into both gate sets, then decode steps from one x per sequence.
  std::vector<int32_t> lens(static_cast<size_t>(B));
  for (int s = 0; s < B; ++s) lens[size_t(s)] = s % 2 ? 64 * (3 + s) - 2 : 130 + 7 * s;
  for (int s = 0; s < B; ++s) {
    const std::vector<float> k = random_acts(lens[size_t(s)], Hkv, d, rng), q = random_acts(lens[size_t(s)], Hq, d, rng);
    Dev<uint16_t> qd(to_bf16(q)), kd(to_bf16(k));
    DeviceSelection sel;
    bool sparse = true;
    for (CudaGates* gates : {&a, &b})
      ASSERT_TRUE(gates->prefill(layer, s, reinterpret_cast<const bf16*>(qd.ptr), reinterpret_cast<const bf16*>(kd.ptr),
                                 lens[size_t(s)], 0, &sel, &sparse).is_ok());
  }
  for (int step = 0; step < 6; ++step) {
    for (auto& l : lens) ++l;
    std::vector<float> x(size_t(B) * D), q(size_t(B) * Hq * d), qf(size_t(B) * Hkv * dg);
    for (float& v : x) v = bf16_to_fp32(fp32_to_bf16(nd(rng) * 2.0f));
    for (int s = 0; s < B; ++s) {
      const float* xs = x.data() + size_t(s) * D;
      for (int r = 0; r < Hq * d; ++r) {  // q = bf16(Wq x + bq), the model's q
        double acc = bias ? bq[size_t(r)] : 0.0;
        for (int c = 0; c < D; ++c) acc += double(wq[size_t(r) * D + c]) * xs[c];
        q[size_t(s) * Hq * d + r] = bf16_to_fp32(fp32_to_bf16(float(acc)));
      }
      for (int r = 0; r < Hkv * dg; ++r) {  // qf = bf16(W x), the model's folded product (bias: the step's)
        double acc = 0.0;
        for (int c = 0; c < D; ++c) acc += double(bf16_to_fp32(wf[size_t(r) * D + c])) * xs[c];
        qf[size_t(s) * Hkv * dg + r] = float(acc);
      }
    }
    const std::vector<float> k = random_acts(B, Hkv, d, rng);
    Dev<uint16_t> qd(to_bf16(q)), kd(to_bf16(k)), qfd(to_bf16(qf));
    Dev<int32_t> ld(lens);
    const int max_len = *std::max_element(lens.begin(), lens.end()), nb = (max_len + bs - 1) / bs;
    const auto* qb = reinterpret_cast<const bf16*>(qd.ptr);
    const auto* kb = reinterpret_cast<const bf16*>(kd.ptr);
    std::vector<float> ga, gb, qa, qg, ent;
    ASSERT_TRUE(a.decode_scores(layer, qb, kb, ld.ptr, max_len, &ga).is_ok());
    ASSERT_TRUE(a.decode_query(&qa).is_ok());
    const Status st = b.decode_scores(layer, qb, kb, ld.ptr, max_len, &gb, reinterpret_cast<const bf16*>(qfd.ptr));
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_TRUE(b.decode_query(&qg).is_ok());
    ASSERT_TRUE(b.decode_entries(layer, &ent).is_ok());
    const int max_blocks = (ctx + bs - 1) / bs;
    for (int s = 0; s < B; ++s)
      for (int h = 0; h < Hkv; ++h) {
        const std::string at =
            what + " step " + std::to_string(step) + " seq " + std::to_string(s) + " head " + std::to_string(h);
        const float* q_a = qa.data() + (size_t(s) * Hkv + h) * dg;
        const float* q_b = qg.data() + (size_t(s) * Hkv + h) * dg;
        double ss = 0.0;
        for (int i = 0; i < dg; ++i) ss += double(q_a[i]) * q_a[i];
        const double rms = std::sqrt(ss / dg);
        for (int i = 0; i < dg; ++i)  // (bf16 roundings move an element in proportion to it)
          ASSERT_NEAR(q_b[i], q_a[i], 0.02 * (std::fabs(q_a[i]) + rms)) << at << ": query dim " << i;
        for (int j = 0; j < (lens[size_t(s)] + bs - 1) / bs; ++j) {
          const float* e = ent.data() + ((size_t(s) * Hkv + h) * max_blocks + j) * dg;
          double mag = 0.0;
          for (int i = 0; i < dg; ++i) mag += std::fabs(double(q_a[i]) * e[i]);
          const size_t r = (size_t(s) * Hkv + h) * nb + size_t(j);
          ASSERT_NEAR(gb[r], ga[r], 0.01 * mag / std::sqrt(double(dg)) + 1e-6) << at << " block " << j;
        }
      }
    // A folded query for a layer that was not folded is refused.
    EXPECT_FALSE(a.decode_scores(layer, qb, kb, ld.ptr, max_len, &ga, reinterpret_cast<const bf16*>(qfd.ptr)).is_ok());
  }
}

TEST(CudaGate, FoldedQueryMatchesTheStepsProjection) {
  GPU_OR_SKIP();
  const GateConfig qproj = qproj_gate();
  check_folded_query(qproj, 4, 2, 64, false, "Qproj qk-norm");
  check_folded_query(qproj, 4, 2, 64, true, "Qproj qk-norm, q bias");
  GateConfig avgproj = qproj;
  avgproj.q_head_pooling = QHeadPooling::kQavgproj;
  avgproj.hidden_size = 128;
  avgproj.use_qk_norm = false;
  check_folded_query(avgproj, 6, 2, 64, true, "Qavgproj dg 128, q bias", 3);
  GateConfig avg = qproj;
  avg.q_head_pooling = QHeadPooling::kQavg;
  avg.hidden_size = 128;
  check_folded_query(avg, 8, 2, 128, true, "Qavg, q bias");
  GateConfig llama = qproj;
  llama.hidden_size = 128;
  check_folded_query(llama, 32, 8, 128, false, "Qproj qk-norm 32/8 heads", 3);
}

// ---------------------------------------------------------------------------------------------
// The model with device gates

// Hands its gates to the GPU session and records the counts it reports; select() must not run.
class DeviceGatePolicy : public AttentionPolicy {
 public:
  explicit DeviceGatePolicy(DeviceGateSpec spec) : spec_(spec) {}
  const char* name() const override { return "device-gate"; }
  Status select(const AttentionContext&, BlockSelection*) override {
    return Status::error("select() called on a device-gate policy");
  }
  const DeviceGateSpec* device_gates() const override { return &spec_; }
  void add_device_counts(int layer, bool decode, const BlockCounts& c) override {
    stats.resize(std::max(stats.size(), size_t(layer) + 1));
    (decode ? stats[size_t(layer)].decode : stats[size_t(layer)].prefill) += c;
  }
  std::vector<LayerDensity> stats;

 private:
  DeviceGateSpec spec_;
};

// A small model (4 qo / 2 KV heads, head_dim 64) with random gates: prefill K-only dg 64, decode
// Qproj dg 64 with q/k norm.
struct GatedModel {
  ModelConfig cfg;
  GateSet pre, dec;
};

GatedModel gated_model() {
  GatedModel g;
  g.cfg = gate_model(4, 2, 64);
  g.cfg.vocab_size = 256;
  g.cfg.hidden_size = 128;
  g.cfg.intermediate_size = 256;
  GateConfig pc;
  pc.hidden_size = 64;
  GateConfig dc;
  dc.kind = GateKind::kDecode;
  dc.hidden_size = 64;
  dc.use_qk_norm = true;
  g.pre = random_gate(pc, g.cfg, 3);
  g.dec = random_gate(dc, g.cfg, 4);
  return g;
}

TEST(CudaGate, ModelForwardWithDeviceGates) {
  GPU_OR_SKIP();
  const GatedModel g = gated_model();
  const ModelConfig& m = g.cfg;
  const GateSet &pre = g.pre, &dec = g.dec;
  const int ctx = 1024, prompt = 700, steps = 6;
  std::mt19937 rng(41);
  std::vector<int> tokens(size_t(prompt + steps));
  for (int& t : tokens) t = int(rng() % 256);

  // Logits of the prompt's last token and of every decode step.
  auto run = [&](AttentionPolicy* policy, std::vector<std::vector<float>>* out) {
    auto fwd = CudaForward::create_random(m, ctx, 77);
    ASSERT_TRUE(fwd.is_ok()) << fwd.status().message();
    std::vector<float> logits;
    Status st = fwd.value()->forward(std::span<const int>(tokens.data(), prompt), 0, Logits::kLast, policy, nullptr,
                                     &logits);
    ASSERT_TRUE(st.is_ok()) << st.message();
    out->push_back(logits);
    for (int s = 0; s < steps; ++s) {
      st = fwd.value()->forward(std::span<const int>(tokens.data() + prompt + s, 1), prompt + s, Logits::kLast, policy,
                                nullptr, &logits);
      ASSERT_TRUE(st.is_ok()) << st.message();
      out->push_back(logits);
    }
  };
  std::vector<std::vector<float>> dense, keep_all, sparse;
  run(nullptr, &dense);
  DeviceGateSpec spec;
  spec.prefill = &pre;
  spec.decode = &dec;
  spec.options.prefill = PrefillSparsity::parse("density:1").value();
  spec.options.decode = DecodeSparsity::parse("budget:1000000").value();
  DeviceGatePolicy all(spec);
  run(&all, &keep_all);
  ASSERT_EQ(dense.size(), keep_all.size());
  for (size_t i = 0; i < dense.size(); ++i) {
    float scale = 0.0f;
    for (float x : dense[i]) scale = std::max(scale, std::fabs(x));
    for (size_t j = 0; j < dense[i].size(); ++j)
      ASSERT_NEAR(keep_all[i][j], dense[i][j], 0.02f * scale) << "forward " << i << " logit " << j;
  }
  const int nb_prompt = (prompt + 63) / 64;
  for (int l = 0; l < m.num_layers; ++l) {  // every block kept, and counted as such
    const LayerDensity& c = all.stats[size_t(l)];
    EXPECT_EQ(c.prefill.selected, c.prefill.dense);
    EXPECT_EQ(c.prefill.dense, int64_t(m.num_qo_heads) * nb_prompt * (nb_prompt + 1) / 2);
    EXPECT_EQ(c.decode.selected, c.decode.dense);
  }

  spec.options.prefill = PrefillSparsity::parse("density:0.3").value();
  spec.options.decode = DecodeSparsity::parse("budget:128").value();
  spec.options.start_layer = 1;
  spec.options.gate_cache_int8 = false;  // bf16 entries here, the int8 default below
  DeviceGatePolicy some(spec);
  run(&some, &sparse);
  for (const auto& lg : sparse)
    for (float x : lg) ASSERT_TRUE(std::isfinite(x));
  const LayerDensity& l0 = some.stats[0];  // below start_layer: dense
  EXPECT_EQ(l0.prefill.selected, l0.prefill.dense);
  EXPECT_EQ(l0.decode.selected, l0.decode.dense);
  const LayerDensity& l1 = some.stats[1];
  EXPECT_LT(l1.prefill.selected, l1.prefill.dense);
  // Decode: per KV head and step, 2 budget blocks plus at most the sink and the current block.
  const int64_t rows = int64_t(m.num_kv_heads) * steps;
  EXPECT_GE(l1.decode.selected, 2 * rows);
  EXPECT_LE(l1.decode.selected, 4 * rows);
  EXPECT_LT(l1.decode.selected, l1.decode.dense);
  // The same with the int8 K-compression cache (the default): the model's cache path runs (prefill compression, decode
  // steps), the logits stay finite and the budget keeps as many blocks.
  spec.options.gate_cache_int8 = true;
  DeviceGatePolicy some8(spec);
  std::vector<std::vector<float>> sparse8;
  run(&some8, &sparse8);
  for (const auto& lg : sparse8)
    for (float x : lg) ASSERT_TRUE(std::isfinite(x));
  EXPECT_EQ(some8.stats[1].decode.selected, l1.decode.selected);
  EXPECT_EQ(some8.stats[1].decode.dense, l1.decode.dense);
  spec.options.gate_cache_int8 = false;
  // The decode gate's query from the model's Q product (PolicyOptions::gate_fold_query, the default in the
  // runs above; this model has no q norm, so its session folds) against the step's own projection: the
  // prompt's logits are the same bits (the fold is decode's), the steps' stay close, and the budget keeps
  // as many blocks.
  // CudaForward::prepare sets the gates up, the fold included, before any forward (Session does it when it
  // gets the policy); the prompt's logits after it are the same bits as run()'s, whose first forward did it.
  {
    auto fwd = CudaForward::create_random(m, ctx, 77);
    ASSERT_TRUE(fwd.is_ok());
    EXPECT_FALSE(fwd.value()->gate_query_folded());
    ASSERT_TRUE(fwd.value()->prepare(&some).is_ok());
    EXPECT_TRUE(fwd.value()->gate_query_folded());
    std::vector<float> logits;
    ASSERT_TRUE(fwd.value()->forward(std::span<const int>(tokens.data(), prompt), 0, Logits::kLast, &some, nullptr,
                                     &logits).is_ok());
    EXPECT_TRUE(fwd.value()->gate_query_folded());
    EXPECT_EQ(logits, sparse[0]);
  }
  spec.options.gate_fold_query = false;
  DeviceGatePolicy unfolded(spec);
  std::vector<std::vector<float>> sparse_unfolded;
  run(&unfolded, &sparse_unfolded);
  ASSERT_EQ(sparse_unfolded.size(), sparse.size());
  EXPECT_EQ(sparse_unfolded[0], sparse[0]);
  for (size_t i = 1; i < sparse.size(); ++i) {
    float scale = 0.0f;
    for (float x : sparse_unfolded[i]) scale = std::max(scale, std::fabs(x));
    for (size_t j = 0; j < sparse[i].size(); ++j)
      ASSERT_NEAR(sparse[i][j], sparse_unfolded[i][j], 0.02f * scale) << "folded query, forward " << i << " logit " << j;
  }
  EXPECT_EQ(unfolded.stats[1].decode.selected, l1.decode.selected);
  spec.options.gate_fold_query = true;

  // A budget split by shares (PolicyOptions::decode_budget_shares; CudaGates uploads share_budget's counts):
  // budget:256 is 4 blocks a head on average; these shares give layer 1's heads 13 and 1
  // (share_budget({0.5, 0.5, 14, 1}, 4) = {1, 1, 13, 1}). Head 0 then keeps every block of each step's
  // 11-12 and head 1 one block plus at most the sink and the current one; a uniform 4 each would keep at
  // most 12 a step.
  {
    ASSERT_EQ(share_budget({0.5f, 0.5f, 14.0f, 1.0f}, 4), (std::vector<int>{1, 1, 13, 1}));
    DeviceGateSpec shared = spec;
    shared.options.start_layer = 0;  // (both layers share the total: layer_budget_blocks)
    shared.options.decode = DecodeSparsity::parse("budget:256").value();
    shared.options.decode_budget_shares = {0.5f, 0.5f, 14.0f, 1.0f};
    DeviceGatePolicy by_shares(shared);
    std::vector<std::vector<float>> out;
    run(&by_shares, &out);
    int64_t lo = 0, hi = 0;
    for (int s = 0; s < steps; ++s) {
      const int nb = (prompt + s + 1 + 63) / 64;
      lo += nb + 1;
      hi += nb + std::min(3, nb);
    }
    const LayerDensity& c = by_shares.stats[1];
    EXPECT_GE(c.decode.selected, lo);
    EXPECT_LE(c.decode.selected, hi);
    EXPECT_GT(c.decode.selected, int64_t(12) * steps);
  }
  // A prefill Top-K split by shares (PolicyOptions::prefill_budget_shares; CudaGates uploads
  // prefill_budget_blocks' counts for the forward's rows): density:0.8 over the prompt's 11 blocks is k = 6,
  // which these shares split unevenly (4 to 11); each query head's rows then keep min(its k, qb + 1) blocks,
  // and the counts say so exactly.
  {
    DeviceGateSpec shared = spec;
    shared.options.start_layer = 0;
    shared.options.prefill = PrefillSparsity::parse("density:0.8").value();
    shared.options.prefill_budget_shares = {1.0f, 1.0f, 1.0f, 1.0f, 0.2f, 0.2f, 3.0f, 0.6f};
    const int nb = (prompt + 63) / 64, k = density_top_k(0.8, nb);
    ASSERT_EQ(k, 6);
    const std::vector<int> per_head =
        prefill_budget_blocks(shared.options.prefill_budget_shares, m.num_qo_heads, 0, k, 0, nb);
    DeviceGatePolicy by_shares(shared);
    std::vector<std::vector<float>> out;
    run(&by_shares, &out);
    for (const auto& lg : out)
      for (float x : lg) ASSERT_TRUE(std::isfinite(x));
    for (int l = 0; l < m.num_layers; ++l) {
      int64_t want = 0;
      for (int h = 0; h < m.num_qo_heads; ++h)
        for (int qb = 0; qb < nb; ++qb) want += std::min(per_head[size_t(l) * m.num_qo_heads + h], qb + 1);
      EXPECT_EQ(by_shares.stats[size_t(l)].prefill.selected, want) << "layer " << l;
    }
    EXPECT_LT(*std::min_element(per_head.begin(), per_head.end()), *std::max_element(per_head.begin(), per_head.end()));
  }

  // One session, gates on and off: a forward without the policy runs dense and leaves the gates'
  // state behind, so continuing that sequence with the gates is refused; a new sequence is fine.
  auto fwd = CudaForward::create_random(m, ctx, 77);
  ASSERT_TRUE(fwd.is_ok());
  std::vector<float> logits;
  ASSERT_TRUE(fwd.value()->forward(std::span<const int>(tokens.data(), prompt), 0, Logits::kLast, &some, nullptr,
                                   &logits).is_ok());
  ASSERT_TRUE(fwd.value()->forward(std::span<const int>(tokens.data() + prompt, 1), prompt, Logits::kLast, nullptr,
                                   nullptr, &logits).is_ok());
  EXPECT_FALSE(fwd.value()->forward(std::span<const int>(tokens.data() + prompt + 1, 1), prompt + 1, Logits::kLast,
                                    &some, nullptr, &logits).is_ok());
  EXPECT_TRUE(fwd.value()->forward(std::span<const int>(tokens.data(), prompt), 0, Logits::kLast, &some, nullptr,
                                   &logits).is_ok());
}

// Decode mass:P through the model's GPU session: mass:1 keeps every block of every step (the
// lists' selection equals the dense count); mass:0.5 keeps fewer, and at least the sink and the
// current block of each (step, KV head).
TEST(CudaGate, DecodeMassRuleInTheModel) {
  GPU_OR_SKIP();
  const GatedModel g = gated_model();
  const ModelConfig& m = g.cfg;
  const int ctx = 1024, prompt = 700, steps = 6;
  std::mt19937 rng(47);
  std::vector<int> tokens(size_t(prompt + steps));
  for (int& t : tokens) t = int(rng() % 256);
  auto run = [&](const char* rule) {
    DeviceGateSpec spec;
    spec.prefill = &g.pre;
    spec.decode = &g.dec;
    spec.options.prefill = PrefillSparsity::parse("density:1").value();
    spec.options.decode = DecodeSparsity::parse(rule).value();
    DeviceGatePolicy policy(spec);
    auto fwd = CudaForward::create_random(m, ctx, 77);
    EXPECT_TRUE(fwd.is_ok()) << fwd.status().message();
    if (!fwd.is_ok()) return policy.stats;
    std::vector<float> logits;
    for (int s = -1; s < steps; ++s) {
      const int pos = s < 0 ? 0 : prompt + s, len = s < 0 ? prompt : 1;
      const Status st = fwd.value()->forward(std::span<const int>(tokens.data() + pos, size_t(len)), pos, Logits::kLast,
                                             &policy, nullptr, &logits);
      EXPECT_TRUE(st.is_ok()) << rule << ": " << st.message();
      for (float x : logits) EXPECT_TRUE(std::isfinite(x)) << rule;
    }
    return policy.stats;
  };
  const std::vector<LayerDensity> all = run("mass:1"), half = run("mass:0.5");
  ASSERT_EQ(all.size(), size_t(m.num_layers));
  ASSERT_EQ(half.size(), size_t(m.num_layers));
  const int64_t rows = int64_t(m.num_kv_heads) * steps;
  for (int l = 0; l < m.num_layers; ++l) {
    EXPECT_EQ(all[size_t(l)].decode.selected, all[size_t(l)].decode.dense) << "layer " << l;
    EXPECT_EQ(half[size_t(l)].decode.dense, all[size_t(l)].decode.dense) << "layer " << l;
    EXPECT_LT(half[size_t(l)].decode.selected, half[size_t(l)].decode.dense) << "layer " << l;
    EXPECT_GE(half[size_t(l)].decode.selected, 2 * rows) << "layer " << l;
  }
}

// Decode steps as CUDA graphs (the default) against the same steps launched one by one, with the
// learned gates sparse from layer 1 on: the logits of every step bit for bit, and the same block
// counts, under a budget and under mass:P. 150 steps from position 100 cross three block boundaries
// (the graph is captured anew for each block count; the decode gate's K-compression cache completes a
// block at each).
TEST(CudaGate, DecodeGraphWithGatesMatchesEager) {
  GPU_OR_SKIP();
  const GatedModel g = gated_model();
  const ModelConfig& m = g.cfg;
  const GateSet &pre = g.pre, &dec = g.dec;
  DeviceGateSpec spec;
  spec.prefill = &pre;
  spec.decode = &dec;
  spec.options.prefill = PrefillSparsity::parse("density:0.3").value();
  spec.options.start_layer = 1;
  const int ctx = 512, prompt = 100, steps = 150;
  std::mt19937 rng(43);
  std::vector<int> tokens(size_t(prompt + steps));
  for (int& t : tokens) t = int(rng() % 256);
  struct Run {
    std::vector<std::vector<float>> logits;
    std::vector<LayerDensity> stats;
    int64_t replays = 0;
  };
  auto run = [&](bool graphs, Run* out) {
    auto fwd = CudaForward::create_random(m, ctx, 77);
    ASSERT_TRUE(fwd.is_ok()) << fwd.status().message();
    fwd.value()->set_graphs(graphs);
    DeviceGatePolicy policy(spec);
    std::vector<float> logits;
    Status st = fwd.value()->forward(std::span<const int>(tokens.data(), prompt), 0, Logits::kLast, &policy, nullptr,
                                     &logits);
    ASSERT_TRUE(st.is_ok()) << st.message();
    for (int s = 0; s < steps; ++s) {
      st = fwd.value()->forward(std::span<const int>(tokens.data() + prompt + s, 1), prompt + s, Logits::kLast,
                                &policy, nullptr, &logits);
      ASSERT_TRUE(st.is_ok()) << st.message();
      out->logits.push_back(logits);
    }
    out->stats = policy.stats;
    out->replays = fwd.value()->graph_replays();
  };
  for (const char* rule : {"budget:128", "mass:0.5"}) {
    spec.options.decode = DecodeSparsity::parse(rule).value();
    Run eager, graph;
    run(false, &eager);
    run(true, &graph);
    EXPECT_EQ(eager.replays, 0) << rule;
    EXPECT_GE(graph.replays, steps - 20) << rule;  // all but two or three eager steps per block count
    ASSERT_EQ(graph.logits.size(), eager.logits.size()) << rule;
    for (size_t i = 0; i < eager.logits.size(); ++i) {
      ASSERT_EQ(graph.logits[i].size(), eager.logits[i].size()) << rule;
      ASSERT_EQ(std::memcmp(graph.logits[i].data(), eager.logits[i].data(), eager.logits[i].size() * sizeof(float)),
                0)
          << rule << " decode step " << i;
    }
    for (int l = 0; l < m.num_layers; ++l) {
      EXPECT_EQ(graph.stats[size_t(l)].decode.selected, eager.stats[size_t(l)].decode.selected)
          << rule << " layer " << l;
      EXPECT_EQ(graph.stats[size_t(l)].decode.dense, eager.stats[size_t(l)].decode.dense) << rule << " layer " << l;
    }
    EXPECT_LT(graph.stats[1].decode.selected, graph.stats[1].decode.dense) << rule;  // the gates did select
  }
}

}  // namespace
