// The whole model on the GPU (src/model/cuda_forward.h) against a plain fp32 forward written here
// (loops + seer::ref_attention), on tiny random models of the three architectures: Llama (GQA 4/2,
// head_dim 64), Qwen2 (q/k/v biases, group 3, head_dim 128), Qwen3 (q/k norms, group 8).
// The GPU sees a sequence in pieces (a prefill chunk, decode steps, another chunk) and must give, at
// every step, the logits the reference computes over the whole prefix; with a policy (sink + recent
// blocks, written here) the reference uses the policy's selection. bf16 weights and activations on
// the GPU: the tolerance is relative to the logits' scale (2.5%), far below what a wrong layout,
// RoPE pairing, cache position or selection gives (O(100%)).
#ifdef SEER_CUDA_MINI_GTEST
#include "mini_gtest.h"
#else
#include <gtest/gtest.h>
#endif

#include <cuda_runtime.h>

#include <seer/attention.h>
#include <seer/dtype.h>
#include <seer/model.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/ops.h"
#include "kernels/cuda/model_ops.cuh"
#include "model/cuda_forward.h"

namespace {

using namespace seer;

bool gpu_present() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

// Random fp32 weights owned by the test; values rounded to bf16 so that the GPU's weights are exact.
struct TinyModel {
  ModelConfig cfg;
  ModelWeights w;
  std::vector<std::vector<float>> store;
  std::mt19937 rng{7};

  Weight make(int64_t rows, int64_t cols, float scale, float offset = 0.0f) {
    std::uniform_real_distribution<float> u(-scale, scale);
    store.emplace_back(size_t(rows * cols));
    for (float& x : store.back()) x = bf16_to_fp32(fp32_to_bf16(offset + u(rng)));
    Weight r;
    r.dtype = DType::kF32;
    r.rows = rows;
    r.cols = cols;
    r.data = store.back().data();
    return r;
  }
  const float* f(const Weight& x) const { return x.f32(); }
};

TinyModel make_model(Arch arch, int Hq, int Hkv, int d) {
  TinyModel m;
  ModelConfig& c = m.cfg;
  c.arch = arch;
  c.vocab_size = 300;
  c.hidden_size = 192;
  c.intermediate_size = 320;
  c.num_layers = 2;
  c.num_qo_heads = Hq;
  c.num_kv_heads = Hkv;
  c.head_dim = d;
  c.max_position = 1024;
  c.rms_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.qkv_bias = arch == Arch::kQwen2;
  c.qk_norm = arch == Arch::kQwen3;
  const int D = c.hidden_size, F = c.intermediate_size;
  const float sD = 1.0f / std::sqrt(float(D)), sF = 1.0f / std::sqrt(float(F)), sQ = 1.0f / std::sqrt(float(Hq * d));
  m.w.tok_embd = m.make(c.vocab_size, D, 1.0f);
  m.w.output = m.make(c.vocab_size, D, sD * 4);
  m.w.out_norm = m.make(1, D, 0.2f, 1.0f);
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights L;
    L.attn_norm = m.make(1, D, 0.2f, 1.0f);
    L.ffn_norm = m.make(1, D, 0.2f, 1.0f);
    // Larger Q/K weights: peaked attention, so a wrong mask or position shows.
    L.wq = m.make(int64_t(Hq) * d, D, sD * 3);
    L.wk = m.make(int64_t(Hkv) * d, D, sD * 3);
    L.wv = m.make(int64_t(Hkv) * d, D, sD);
    L.wo = m.make(D, int64_t(Hq) * d, sQ);
    L.w_gate = m.make(F, D, sD);
    L.w_up = m.make(F, D, sD);
    L.w_down = m.make(D, F, sF);
    if (c.qkv_bias) {
      L.bq = m.make(1, int64_t(Hq) * d, 0.5f);
      L.bk = m.make(1, int64_t(Hkv) * d, 0.5f);
      L.bv = m.make(1, int64_t(Hkv) * d, 0.5f);
    }
    if (c.qk_norm) {
      L.q_norm = m.make(1, d, 0.3f, 1.0f);
      L.k_norm = m.make(1, d, 0.3f, 1.0f);
    }
    m.w.layers.push_back(L);
  }
  return m;
}

// Sink block + the two most recent blocks of every row (prefill rows per qo head, decode rows per
// kv head): a fixed, non-trivial selection that both sides apply.
class SinkRecentPolicy : public AttentionPolicy {
 public:
  const char* name() const override { return "sink-recent"; }
  Status select(const AttentionContext& ctx, BlockSelection* sel) override {
    BlockSelection s = *sel;
    s.offsets.assign(1, 0);
    s.indices.clear();
    for (int h = 0; h < s.num_heads; ++h)
      for (int r = 0; r < s.num_rows; ++r) {
        const int qb = s.first_q_block + r;
        for (int j = 0; j <= qb; ++j)
          if (j == 0 || j >= qb - 1) s.indices.push_back(j);
        s.offsets.push_back(int32_t(s.indices.size()));
      }
    *sel = std::move(s);
    calls++;
    return Status::ok();
  }
  int calls = 0;
};

// Post-RoPE q [T, Hq, d] and K cache [Hkv, T, d] of one layer of the reference forward.
struct LayerQK {
  std::vector<float> q, k;
};

// Plain fp32 forward over tokens[0..T), logits for every position [T, vocab]; `qk`: each layer's q/K.
std::vector<float> reference_logits(const TinyModel& m, const std::vector<int>& tokens, bool sink_recent,
                                    std::vector<LayerQK>* qk = nullptr) {
  const ModelConfig& c = m.cfg;
  const int T = int(tokens.size()), D = c.hidden_size, Hq = c.num_qo_heads, Hkv = c.num_kv_heads, d = c.head_dim;
  const int qdim = Hq * d, kvdim = Hkv * d, F = c.intermediate_size;
  std::vector<float> x(size_t(T) * D), h(x.size()), q(size_t(T) * qdim), k(size_t(T) * kvdim), v(k.size());
  std::vector<float> attn(q.size()), g(size_t(T) * F), u(g.size()), kc(size_t(Hkv) * T * d), vc(kc.size());
  std::vector<float> cos_t(size_t(T) * d / 2), sin_t(cos_t.size());
  float rope_scale = 1.0f;
  std::vector<float> inv = rope_inv_freq(c, &rope_scale);
  std::vector<int> pos(static_cast<size_t>(T));
  for (int t = 0; t < T; ++t) pos[size_t(t)] = t;
  rope_tables(inv, rope_scale, pos.data(), T, cos_t.data(), sin_t.data());
  for (int t = 0; t < T; ++t)
    std::copy_n(m.w.tok_embd.f32() + size_t(tokens[size_t(t)]) * D, D, x.data() + size_t(t) * D);
  auto matmul = [](const Weight& w, const float* in, float* out, int n) {  // out[n, rows] = in[n, cols] · wᵀ
    for (int t = 0; t < n; ++t)
      for (int64_t r = 0; r < w.rows; ++r) {
        double s = 0.0;
        for (int64_t i = 0; i < w.cols; ++i) s += double(in[size_t(t) * w.cols + i]) * w.f32()[r * w.cols + i];
        out[size_t(t) * w.rows + r] = float(s);
      }
  };
  BlockSelection sel;
  const int nqb = (T + 63) / 64;
  sel.set_dense(Hq, false, 0, nqb, 64);
  if (sink_recent) {
    SinkRecentPolicy p;
    AttentionContext ctx;
    (void)p.select(ctx, &sel);
  }
  for (const LayerWeights& L : m.w.layers) {
    rmsnorm(x.data(), L.attn_norm.f32(), h.data(), T, D, c.rms_eps);
    matmul(L.wq, h.data(), q.data(), T);
    matmul(L.wk, h.data(), k.data(), T);
    matmul(L.wv, h.data(), v.data(), T);
    if (!L.bq.empty()) add_bias(q.data(), L.bq.f32(), T, qdim);
    if (!L.bk.empty()) add_bias(k.data(), L.bk.f32(), T, kvdim);
    if (!L.bv.empty()) add_bias(v.data(), L.bv.f32(), T, kvdim);
    if (!L.q_norm.empty()) rmsnorm(q.data(), L.q_norm.f32(), q.data(), int64_t(T) * Hq, d, c.rms_eps);
    if (!L.k_norm.empty()) rmsnorm(k.data(), L.k_norm.f32(), k.data(), int64_t(T) * Hkv, d, c.rms_eps);
    rope_apply(q.data(), T, Hq, d, cos_t.data(), sin_t.data());
    rope_apply(k.data(), T, Hkv, d, cos_t.data(), sin_t.data());
    for (int t = 0; t < T; ++t)
      for (int hh = 0; hh < Hkv; ++hh) {
        std::copy_n(k.data() + (size_t(t) * Hkv + hh) * d, d, kc.data() + (size_t(hh) * T + t) * d);
        std::copy_n(v.data() + (size_t(t) * Hkv + hh) * d, d, vc.data() + (size_t(hh) * T + t) * d);
      }
    if (qk) qk->push_back({q, kc});
    AttentionParams ap;
    ap.q = q.data();
    ap.k_cache = kc.data();
    ap.v_cache = vc.data();
    ap.out = attn.data();
    ap.qo_len = T;
    ap.kv_len = T;
    ap.num_qo_heads = Hq;
    ap.num_kv_heads = Hkv;
    ap.head_dim = d;
    ap.max_context = T;
    ap.scale = 1.0f / std::sqrt(float(d));
    ref_attention(ap, sel);
    matmul(L.wo, attn.data(), h.data(), T);
    for (size_t i = 0; i < x.size(); ++i) x[i] += h[i];
    rmsnorm(x.data(), L.ffn_norm.f32(), h.data(), T, D, c.rms_eps);
    matmul(L.w_gate, h.data(), g.data(), T);
    matmul(L.w_up, h.data(), u.data(), T);
    silu_mul(g.data(), u.data(), T, F);
    matmul(L.w_down, g.data(), h.data(), T);
    for (size_t i = 0; i < x.size(); ++i) x[i] += h[i];
  }
  rmsnorm(x.data(), m.w.out_norm.f32(), h.data(), T, D, c.rms_eps);
  std::vector<float> logits(size_t(T) * c.vocab_size);
  matmul(m.w.output, h.data(), logits.data(), T);
  return logits;
}

// max |got - want| over the rows [row0, row0 + rows) of the reference, relative to max |want|.
double relative_error(const std::vector<float>& got, const std::vector<float>& want, int row0, int rows, int vocab) {
  double err = 0.0, scale = 0.0;
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < vocab; ++i) {
      const double w = want[size_t(row0 + r) * vocab + i], g = got[size_t(r) * vocab + i];
      if (!std::isfinite(g)) return 1e9;
      err = std::max(err, std::fabs(g - w));
      scale = std::max(scale, std::fabs(w));
    }
  return err / std::max(scale, 1e-6);
}

void run_sequence(Arch arch, int Hq, int Hkv, int d, bool with_policy) {
  TinyModel m = make_model(arch, Hq, Hkv, d);
  std::mt19937 rng(11);
  std::vector<int> tokens(260);
  for (int& t : tokens) t = int(rng() % uint32_t(m.cfg.vocab_size));
  const std::vector<float> want = reference_logits(m, tokens, with_policy);
  auto f = CudaForward::create(m.cfg, m.w, 512);
  if (!f.is_ok()) std::printf("  create: %s\n", f.status().message().c_str());
  ASSERT_TRUE(f.is_ok());
  SinkRecentPolicy policy;
  AttentionPolicy* pol = with_policy ? &policy : nullptr;
  const std::string what = std::string(arch == Arch::kLlama ? "llama" : arch == Arch::kQwen2 ? "qwen2" : "qwen3") +
                           (with_policy ? " + policy" : "");
  // Chunks: a 150-token prefill (3 query blocks), 5 decode steps, a 105-token chunk that starts
  // mid-block (query rows in blocks 2..4 over a cache of 260).
  std::vector<std::pair<int, int>> pieces = {{0, 150}};
  for (int t = 150; t < 155; ++t) pieces.push_back({t, 1});
  pieces.push_back({155, 105});
  for (auto [start, n] : pieces) {
    std::vector<float> logits;
    const Status st = (*f)->forward(std::span<const int>(tokens.data() + start, size_t(n)), start, Logits::kAll, pol,
                                    nullptr, &logits);
    if (!st.is_ok()) std::printf("  %s: forward [%d, %d): %s\n", what.c_str(), start, start + n, st.message().c_str());
    ASSERT_TRUE(st.is_ok());
    ASSERT_EQ(logits.size(), size_t(n) * m.cfg.vocab_size);
    const double err = relative_error(logits, want, start, n, m.cfg.vocab_size);
    EXPECT_LE(err, 0.025);
    if (err > 0.025) std::printf("  %s: chunk [%d, %d): relative error %.4f\n", what.c_str(), start, start + n, err);
  }
  if (with_policy) {
    EXPECT_EQ(policy.calls, 7 * m.cfg.num_layers);
  }
}

TEST(CudaModel, LlamaMatchesReference) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  run_sequence(Arch::kLlama, 4, 2, 64, false);
}

TEST(CudaModel, Qwen2BiasesGroupThreeHeadDim128) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  run_sequence(Arch::kQwen2, 6, 2, 128, false);
}

TEST(CudaModel, Qwen3QkNormGroupEight) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  run_sequence(Arch::kQwen3, 8, 1, 64, false);
}

TEST(CudaModel, PolicySelectionReachesTheKernels) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  run_sequence(Arch::kLlama, 4, 2, 64, true);
}

// run_rope against the host on fresh random rows: head_dim 64 and 128 take the 16-byte kernel, 80
// the pair-per-thread one; both round a c - b s and b c + a s step by step, so the bits must match.
TEST(CudaModelOps, RopeMatchesHostBitForBit) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  std::mt19937 rng(77);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f), angle(-3.2f, 3.2f);
  for (int d : {64, 80, 128}) {
    const int n = 37, heads = 3, half = d / 2;
    std::vector<uint16_t> x(size_t(n) * heads * d);
    for (auto& e : x) e = fp32_to_bf16(u(rng));
    std::vector<float> cs(size_t(n) * half), sn(cs.size());
    for (size_t i = 0; i < cs.size(); ++i) {
      const float a = angle(rng);
      cs[i] = std::cos(a);
      sn[i] = std::sin(a);
    }
    std::vector<uint16_t> want = x;
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < heads; ++h)
        for (int i = 0; i < half; ++i) {
          uint16_t* v = want.data() + (size_t(t) * heads + h) * d;
          const float a = bf16_to_fp32(v[i]), b = bf16_to_fp32(v[i + half]);
          const float c = cs[size_t(t) * half + i], s = sn[size_t(t) * half + i];
          volatile float ac = a * c, bs = b * s, bc = b * c, as = a * s;  // no contraction into FMAs
          volatile float lo = ac - bs, hi = bc + as;
          v[i] = fp32_to_bf16(lo);
          v[i + half] = fp32_to_bf16(hi);
        }
    void *dx, *dc, *ds;
    ASSERT_EQ(cudaMalloc(&dx, x.size() * 2), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&dc, cs.size() * 4), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&ds, sn.size() * 4), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dc, cs.data(), cs.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(ds, sn.data(), sn.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cuda::run_rope(static_cast<__nv_bfloat16*>(dx), static_cast<float*>(dc), static_cast<float*>(ds), n,
                             heads, d, nullptr),
              cudaSuccess);
    std::vector<uint16_t> got(x.size());
    ASSERT_EQ(cudaMemcpy(got.data(), dx, got.size() * 2, cudaMemcpyDeviceToHost), cudaSuccess);
    cudaFree(dx);
    cudaFree(dc);
    cudaFree(ds);
    size_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i) bad += got[i] != want[i];
    EXPECT_EQ(bad, size_t(0)) << "head_dim " << d;
  }
}

// run_gemv / run_gemv_add (the decode GEMMs) against double sums of the same bf16 values on fresh random
// rows: 1-4 tokens, row lengths with and without a partial last round of chunks (8 .. 4104), row counts
// that leave a CTA part-empty; the bf16 form within a rounding of the exact sum, the fp32 form added onto
// what y held.
TEST(CudaModelOps, GemvMatchesHostSums) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  std::mt19937 rng(91);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto [out, in] : {std::pair{1, 8}, std::pair{37, 72}, std::pair{576, 576}, std::pair{203, 1536},
                         std::pair{64, 4104}})
    for (int n = 1; n <= cuda::kGemvMaxTokens; ++n)
      for (bool add : {false, true}) {
        const std::string what = "out " + std::to_string(out) + " in " + std::to_string(in) + " tokens " +
                                 std::to_string(n) + (add ? " (fp32, added)" : " (bf16)");
        std::vector<uint16_t> w(size_t(out) * in), x(size_t(n) * in);
        for (auto& e : w) e = fp32_to_bf16(u(rng));
        for (auto& e : x) e = fp32_to_bf16(u(rng));
        std::vector<float> y0(size_t(n) * out);
        for (auto& e : y0) e = 10.0f * u(rng);
        void *dw, *dx, *dy;
        ASSERT_EQ(cudaMalloc(&dw, w.size() * 2), cudaSuccess);
        ASSERT_EQ(cudaMalloc(&dx, x.size() * 2), cudaSuccess);
        ASSERT_EQ(cudaMalloc(&dy, y0.size() * 4), cudaSuccess);
        ASSERT_EQ(cudaMemcpy(dw, w.data(), w.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
        ASSERT_EQ(cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
        ASSERT_EQ(cudaMemcpy(dy, y0.data(), y0.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
        const auto* wb = static_cast<const __nv_bfloat16*>(dw);
        const auto* xb = static_cast<const __nv_bfloat16*>(dx);
        ASSERT_EQ(add ? cuda::run_gemv_add(wb, xb, static_cast<float*>(dy), n, out, in, nullptr)
                      : cuda::run_gemv(wb, xb, static_cast<__nv_bfloat16*>(dy), n, out, in, nullptr),
                  cudaSuccess)
            << what;
        std::vector<float> got(y0.size());
        std::vector<uint16_t> got_bf16(y0.size());
        if (add)
          ASSERT_EQ(cudaMemcpy(got.data(), dy, got.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
        else
          ASSERT_EQ(cudaMemcpy(got_bf16.data(), dy, got_bf16.size() * 2, cudaMemcpyDeviceToHost), cudaSuccess);
        cudaFree(dw);
        cudaFree(dx);
        cudaFree(dy);
        for (int t = 0; t < n; ++t)
          for (int o = 0; o < out; ++o) {
            double sum = 0.0, mag = 0.0;
            for (int i = 0; i < in; ++i) {
              const double p = double(bf16_to_fp32(w[size_t(o) * in + i])) * bf16_to_fp32(x[size_t(t) * in + i]);
              sum += p;
              mag += std::fabs(p);
            }
            const size_t at = size_t(t) * out + o;
            if (add) {
              const double want = y0[at] + sum;
              ASSERT_NEAR(got[at], want, 4e-6 * (mag + std::fabs(y0[at])) + 1e-6) << what << " token " << t << " row " << o;
            } else {
              ASSERT_NEAR(bf16_to_fp32(got_bf16[at]), sum, std::fabs(sum) / 256 + 1e-6 * mag + 1e-6)
                  << what << " token " << t << " row " << o;
            }
          }
      }
  // What the kernel cannot take is refused, not run.
  EXPECT_EQ(cuda::run_gemv(nullptr, nullptr, nullptr, cuda::kGemvMaxTokens + 1, 8, 8, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(cuda::run_gemv(nullptr, nullptr, nullptr, 1, 8, 12, nullptr), cudaErrorInvalidValue);
}

// The decode's fused launches against the separate ones they replace, bit for bit: q, k, v and the decode
// gate's folded query in one run_gemv_parts == one run_gemv per part (1-4 parts); run_gemv_swiglu ==
// run_gemv (gate), run_gemv (up), run_silu_mul. Parts of different row counts (a CTA part-empty at each
// part's end), 1-4 tokens, fresh random rows.
TEST(CudaModelOps, GemvPartsAndSwiGluMatchSeparateLaunches) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  std::mt19937 rng(93);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto upload = [&](size_t count) {
    std::vector<uint16_t> h(count);
    for (auto& e : h) e = fp32_to_bf16(u(rng));
    void* d = nullptr;
    EXPECT_EQ(cudaMalloc(&d, std::max<size_t>(count, 1) * 2), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(d, h.data(), count * 2, cudaMemcpyHostToDevice), cudaSuccess);
    return static_cast<__nv_bfloat16*>(d);
  };
  auto download = [](const __nv_bfloat16* d, size_t count) {
    std::vector<uint16_t> h(count);
    EXPECT_EQ(cudaMemcpy(h.data(), d, count * 2, cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  };
  static_assert(cuda::kGemvMaxParts == 4);
  for (int in : {72, 576})
    for (int n = 1; n <= cuda::kGemvMaxTokens; ++n) {
      const int outs[4] = {37, 8, 203, 64};
      __nv_bfloat16* x = upload(size_t(n) * in);
      cuda::GemvParams p;
      __nv_bfloat16* sep[4];
      for (int parts = 1; parts <= cuda::kGemvMaxParts; ++parts) {
        const std::string what =
            "in " + std::to_string(in) + " tokens " + std::to_string(n) + " parts " + std::to_string(parts);
        p = cuda::GemvParams{};
        p.x = x;
        p.n = n;
        p.in = in;
        p.parts = parts;
        for (int q = 0; q < parts; ++q) {
          p.w[q] = upload(size_t(outs[q]) * in);
          p.y[q] = upload(size_t(n) * outs[q]);  // (random: every element must be written)
          p.out[q] = outs[q];
          sep[q] = upload(size_t(n) * outs[q]);
          ASSERT_EQ(cuda::run_gemv(p.w[q], x, sep[q], n, outs[q], in, nullptr), cudaSuccess) << what;
        }
        ASSERT_EQ(cuda::run_gemv_parts(p, nullptr), cudaSuccess) << what;
        for (int q = 0; q < parts; ++q)
          EXPECT_EQ(download(static_cast<__nv_bfloat16*>(p.y[q]), size_t(n) * outs[q]),
                    download(sep[q], size_t(n) * outs[q]))
              << what << " part " << q;
        if (parts == cuda::kGemvMaxParts) break;  // the SwiGLU below reuses the last parts' w[2]
        for (int q = 0; q < parts; ++q) {
          cudaFree(const_cast<__nv_bfloat16*>(p.w[q]));
          cudaFree(p.y[q]);
          cudaFree(sep[q]);
        }
      }
      // SwiGLU with F = 203 rows
      const std::string what = "in " + std::to_string(in) + " tokens " + std::to_string(n);
      const int F = outs[2];
      __nv_bfloat16* w_up = upload(size_t(F) * in);
      __nv_bfloat16* g = upload(size_t(n) * F);
      __nv_bfloat16* up = upload(size_t(n) * F);
      __nv_bfloat16* fused = upload(size_t(n) * F);
      ASSERT_EQ(cuda::run_gemv(p.w[2], x, g, n, F, in, nullptr), cudaSuccess) << what;
      ASSERT_EQ(cuda::run_gemv(w_up, x, up, n, F, in, nullptr), cudaSuccess) << what;
      ASSERT_EQ(cuda::run_silu_mul(g, up, n, F, nullptr), cudaSuccess) << what;
      ASSERT_EQ(cuda::run_gemv_swiglu(p.w[2], w_up, x, fused, n, F, in, nullptr), cudaSuccess) << what;
      EXPECT_EQ(download(fused, size_t(n) * F), download(g, size_t(n) * F)) << what << " SwiGLU";
      for (__nv_bfloat16* d : {x, w_up, g, up, fused}) cudaFree(d);
      for (int q = 0; q < cuda::kGemvMaxParts; ++q) {
        cudaFree(const_cast<__nv_bfloat16*>(p.w[q]));
        cudaFree(p.y[q]);
        cudaFree(sep[q]);
      }
    }
}

// Decode steps as CUDA graphs (the default) against the same steps launched one by one: the logits
// of every step bit for bit, dense and at a fixed density (its selection is uploaded per block count).
// 200 steps from position 100 cross four block boundaries; Qwen3 shapes (q/k norms on the path).
// What the GPU cannot hold, or the kernels cannot run, is refused before anything is allocated, with
// the sizes named: a KV cache of 2^28 tokens (256 GiB here), a head_dim of 80.
TEST(CudaModel, RefusesWhatTheGpuCannotHold) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  const TinyModel m = make_model(Arch::kLlama, 4, 2, 64);
  auto big = CudaForward::create(m.cfg, m.w, 1 << 28);
  ASSERT_FALSE(big.is_ok());
  for (const char* part : {"GiB of GPU memory", "a KV cache of 268435456 tokens", "pass a smaller context"})
    EXPECT_NE(big.status().message().find(part), std::string::npos) << big.status().message();
  const TinyModel odd = make_model(Arch::kLlama, 4, 2, 80);
  auto d80 = CudaForward::create(odd.cfg, odd.w, 1 << 28);  // refused for its head_dim, not its size
  ASSERT_FALSE(d80.is_ok());
  EXPECT_NE(d80.status().message().find("head_dim 80"), std::string::npos) << d80.status().message();
}

TEST(CudaModel, DecodeGraphMatchesEager) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  // A group of 32 query heads decodes through the prefill kernel, whose length a replay would keep
  // (such steps ran from graphs and left out their own keys): it decodes kernel by kernel.
  for (const auto& [hq, hkv] : {std::pair{4, 2}, std::pair{32, 1}}) {
  const TinyModel m = make_model(Arch::kQwen3, hq, hkv, 64);
  const bool graphs_expected = hq / hkv <= 16;
  const int prompt = 100, steps = 200;
  std::mt19937 rng(45);
  std::vector<int> tokens(size_t(prompt + steps));
  for (int& t : tokens) t = int(rng() % uint32_t(m.cfg.vocab_size));
  for (double density : {1.0, 0.3}) {
    std::vector<std::vector<float>> out[2];
    int64_t replays[2] = {0, 0};
    for (int graphs = 0; graphs < 2; ++graphs) {
      auto fwd = CudaForward::create(m.cfg, m.w, 512);
      ASSERT_TRUE(fwd.is_ok()) << fwd.status().message();
      fwd.value()->set_graphs(graphs == 1);
      fwd.value()->set_fixed_density(density, 9);
      std::vector<float> logits;
      ASSERT_TRUE(fwd.value()
                      ->forward(std::span<const int>(tokens.data(), prompt), 0, Logits::kNone, nullptr, nullptr, nullptr)
                      .is_ok());
      for (int s = 0; s < steps; ++s) {
        const Status st = fwd.value()->forward(std::span<const int>(tokens.data() + prompt + s, 1), prompt + s,
                                               Logits::kLast, nullptr, nullptr, &logits);
        ASSERT_TRUE(st.is_ok()) << st.message();
        out[graphs].push_back(logits);
      }
      replays[graphs] = fwd.value()->graph_replays();
    }
    EXPECT_EQ(replays[0], 0);
    if (graphs_expected)
      EXPECT_GE(replays[1], steps - 20) << "density " << density;  // two or three eager steps per block count
    else
      EXPECT_EQ(replays[1], 0) << "group " << hq / hkv << ", density " << density;
    for (int s = 0; s < steps; ++s)
      ASSERT_EQ(out[1][size_t(s)], out[0][size_t(s)])
          << "heads " << hq << "/" << hkv << ", density " << density << ", decode step " << s;
  }
  }
}

// The fp32 reference's block statistics of layer `qk` for queries start .. start+n-1 of a T-token
// sequence (ref_attention_block_max): [n, num_qo_heads, ceil((start + n) / 64)].
std::vector<float> reference_block_stats(const ModelConfig& c, const LayerQK& qk, int T, int start, int n,
                                         BlockStat stat) {
  AttentionParams ap;
  ap.q = qk.q.data() + size_t(start) * c.num_qo_heads * c.head_dim;
  ap.k_cache = qk.k.data();
  ap.qo_len = n;
  ap.kv_len = start + n;
  ap.num_qo_heads = c.num_qo_heads;
  ap.num_kv_heads = c.num_kv_heads;
  ap.head_dim = c.head_dim;
  ap.max_context = T;
  ap.scale = 1.0f / std::sqrt(float(c.head_dim));
  ap.block_mass = stat == BlockStat::kMass;
  std::vector<float> bm(size_t(n) * c.num_qo_heads * ((start + n + 63) / 64));
  ref_attention_block_max(ap, 64, bm.data());
  return bm;
}

// Asks every prefill layer for gate training's ground truth (the 2-D pool, and the group max at every
// fifth query row and the last) and keeps it per layer.
class GroundTruthPolicy : public AttentionPolicy {
 public:
  struct Layer {
    std::vector<int> rows;
    std::vector<float> pool, group;
  };
  GroundTruthPolicy(int num_layers, BlockStat stat, GroupPool group)
      : layers(size_t(num_layers)), stat(stat), group(group) {}
  const char* name() const override { return "ground-truth"; }
  Status select(const AttentionContext&, BlockSelection*) override { return Status::ok(); }
  bool ground_truth(const AttentionContext& ctx, GroundTruthRequest* req) override {
    const int nb = (ctx.kv_len + 63) / 64, q_blocks = (ctx.kv_len - 1) / 64 - ctx.start_pos / 64 + 1;
    Layer& L = layers[size_t(ctx.layer)];
    L.rows.clear();
    for (int i = 0; i < ctx.qo_len; i += 5) L.rows.push_back(i);
    L.rows.push_back(ctx.qo_len - 1);
    L.pool.assign(size_t(ctx.num_qo_heads) * q_blocks * nb, -1.0f);  // -1: must be overwritten
    L.group.assign(L.rows.size() * ctx.num_kv_heads * nb, -1.0f);
    req->block_size = 64;
    req->stat = stat;
    req->group = group;
    req->pool_2d = L.pool.data();
    req->group_max = L.group.data();
    req->rows = L.rows;
    return true;
  }
  Status after_attention(const AttentionContext&) override {
    ++after;
    return Status::ok();
  }
  std::vector<Layer> layers;
  BlockStat stat;
  GroupPool group;
  int after = 0;
};

// Gate training on the GPU: the prefill kernel's block maxima, reduced on the device and copied back
// (CudaForward's ground-truth path), against the host reduction (reduce_block_max) of the fp32
// reference's probabilities. Two chunks, the second starting mid-block; each block's max probability
// (SPEC) and its mass; the group's heads pooled by their max (SPEC) or their sum.
void check_ground_truth(BlockStat stat, GroupPool group_pool = GroupPool::kMax) {
  const TinyModel m = make_model(Arch::kLlama, 6, 2, 64);
  const ModelConfig& c = m.cfg;
  const int T = 260, Hq = c.num_qo_heads, Hkv = c.num_kv_heads;
  std::mt19937 rng(21);
  std::vector<int> tokens(static_cast<size_t>(T));
  for (int& t : tokens) t = int(rng() % uint32_t(c.vocab_size));
  std::vector<LayerQK> qk;
  (void)reference_logits(m, tokens, false, &qk);
  ASSERT_EQ(int(qk.size()), c.num_layers);
  auto f = CudaForward::create(c, m.w, 512);
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  GroundTruthPolicy policy(c.num_layers, stat, group_pool);
  int pieces = 0;
  for (auto [start, n] : {std::pair{0, 150}, std::pair{150, 110}}) {
    const Status st = (*f)->forward(std::span<const int>(tokens.data() + start, size_t(n)), start, Logits::kNone,
                                    &policy, nullptr, nullptr);
    ASSERT_TRUE(st.is_ok()) << st.message();
    EXPECT_EQ(policy.after, ++pieces * c.num_layers);
    const int kv = start + n, nb = (kv + 63) / 64;
    for (int l = 0; l < c.num_layers; ++l) {
      const std::vector<float> bm = reference_block_stats(c, qk[size_t(l)], T, start, n, stat);
      const GroundTruthPolicy::Layer& got = policy.layers[size_t(l)];
      std::vector<float> pool(got.pool.size()), group(got.group.size());
      GroundTruthRequest want;
      want.pool_2d = pool.data();
      want.group_max = group.data();
      want.rows = got.rows;
      want.group = group_pool;
      reduce_block_max(bm.data(), n, kv, Hq, Hkv, want);
      for (auto [g, w, what] : {std::tuple{&got.pool, &pool, "2-D pool"}, std::tuple{&got.group, &group, "group max"}})
        for (size_t i = 0; i < w->size(); ++i) {
          // Blocks a row does not reach are exactly 0 on both sides; the rest within the bf16 forward's error.
          if ((*w)[i] == 0.0f) {
            ASSERT_EQ((*g)[i], 0.0f) << what << " layer " << l << " chunk at " << start << " i " << i;
          }
          ASSERT_NEAR((*g)[i], (*w)[i], 0.02) << what << " layer " << l << " chunk at " << start << " i " << i;
        }
      if (start == 0 && stat == BlockStat::kMax) {  // the first query sees one key: its probability is exactly 1
        for (int h = 0; h < Hq; ++h) ASSERT_EQ(got.pool[size_t(h) * 3 * nb], 1.0f) << "layer " << l << " head " << h;
      }
      if (start == 0 && stat == BlockStat::kMass) {  // block 0 holds all of every first-block query's attention
        for (int h = 0; h < Hq; ++h)
          ASSERT_NEAR(got.pool[size_t(h) * 3 * nb], 1.0f, 1e-5) << "layer " << l << " head " << h;
      }
      if (start == 0 && stat == BlockStat::kMass && group_pool == GroupPool::kSum) {  // row 0: each head's 1, summed
        for (int hk = 0; hk < Hkv; ++hk)
          ASSERT_NEAR(got.group[size_t(hk) * nb], float(Hq / Hkv), 1e-5) << "layer " << l << " kv head " << hk;
      }
    }
  }
  EXPECT_EQ(policy.layers[0].pool.size(), size_t(Hq) * 3 * 5);  // second chunk: query blocks 2..4 of 5
}

TEST(CudaModel, GroundTruthMatchesReference) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  check_ground_truth(BlockStat::kMax);
}

TEST(CudaModel, MassGroundTruthMatchesReference) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  check_ground_truth(BlockStat::kMass);
}

TEST(CudaModel, GroupSumGroundTruthMatchesReference) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  check_ground_truth(BlockStat::kMass, GroupPool::kSum);
}

// A policy that ranks blocks by the attention itself (the oracle, AttentionPolicy::scores_from_attention)
// under --device cuda: the block statistics the session computes on the device and hands to select()
// (AttentionContext::block_scores), kept per call; the selection stays dense. Asks for layers from
// `from_layer` on, in prefill and in decode as told.
class BlockScoresPolicy : public AttentionPolicy {
 public:
  struct Seen {
    int layer = 0, start = 0, n = 0, kv_len = 0;
    std::vector<float> scores;
    bool q_null = false, k_null = false;
  };
  BlockScoresPolicy(BlockStat stat, GroupPool group, bool in_prefill = true, bool in_decode = true, int from_layer = 0)
      : stat(stat), group(group), in_prefill(in_prefill), in_decode(in_decode), from_layer(from_layer) {}
  const char* name() const override { return "block-scores"; }
  bool scores_from_attention(const AttentionContext& ctx, GroundTruthRequest* req) const override {
    if (!(ctx.qo_len == 1 ? in_decode : in_prefill) || ctx.layer < from_layer) return false;
    req->block_size = 64;
    req->stat = stat;
    req->group = group;
    return true;
  }
  Status select(const AttentionContext& ctx, BlockSelection*) override {
    Seen s;
    s.layer = ctx.layer;
    s.start = ctx.start_pos;
    s.n = ctx.qo_len;
    s.kv_len = ctx.kv_len;
    s.q_null = ctx.q == nullptr;
    s.k_null = ctx.k_cache == nullptr;
    const int nb = (ctx.kv_len + 63) / 64, q_blocks = (ctx.kv_len - 1) / 64 - ctx.start_pos / 64 + 1;
    const size_t size = ctx.qo_len == 1 ? size_t(ctx.num_kv_heads) * nb : size_t(ctx.num_qo_heads) * q_blocks * nb;
    if (ctx.block_scores) s.scores.assign(ctx.block_scores, ctx.block_scores + size);
    seen.push_back(std::move(s));
    return Status::ok();
  }
  BlockStat stat;
  GroupPool group;
  bool in_prefill, in_decode;
  int from_layer;
  std::vector<Seen> seen;
};

// The oracle's scores on the GPU against the host's reference from the fp32 forward's q and K:
// prefill, the 2-D pool of each query block's rows (oracle_prefill_scores); decode, the GQA group's
// max or sum at the one query (oracle_decode_scores). Two chunks (the second mid-block), decode steps
// that open a new key block; the dense pass must leave the forward's logits bit for bit as a session
// whose policy never asks gives them; a policy asking from layer 1, in prefill only, gets scores there
// alone, and no K mirror anywhere (it needs none). Decode's statistics come from the split decode
// kernel (SparseDecodeParams::block_stat), or for a GQA group over its 16 heads from the prefill pass.
void check_block_scores(BlockStat stat, GroupPool group_pool, int num_qo_heads = 6, int num_kv_heads = 2) {
  const TinyModel m = make_model(Arch::kLlama, num_qo_heads, num_kv_heads, 64);
  const ModelConfig& c = m.cfg;
  const int T = 270, Hq = c.num_qo_heads, Hkv = c.num_kv_heads;
  std::mt19937 rng(23);
  std::vector<int> tokens(static_cast<size_t>(T));
  for (int& t : tokens) t = int(rng() % uint32_t(c.vocab_size));
  std::vector<LayerQK> qk;
  (void)reference_logits(m, tokens, false, &qk);
  auto f = CudaForward::create(c, m.w, 512);
  auto plain = CudaForward::create(c, m.w, 512);
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  ASSERT_TRUE(plain.is_ok()) << plain.status().message();
  BlockScoresPolicy policy(stat, group_pool), never(stat, group_pool, false, false);
  std::vector<std::pair<int, int>> pieces = {{0, 150}, {150, 105}};
  for (int t = 255; t < 261; ++t) pieces.push_back({t, 1});  // kv_len 256 .. 261: key block 4 opens at 257
  for (auto [start, n] : pieces) {
    const size_t before = policy.seen.size();
    const std::span<const int> toks(tokens.data() + start, size_t(n));
    const Logits which = n == 1 ? Logits::kLast : Logits::kNone;
    std::vector<float> logits, plain_logits;
    Status st = (*f)->forward(toks, start, which, &policy, nullptr, &logits);
    ASSERT_TRUE(st.is_ok()) << st.message();
    st = (*plain)->forward(toks, start, which, &never, nullptr, &plain_logits);
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_EQ(logits, plain_logits) << "piece at " << start << ": the statistics' pass changed the forward";
    ASSERT_EQ(policy.seen.size(), before + size_t(c.num_layers));
    const int kv = start + n, nb = (kv + 63) / 64;
    for (int l = 0; l < c.num_layers; ++l) {
      const BlockScoresPolicy::Seen& got = policy.seen[before + size_t(l)];
      const std::string what = "piece at " + std::to_string(start) + " layer " + std::to_string(l);
      ASSERT_EQ(got.kv_len, kv) << what;
      EXPECT_TRUE(got.q_null && got.k_null) << what << ": no K mirror for a policy that does not need one";
      const std::vector<float> bm = reference_block_stats(c, qk[size_t(l)], T, start, n, stat);
      const int row = n - 1;
      std::vector<float> want(n == 1 ? size_t(Hkv) * nb : size_t(Hq) * ((kv - 1) / 64 - start / 64 + 1) * nb);
      GroundTruthRequest req;
      req.group = group_pool;
      if (n == 1) {
        req.group_max = want.data();
        req.rows = std::span<const int>(&row, 1);
      } else {
        req.pool_2d = want.data();
      }
      reduce_block_max(bm.data(), n, kv, Hq, Hkv, req);
      ASSERT_EQ(got.scores.size(), want.size()) << what;
      for (size_t i = 0; i < want.size(); ++i) {
        // Blocks a row does not reach are exactly 0 on both sides; the rest within the bf16 forward's error.
        if (want[i] == 0.0f) {
          ASSERT_EQ(got.scores[i], 0.0f) << what << " i " << i;
        }
        ASSERT_NEAR(got.scores[i], want[i], 0.02f * (group_pool == GroupPool::kSum ? Hq / Hkv : 1)) << what << " i " << i;
      }
      // Query block 0's first query sees one key: block 0's largest probability is exactly 1, and its
      // mass 1 up to rounding.
      if (start == 0)
        for (int h = 0; h < Hq; ++h) {
          if (stat == BlockStat::kMax) {
            ASSERT_EQ(got.scores[size_t(h) * 3 * nb], 1.0f) << what << " head " << h;
          } else {
            ASSERT_NEAR(got.scores[size_t(h) * 3 * nb], 1.0f, 1e-5) << what << " head " << h;
          }
        }
    }
  }
  ASSERT_EQ(policy.seen.back().kv_len, 261);
  ASSERT_EQ(policy.seen.back().scores.size(), size_t(Hkv) * 5);
  // From layer 1, in prefill only: a new sequence's prefill has scores at layer 1 alone, its decode step none.
  BlockScoresPolicy later(stat, group_pool, true, false, 1);
  for (auto [start, n] : {std::pair{0, 100}, std::pair{100, 1}}) {
    const Status st = (*f)->forward(std::span<const int>(tokens.data() + start, size_t(n)), start,
                                    n == 1 ? Logits::kLast : Logits::kNone, &later, nullptr, nullptr);
    ASSERT_TRUE(st.is_ok()) << st.message();
  }
  ASSERT_EQ(later.seen.size(), size_t(2 * c.num_layers));
  for (const BlockScoresPolicy::Seen& s : later.seen) {
    const bool asked = s.n > 1 && s.layer >= 1;
    EXPECT_EQ(s.scores.size(), asked ? size_t(Hq) * 2 * 2 : size_t(0)) << "n " << s.n << " layer " << s.layer;
    EXPECT_TRUE(s.q_null && s.k_null) << "n " << s.n << " layer " << s.layer;
  }
}

TEST(CudaModel, OracleBlockScoresMatchReference) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  check_block_scores(BlockStat::kMax, GroupPool::kMax);
}

TEST(CudaModel, OracleMassSumBlockScoresMatchReference) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  check_block_scores(BlockStat::kMass, GroupPool::kSum);
}

// A group of 18 query heads per KV head: past the decode kernel's 16, the attention and the oracle's
// statistics take the prefill kernel in decode too.
TEST(CudaModel, OracleBlockScoresGroupOver16) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  check_block_scores(BlockStat::kMass, GroupPool::kMax, 18, 1);
}

// A policy that reads the KV cache (oracle, quest) under --device cuda: what select() sees as the
// post-RoPE q and the K cache (the session's host mirror, AttentionContext::q / k_cache) against the
// fp32 reference's, over chunks, decode steps, a new sequence, and a forward without the policy in
// between (which rewrites the device cache behind the mirror).
class KvRecordingPolicy : public AttentionPolicy {
 public:
  struct Seen {
    int layer = 0, start = 0, n = 0, kv_len = 0;
    std::vector<float> q, k;  // [n, Hq, d]; [Hkv, kv_len, d]
    bool v_null = false;
  };
  const char* name() const override { return "kv-recording"; }
  bool needs_kv_cache() const override { return true; }
  Status select(const AttentionContext& ctx, BlockSelection*) override {
    if (!ctx.q || !ctx.k_cache) return Status::error("no q / k_cache");
    Seen s;
    s.layer = ctx.layer;
    s.start = ctx.start_pos;
    s.n = ctx.qo_len;
    s.kv_len = ctx.kv_len;
    const int Hq = ctx.num_qo_heads, Hkv = ctx.num_kv_heads, d = ctx.head_dim;
    s.q.assign(ctx.q, ctx.q + size_t(ctx.qo_len) * Hq * d);
    for (int h = 0; h < Hkv; ++h) {
      const float* kh = ctx.k_cache + size_t(h) * ctx.max_context * d;
      s.k.insert(s.k.end(), kh, kh + size_t(ctx.kv_len) * d);
    }
    s.v_null = ctx.v_cache == nullptr;
    seen.push_back(std::move(s));
    return Status::ok();
  }
  std::vector<Seen> seen;
};

TEST(CudaModel, KvCachePolicySeesTheCache) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  const TinyModel m = make_model(Arch::kQwen3, 4, 2, 64);
  const ModelConfig& c = m.cfg;
  const int Hq = c.num_qo_heads, d = c.head_dim;
  std::mt19937 rng(8);
  std::vector<int> a(210), b(130);
  for (int& t : a) t = int(rng() % uint32_t(c.vocab_size));
  for (int& t : b) t = int(rng() % uint32_t(c.vocab_size));
  std::vector<LayerQK> qa, qb;
  (void)reference_logits(m, a, false, &qa);
  (void)reference_logits(m, b, false, &qb);
  auto f = CudaForward::create(c, m.w, 512);
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  KvRecordingPolicy rec;
  // (tokens, reference, start, n, with the policy): two chunks (the second mid-block), ten decode steps,
  // a new sequence begun without the policy and continued with it.
  struct Piece {
    const std::vector<int>* tokens;
    const std::vector<LayerQK>* ref;
    int start, n;
    bool policy;
  };
  std::vector<Piece> pieces = {{&a, &qa, 0, 150, true}, {&a, &qa, 150, 50, true}};
  for (int t = 200; t < 210; ++t) pieces.push_back({&a, &qa, t, 1, true});
  pieces.push_back({&b, &qb, 0, 100, false});
  pieces.push_back({&b, &qb, 100, 30, true});
  for (const Piece& p : pieces) {
    const size_t before = rec.seen.size();
    const Status st = (*f)->forward(std::span<const int>(p.tokens->data() + p.start, size_t(p.n)), p.start,
                                    p.n == 1 ? Logits::kLast : Logits::kNone, p.policy ? &rec : nullptr, nullptr, nullptr);
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_EQ(rec.seen.size(), before + (p.policy ? size_t(c.num_layers) : 0));
    for (size_t i = before; i < rec.seen.size(); ++i) {
      const KvRecordingPolicy::Seen& s = rec.seen[i];
      const std::string what = "piece at " + std::to_string(p.start) + " layer " + std::to_string(s.layer);
      ASSERT_EQ(s.start, p.start) << what;
      ASSERT_EQ(s.kv_len, p.start + p.n) << what;
      EXPECT_TRUE(s.v_null) << what;
      const LayerQK& r = (*p.ref)[size_t(s.layer)];
      const int T = int(p.tokens->size());
      // The bf16 forward against fp32: within 4% of the layer's largest value.
      auto check = [&](const float* got, auto&& want_at, size_t count, const char* name) {
        float mx = 0.0f;
        for (size_t j = 0; j < count; ++j) mx = std::max(mx, std::fabs(want_at(j)));
        for (size_t j = 0; j < count; ++j)
          ASSERT_NEAR(got[j], want_at(j), 0.04f * mx) << what << " " << name << " " << j;
      };
      check(s.q.data(), [&](size_t j) { return r.q[size_t(p.start) * Hq * d + j]; }, s.q.size(), "q");
      check(s.k.data(), [&](size_t j) {
        const size_t h = j / (size_t(s.kv_len) * d), rest = j % (size_t(s.kv_len) * d);
        return r.k[h * size_t(T) * d + rest];
      }, s.k.size(), "k");
    }
  }
}

// Perplexity on the GPU (CudaForward::token_nll): -log softmax on the device against the same
// formula in double on the host, over the logits the same forwards copied back.
TEST(CudaModel, TokenNllMatchesHostLogits) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  const TinyModel m = make_model(Arch::kQwen3, 4, 2, 64);
  const int V = m.cfg.vocab_size;
  std::mt19937 rng(31);
  std::vector<int> tokens(160);
  for (int& t : tokens) t = int(rng() % uint32_t(V));
  auto f = CudaForward::create(m.cfg, m.w, 512);
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  auto host_nll = [V](const float* row, int target) {
    double mx = row[0];
    for (int i = 1; i < V; ++i) mx = std::max(mx, double(row[i]));
    double sum = 0.0;
    for (int i = 0; i < V; ++i) sum += std::exp(double(row[i]) - mx);
    return std::log(sum) + mx - double(row[target]);
  };
  std::vector<float> logits;
  const std::span<const int> all(tokens);
  ASSERT_TRUE((*f)->forward(all.first(150), 0, Logits::kAll, nullptr, nullptr, &logits).is_ok());
  std::vector<double> nll;
  for (auto [first, k] : {std::pair{0, 149}, std::pair{37, 50}, std::pair{149, 1}, std::pair{5, 0}}) {
    const std::span<const int> targets = all.subspan(size_t(first) + 1, size_t(k));
    const Status st = (*f)->token_nll(first, targets, &nll);
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_EQ(nll.size(), size_t(k));
    for (int i = 0; i < k; ++i)
      ASSERT_NEAR(nll[size_t(i)], host_nll(logits.data() + size_t(first + i) * V, targets[size_t(i)]), 1e-9)
          << "first " << first << " row " << i;
  }
  EXPECT_FALSE((*f)->token_nll(100, all.first(51), &nll).is_ok());  // past the 150 rows
  const int bad = V;
  EXPECT_FALSE((*f)->token_nll(0, std::span<const int>(&bad, 1), &nll).is_ok());
  // A decode step's one row.
  ASSERT_TRUE((*f)->forward(all.subspan(150, 1), 150, Logits::kLast, nullptr, nullptr, &logits).is_ok());
  ASSERT_TRUE((*f)->token_nll(0, all.subspan(151, 1), &nll).is_ok());
  ASSERT_NEAR(nll[0], host_nll(logits.data(), tokens[151]), 1e-9);
  EXPECT_FALSE((*f)->token_nll(1, all.subspan(151, 1), &nll).is_ok());
}

TEST(CudaModel, ContextOverflowIsAnError) {
  if (!gpu_present()) {
    GTEST_SKIP() << "no CUDA device";
  }
  TinyModel m = make_model(Arch::kLlama, 4, 2, 64);
  auto f = CudaForward::create(m.cfg, m.w, 64);
  ASSERT_TRUE(f.is_ok());
  std::vector<int> tokens(65, 1);
  std::vector<float> logits;
  const Status st = (*f)->forward(tokens, 0, Logits::kLast, nullptr, nullptr, &logits);
  EXPECT_TRUE(!st.is_ok() && st.message().find("context is full") != std::string::npos);
}

}  // namespace
