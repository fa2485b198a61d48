// Benchmark of the CUDA attention kernels (SPEC §5.1 prefill, §5.2 decode) on the setup of the
// paper's figures: bf16, 32 query / 8 KV heads, head_dim 128, block 64.
//   prefill: dense causal and density-0.1 (random blocks of the causal triangle) at 8k, 32k, 128k;
//            dense with the gate-training ground truth (block_max) at 8k and 32k
//   decode : 90% sparsity (ceil(L·0.1/64) random distinct blocks per sequence and KV head) and
//            dense, batch 1 and 16, L = 32k and 128k
// Timing: CUDA events around each launch, 3 warm-ups, median of 20 runs (spread = min..max).
// Prefill prints executed TFLOP/s (4·rows·64·head_dim per visited tile) and dense-equivalent
// TFLOP/s (4·head_dim·heads·T(T+1)/2); decode prints GB/s of K/V actually read (+q, out).
//   gate   : the learned gates on the GPU (src/model/cuda_gate.h) with random weights of the released
//            shapes, and the attention over the selection they make: prefill (Qavg_Kmaxminavg, dg 128,
//            density:0.1) at 8k/32k/128k, decode (Qproj + qk-norm, budget = 10% of L) at batch 1 and 16
//            x 128k; `gate` rows time the whole gate step (pooling, projections, RoPE, scores,
//            selection and CSR; decode: a step inside a block, `mid`, one that completes a block and
//            compresses it, `end`, and `mid, 0 out` as a gate trained without block 0 (sink_excluded,
//            the shipped decode gates) ranks it, first as +inf; `int8` with the int8 K-compression cache;
//            `folded` from the query projection the model's Q product makes (fold_query), and `fold
//            product` that product's own time;
//            `graph` rows time 16 steps, or 16 attention calls, captured as one CUDA graph, per call, as
//            the model's decode graphs run them: without the host's launch gaps), `select` rows the selection + CSR part alone (Top-K
//            with the sink rule, Top-K as a gate trained without block 0 ranks it, `0 out`, and
//            mass:0.3), each as a share of the attention row above; `rope` the model's RoPE of q and k, and
//            `gate+rope` the gate step with that RoPE folded into its pooling pass (as the model runs
//            it), minus `rope`
// Usage: bench_cuda_attention [--quick | --sweep | --gates [T] | --gates 0 [B] | --prefill [T] | --decode]
// (--quick drops 128k prefill and decode; --sweep prints the density and batch sweeps behind the plots, see
// sweep(); --gates runs only the gate rows, with T only the prefill gate at T, with 0 only the decode gate, with
// 0 B only the decode gate at batch B (1 or 16); --prefill runs
// only the Hopper kernel's prefill rows, with T only at T; --decode only the decode rows)
// Prefill rows run both kernels where the device has the Hopper one (last column names it).
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/gate.cuh"
#include "kernels/cuda/model_ops.cuh"
#include "kernels/cuda/plan.cuh"
#include "kernels/cuda/sparse_decode.cuh"
#include "kernels/cuda/sparse_prefill.cuh"
#include "model/cuda_gate.h"
#include <seer/gates.h>
#include <seer/status.h>

namespace {

constexpr int kHq = 32, kHkv = 8, kD = 128, kBs = 64, kWarmup = 3, kRuns = 20;

#define BENCH_CHECK(expr)                                                                       \
  do {                                                                                          \
    cudaError_t e_ = (expr);                                                                    \
    if (e_ != cudaSuccess) {                                                                    \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_)); \
      std::exit(1);                                                                             \
    }                                                                                           \
  } while (0)

void check(const seer::Status& st) {
  if (!st.is_ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    std::exit(1);
  }
}

// Fills a device buffer of bf16 with random values in (-1, 1) by tiling a 4M-element random pattern
// (full host generation of 1e9 elements would dominate the run).
void fill_random_bf16(void* dst, size_t n, uint64_t seed) {
  static std::vector<uint16_t> pattern;
  const size_t kPattern = size_t(1) << 22;
  std::mt19937_64 rng(seed);
  if (pattern.size() != kPattern) pattern.resize(kPattern);
  for (auto& x : pattern) {
    const uint32_t r = uint32_t(rng());
    const float f = (float(r & 0xffffff) / float(1 << 24)) * 2.0f - 1.0f;
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    x = uint16_t((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
  }
  for (size_t off = 0; off < n; off += kPattern)
    BENCH_CHECK(cudaMemcpy(static_cast<uint16_t*>(dst) + off, pattern.data(), std::min(kPattern, n - off) * 2,
                           cudaMemcpyHostToDevice));
}

struct Timing {
  double median_ms, min_ms, max_ms;
};

// hold_host: the GPU's time without the call's host cost. Before each run the stream gets a host function
// that sleeps 1 ms, while this thread enqueues the start event, the call and the end event behind it, so the
// GPU runs those back to back (without it, a cuBLAS call's ~16 us of host work is in the figure).
template <typename F>
Timing time_it(F&& launch, cudaStream_t stream = nullptr, bool hold_host = false) {
  const auto sleep_1ms = [](void*) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
    while (std::chrono::steady_clock::now() < until) {
    }
  };
  cudaEvent_t a, b;
  BENCH_CHECK(cudaEventCreate(&a));
  BENCH_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < kWarmup; ++i) launch();
  BENCH_CHECK(cudaDeviceSynchronize());
  std::vector<double> ms;
  for (int i = 0; i < kRuns; ++i) {
    if (hold_host) BENCH_CHECK(cudaLaunchHostFunc(stream, sleep_1ms, nullptr));
    BENCH_CHECK(cudaEventRecord(a, stream));
    launch();
    BENCH_CHECK(cudaEventRecord(b, stream));
    BENCH_CHECK(cudaEventSynchronize(b));
    float t = 0;
    BENCH_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), ms.back()};
}

// `launch` (work on `stream`, a non-default stream) `reps` times back to back, captured once as a CUDA
// graph; per repetition, the median over kRuns launches of the graph. The GPU's time without the host's
// gaps between launches, as the model's decode graphs run a step (time_it times one eager call).
template <typename F>
Timing time_graph(F&& launch, cudaStream_t stream, int reps = 16) {
  launch();  // first call outside the capture: buffers reserved
  BENCH_CHECK(cudaStreamSynchronize(stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  BENCH_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int r = 0; r < reps; ++r) launch();
  BENCH_CHECK(cudaStreamEndCapture(stream, &graph));
  BENCH_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  Timing t = time_it([&] { BENCH_CHECK(cudaGraphLaunch(exec, stream)); }, stream);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  return {t.median_ms / reps, t.min_ms / reps, t.max_ms / reps};
}

void print_header() {
  std::printf("%-8s %-22s %7s %9s %17s %10s %10s %9s\n", "op", "shape", "density", "ms", "spread", "TFLOPs_ex",
              "TFLOPs_deq", "GB/s");
}

// with_gt: also emit the gate-training ground truth (SparsePrefillParams::block_max, fp32
// [T, Hq, T/64], zeroed by the launcher inside the timed call).
// Returns the median ms.
// per_kv_head: one selection row per KV head, shared by its query heads (as a mask shared by the
// heads is); else one per query head.
// with_plan: also time the plan step that would build this selection's CSR lists on the GPU from a
// gate's block mask (launch_mask_to_csr), printed as a `plan` row with its share of the attention.
double bench_prefill(int T, double density, uint64_t seed, bool with_gt = false,
                     seer::cuda::PrefillPath path = seer::cuda::PrefillPath::kAuto, bool per_kv_head = false,
                     bool with_plan = false) {
  const int rows = (T + kBs - 1) / kBs;
  std::vector<int32_t> offsets{0}, indices;
  double exec_flops = 0.0;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int sel_heads = per_kv_head ? kHkv : kHq;
  for (int h = 0; h < sel_heads; ++h)
    for (int r = 0; r < rows; ++r) {
      const int qrows = std::min(kBs, T - r * kBs);
      // SPEC §5.1 benchmark: each row keeps max(1, int(density·avail)) random causal blocks.
      const int avail = r + 1;
      const int keep = density >= 1.0 ? avail : std::max(1, int(density * avail));
      const size_t first = indices.size();
      if (keep == avail) {
        for (int j = 0; j < avail; ++j) indices.push_back(j);
      } else {
        // Floyd's sampling of `keep` distinct blocks, then sorted ascending.
        std::vector<int> chosen;
        for (int j = avail - keep; j < avail; ++j) {
          const int t = int(rng() % uint64_t(j + 1));
          if (std::find(chosen.begin(), chosen.end(), t) == chosen.end()) chosen.push_back(t);
          else chosen.push_back(j);
        }
        std::sort(chosen.begin(), chosen.end());
        indices.insert(indices.end(), chosen.begin(), chosen.end());
      }
      exec_flops += 4.0 * qrows * kBs * kD * double(indices.size() - first) * (kHq / sel_heads);
      offsets.push_back(int32_t(indices.size()));
    }
  const double deq_flops = 4.0 * kD * kHq * (double(T) * (T + 1) / 2.0);
  void *q, *k, *v, *o;
  int32_t *doff, *didx;
  const size_t nq = size_t(T) * kHq * kD, nkv = size_t(kHkv) * T * kD;
  BENCH_CHECK(cudaMalloc(&q, nq * 2));
  BENCH_CHECK(cudaMalloc(&o, nq * 2));
  BENCH_CHECK(cudaMalloc(&k, nkv * 2));
  BENCH_CHECK(cudaMalloc(&v, nkv * 2));
  BENCH_CHECK(cudaMalloc(&doff, offsets.size() * 4));
  BENCH_CHECK(cudaMalloc(&didx, indices.size() * 4));
  fill_random_bf16(q, nq, seed + 1);
  fill_random_bf16(k, nkv, seed + 2);
  fill_random_bf16(v, nkv, seed + 3);
  BENCH_CHECK(cudaMemcpy(doff, offsets.data(), offsets.size() * 4, cudaMemcpyHostToDevice));
  BENCH_CHECK(cudaMemcpy(didx, indices.data(), indices.size() * 4, cudaMemcpyHostToDevice));
  seer::cuda::SparsePrefillParams p;
  p.q = q;
  p.k_cache = k;
  p.v_cache = v;
  p.out = o;
  p.row_offsets = doff;
  p.block_indices = didx;
  p.dtype = seer::cuda::DType::kBF16;
  p.qo_len = p.kv_len = p.max_context = T;
  p.num_qo_heads = kHq;
  p.num_kv_heads = kHkv;
  p.head_dim = kD;
  p.first_q_block = 0;
  p.num_rows = rows;
  p.scale = 1.0f / std::sqrt(float(kD));
  p.path = path;
  p.per_kv_head = per_kv_head;
  float* gt = nullptr;
  if (with_gt) {
    BENCH_CHECK(cudaMalloc(&gt, sizeof(float) * size_t(T) * kHq * rows));
    p.block_max = gt;
  }
  check(seer::cuda::launch_sparse_prefill(p, nullptr));
  const Timing t = time_it([&] { check(seer::cuda::launch_sparse_prefill(p, nullptr)); });
  char shape[64], spread[64];
  std::snprintf(shape, sizeof shape, "T=%d%s", T, per_kv_head ? " per-kv-head" : "");
  std::snprintf(spread, sizeof spread, "%.3f..%.3f", t.min_ms, t.max_ms);
  // The kernel that ran: block maxima always take the mma.sync kernel (see sparse_prefill.cuh).
  const bool wgmma = !with_gt && (path == seer::cuda::PrefillPath::kWgmma ||
                                  (path == seer::cuda::PrefillPath::kAuto && seer::cuda::sparse_prefill_sm90_available()));
  std::printf("%-8s %-22s %7.2f %9.3f %17s %10.1f %10.1f %9s\n", with_gt ? "prefill+gt" : "prefill", shape, density,
              t.median_ms, spread, exec_flops / t.median_ms * 1e-9, deq_flops / t.median_ms * 1e-9,
              wgmma ? "wgmma" : "mma.sync");
  std::fflush(stdout);
  if (with_plan) {
    const int sel_heads = per_kv_head ? kHkv : kHq;
    std::vector<uint8_t> mask(size_t(sel_heads) * rows * rows, 0);
    for (int row = 0; row < sel_heads * rows; ++row)
      for (int i = offsets[row]; i < offsets[row + 1]; ++i) mask[size_t(row) * rows + indices[i]] = 1;
    uint8_t* dmask;
    int32_t *poff, *pidx;
    BENCH_CHECK(cudaMalloc(&dmask, mask.size()));
    BENCH_CHECK(cudaMalloc(&poff, offsets.size() * 4));
    BENCH_CHECK(cudaMalloc(&pidx, size_t(sel_heads) * rows * (rows + 1) / 2 * 4));
    BENCH_CHECK(cudaMemcpy(dmask, mask.data(), mask.size(), cudaMemcpyHostToDevice));
    seer::cuda::MaskToCsrParams mp;
    mp.mask = dmask;
    mp.row_offsets = poff;
    mp.block_indices = pidx;
    mp.capacity = int64_t(sel_heads) * rows * (rows + 1) / 2;
    mp.num_heads = sel_heads;
    mp.num_rows = rows;
    mp.num_key_blocks = rows;
    const Timing tp = time_it([&] { check(seer::cuda::launch_mask_to_csr(mp, nullptr)); });
    std::snprintf(spread, sizeof spread, "%.3f..%.3f", tp.min_ms, tp.max_ms);
    std::printf("%-8s %-22s %7.2f %9.3f %17s %10s %10s %8.1f%%\n", "plan", shape, density, tp.median_ms, spread, "-",
                "-", 100.0 * tp.median_ms / t.median_ms);
    cudaFree(dmask);
    cudaFree(poff);
    cudaFree(pidx);
  }
  cudaFree(gt);
  cudaFree(q);
  cudaFree(o);
  cudaFree(k);
  cudaFree(v);
  cudaFree(doff);
  cudaFree(didx);
  return t.median_ms;
}

// Returns the K/V bytes read per second (GB/s).
double bench_decode(int batch, int L, double density, uint64_t seed) {
  const int nblocks = (L + kBs - 1) / kBs;
  const int keep = density >= 1.0 ? nblocks : std::max(1, int(std::ceil(L * density / kBs)));
  std::vector<int32_t> offsets{0}, indices;
  std::mt19937_64 rng(seed);
  std::vector<int> all(nblocks);
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < kHkv; ++h) {
      for (int j = 0; j < nblocks; ++j) all[j] = j;
      if (keep < nblocks) std::shuffle(all.begin(), all.end(), rng);
      std::vector<int> chosen(all.begin(), all.begin() + keep);
      std::sort(chosen.begin(), chosen.end());
      indices.insert(indices.end(), chosen.begin(), chosen.end());
      offsets.push_back(int32_t(indices.size()));
    }
  int splits = 1;
  check(seer::cuda::plan_decode_splits(seer::cuda::DType::kBF16, kD, batch, kHkv, keep, &splits));
  void *q, *k, *v, *o;
  int32_t *doff, *didx, *dlen;
  float* ws = nullptr;
  const size_t nq = size_t(batch) * kHq * kD, nkv = size_t(batch) * kHkv * L * kD;
  BENCH_CHECK(cudaMalloc(&q, nq * 2));
  BENCH_CHECK(cudaMalloc(&o, nq * 2));
  BENCH_CHECK(cudaMalloc(&k, nkv * 2));
  BENCH_CHECK(cudaMalloc(&v, nkv * 2));
  BENCH_CHECK(cudaMalloc(&doff, offsets.size() * 4));
  BENCH_CHECK(cudaMalloc(&didx, indices.size() * 4));
  BENCH_CHECK(cudaMalloc(&dlen, batch * 4));
  const int64_t wsn = seer::cuda::sparse_decode_workspace_floats(batch, kHq, kD, splits);
  if (wsn > 0) BENCH_CHECK(cudaMalloc(&ws, wsn * 4));
  fill_random_bf16(q, nq, seed + 1);
  fill_random_bf16(k, nkv, seed + 2);
  fill_random_bf16(v, nkv, seed + 3);
  std::vector<int32_t> lens(batch, L);
  BENCH_CHECK(cudaMemcpy(dlen, lens.data(), batch * 4, cudaMemcpyHostToDevice));
  BENCH_CHECK(cudaMemcpy(doff, offsets.data(), offsets.size() * 4, cudaMemcpyHostToDevice));
  BENCH_CHECK(cudaMemcpy(didx, indices.data(), indices.size() * 4, cudaMemcpyHostToDevice));
  seer::cuda::SparseDecodeParams p;
  p.q = q;
  p.k_cache = k;
  p.v_cache = v;
  p.out = o;
  p.kv_len = dlen;
  p.row_offsets = doff;
  p.block_indices = didx;
  p.partial_o = ws;
  p.partial_lse = ws ? ws + size_t(batch) * kHq * splits * kD : nullptr;
  p.dtype = seer::cuda::DType::kBF16;
  p.batch_size = batch;
  p.num_qo_heads = kHq;
  p.num_kv_heads = kHkv;
  p.head_dim = kD;
  p.max_context = L;
  p.num_splits = splits;
  p.scale = 1.0f / std::sqrt(float(kD));
  check(seer::cuda::launch_sparse_decode(p, nullptr));
  const Timing t = time_it([&] { check(seer::cuda::launch_sparse_decode(p, nullptr)); });
  const double bytes = double(indices.size()) * kBs * kD * 2 * 2 + 2.0 * nq * 2;
  const double flops = double(indices.size()) * 4.0 * (kHq / kHkv) * kBs * kD;
  const double deq = double(batch) * kHq * 4.0 * L * kD;
  char shape[64], spread[64];
  std::snprintf(shape, sizeof shape, "B=%d L=%d s=%d%s", batch, L, splits, bytes < 40e6 ? " L2" : "");
  std::snprintf(spread, sizeof spread, "%.4f..%.4f", t.min_ms, t.max_ms);
  std::printf("%-8s %-22s %7.2f %9.4f %17s %10.2f %10.2f %9.0f\n", "decode", shape, density, t.median_ms, spread,
              flops / t.median_ms * 1e-9, deq / t.median_ms * 1e-9, bytes / t.median_ms * 1e-6);
  std::fflush(stdout);
  cudaFree(q);
  cudaFree(o);
  cudaFree(k);
  cudaFree(v);
  cudaFree(doff);
  cudaFree(didx);
  cudaFree(dlen);
  cudaFree(ws);
  return bytes / t.median_ms * 1e-6;
}


// A fresh one-layer gate set of `kind` (seer::init_gates: the released architecture, dg = 128;
// decode: Qproj with qk-norm) for the benchmark shapes.
seer::GateSet bench_gate(seer::GateKind kind, const seer::ModelConfig& m) {
  auto g = seer::init_gates(kind, m, seer::GateOptions{}, 5);
  check(g.status());
  return std::move(g).value();
}

seer::ModelConfig bench_model() {
  seer::ModelConfig m;
  m.num_layers = 1;
  m.num_qo_heads = kHq;
  m.num_kv_heads = kHkv;
  m.head_dim = kD;
  m.hidden_size = kHq * kD;
  m.rope_theta = 500000.0f;
  return m;
}

void print_share(const char* op, const char* shape, double density, const Timing& t, double of_ms) {
  char spread[64];
  std::snprintf(spread, sizeof spread, "%.4f..%.4f", t.min_ms, t.max_ms);
  std::printf("%-8s %-22s %7.2f %9.4f %17s %10s %10s %8.1f%%\n", op, shape, density, t.median_ms, spread, "-", "-",
              100.0 * t.median_ms / of_ms);
  std::fflush(stdout);
}

// Prefill gate at density:0.1 on T tokens, then the attention over its selection (per query head).
void bench_gate_prefill(int T) {
  const seer::ModelConfig m = bench_model();
  const seer::GateSet g = bench_gate(seer::GateKind::kPrefill, m);
  seer::DeviceGateSpec spec;
  spec.prefill = &g;
  spec.options.prefill = seer::PrefillSparsity::parse("density:0.1").value();
  cublasHandle_t blas;
  if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) std::exit(1);
  auto made = seer::CudaGates::create(spec, m, T, 1, blas, nullptr);  // legacy stream: the events see it
  check(made.status());
  seer::CudaGates& gates = *made.value();
  void *q, *kn, *k, *v, *o;
  const size_t nq = size_t(T) * kHq * kD, nkv = size_t(kHkv) * T * kD;
  BENCH_CHECK(cudaMalloc(&q, nq * 2));
  BENCH_CHECK(cudaMalloc(&o, nq * 2));
  BENCH_CHECK(cudaMalloc(&kn, nkv * 2));
  BENCH_CHECK(cudaMalloc(&k, nkv * 2));
  BENCH_CHECK(cudaMalloc(&v, nkv * 2));
  fill_random_bf16(q, nq, 1);
  fill_random_bf16(kn, nkv, 2);
  fill_random_bf16(k, nkv, 3);
  fill_random_bf16(v, nkv, 4);
  seer::DeviceSelection sel;
  bool sparse = false;
  auto gate_step = [&] {
    check(gates.prefill(0, 0, static_cast<const __nv_bfloat16*>(q), static_cast<const __nv_bfloat16*>(kn), T, 0,
                        &sel, &sparse));
  };
  gate_step();
  std::vector<seer::LayerDensity> counts;
  check(gates.take_counts(&counts));
  const double density = counts[0].prefill.density();
  const Timing tg = time_it(gate_step);
  check(gates.take_counts(&counts));

  seer::cuda::SparsePrefillParams p;
  p.q = q;
  p.k_cache = k;
  p.v_cache = v;
  p.out = o;
  p.row_offsets = sel.offsets;
  p.block_indices = sel.indices;
  p.qo_len = p.kv_len = p.max_context = T;
  p.num_qo_heads = kHq;
  p.num_kv_heads = kHkv;
  p.head_dim = kD;
  p.first_q_block = sel.first_q_block;
  p.num_rows = sel.num_rows;
  p.scale = 1.0f / std::sqrt(float(kD));
  const Timing ta = time_it([&] { check(seer::cuda::launch_sparse_prefill(p, nullptr)); });
  char shape[64], spread[64];
  std::snprintf(shape, sizeof shape, "T=%d gate's selection", T);
  std::snprintf(spread, sizeof spread, "%.3f..%.3f", ta.min_ms, ta.max_ms);
  std::printf("%-8s %-22s %7.2f %9.3f %17s %10s %10s %9s\n", "prefill", shape, density, ta.median_ms, spread, "-",
              "-", seer::cuda::sparse_prefill_sm90_available() ? "wgmma" : "mma.sync");
  std::snprintf(shape, sizeof shape, "T=%d Qavg_Kmaxminavg", T);
  print_share("gate", shape, density, tg, ta.median_ms);

  // In the model the gate's pooling pass also applies the model's RoPE to q and k (prefill_and_rope),
  // replacing the two RoPE passes: `gate+rope` is that step, its share the part beyond `rope` alone.
  std::vector<float> host_cos(size_t(T) * kD / 2), host_sin(host_cos.size());
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < kD / 2; ++i) {
      const double a = double(t) * std::pow(500000.0, -2.0 * i / kD);
      host_cos[size_t(t) * kD / 2 + i] = float(std::cos(a));
      host_sin[size_t(t) * kD / 2 + i] = float(std::sin(a));
    }
  float *cos_t, *sin_t;
  BENCH_CHECK(cudaMalloc(&cos_t, host_cos.size() * 4));
  BENCH_CHECK(cudaMalloc(&sin_t, host_sin.size() * 4));
  BENCH_CHECK(cudaMemcpy(cos_t, host_cos.data(), host_cos.size() * 4, cudaMemcpyHostToDevice));
  BENCH_CHECK(cudaMemcpy(sin_t, host_sin.data(), host_sin.size() * 4, cudaMemcpyHostToDevice));
  auto* qb = static_cast<__nv_bfloat16*>(q);
  auto* kb = static_cast<__nv_bfloat16*>(kn);
  const Timing tr = time_it([&] {
    BENCH_CHECK(seer::cuda::run_rope(qb, cos_t, sin_t, T, kHq, kD, nullptr));
    BENCH_CHECK(seer::cuda::run_rope(kb, cos_t, sin_t, T, kHkv, kD, nullptr));
  });
  Timing tgr = time_it([&] { check(gates.prefill_and_rope(0, 0, qb, kb, T, 0, cos_t, sin_t, &sel, &sparse)); });
  check(gates.take_counts(&counts));
  std::snprintf(shape, sizeof shape, "T=%d model RoPE q,k", T);
  std::snprintf(spread, sizeof spread, "%.4f..%.4f", tr.min_ms, tr.max_ms);
  std::printf("%-8s %-22s %7s %9.4f %17s %10s %10s %9s\n", "rope", shape, "-", tr.median_ms, spread, "-", "-", "-");
  std::snprintf(shape, sizeof shape, "T=%d gate+rope - rope", T);
  tgr.median_ms -= tr.median_ms;
  tgr.min_ms -= tr.median_ms;
  tgr.max_ms -= tr.median_ms;
  print_share("gate+rope", shape, density, tgr, ta.median_ms);
  BENCH_CHECK(cudaFree(cos_t));
  BENCH_CHECK(cudaFree(sin_t));

  // The selection + CSR part alone, on scores of the same shape (restored by a copy before each run).
  const int nb = (T + kBs - 1) / kBs;
  const size_t ns = size_t(kHq) * nb * nb;
  float *orig, *work;
  int32_t *off, *idx;
  BENCH_CHECK(cudaMalloc(&orig, ns * 4));
  BENCH_CHECK(cudaMalloc(&work, ns * 4));
  BENCH_CHECK(cudaMalloc(&off, (size_t(kHq) * nb + 1) * 4));
  BENCH_CHECK(cudaMalloc(&idx, ns * 4));
  std::vector<uint32_t> bits(std::min<size_t>(ns, size_t(1) << 22));
  std::mt19937 rng(6);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& b : bits) {
    const float f = nd(rng);
    std::memcpy(&b, &f, 4);
  }
  for (size_t at = 0; at < ns; at += bits.size())
    BENCH_CHECK(cudaMemcpy(orig + at, bits.data(), std::min(bits.size(), ns - at) * 4, cudaMemcpyHostToDevice));
  seer::cuda::GateSelectParams sp;
  sp.scores = work;
  sp.row_stride = nb;
  sp.num_rows = kHq * nb;
  sp.rows_per_head = nb;
  sp.num_blocks = nb;
  sp.k = seer::density_top_k(0.1, nb);
  sp.keep_sink = true;  // the model's default rule
  sp.row_offsets = off;
  sp.block_indices = idx;
  const Timing tc = time_it([&] { BENCH_CHECK(cudaMemcpyAsync(work, orig, ns * 4, cudaMemcpyDeviceToDevice)); });
  auto time_select = [&] {  // less the copy that restores the scores
    Timing t = time_it([&] {
      BENCH_CHECK(cudaMemcpyAsync(work, orig, ns * 4, cudaMemcpyDeviceToDevice));
      BENCH_CHECK(seer::cuda::run_gate_select(sp, nullptr));
    });
    t.median_ms -= tc.median_ms;
    t.min_ms -= tc.median_ms;
    t.max_ms -= tc.median_ms;
    return t;
  };
  const Timing ts = time_select();
  std::snprintf(shape, sizeof shape, "T=%d top-k -> CSR", T);
  print_share("select", shape, 0.1, ts, ta.median_ms);
  // As a gate trained without block 0 (sink_excluded, the shipped gates) has it: block 0 ranked first.
  sp.keep_sink = false;
  sp.sink_excluded = true;
  const Timing tx = time_select();
  std::snprintf(shape, sizeof shape, "T=%d top-k, 0 out", T);
  print_share("select", shape, 0.1, tx, ta.median_ms);
  sp.keep_sink = true;
  sp.sink_excluded = false;
  // The same scores under mass:0.3 (the fewest highest blocks holding 30% of each row's softmax; on
  // these N(0,1) logits about a tenth of the blocks), its density read back from the CSR.
  sp.top_k = false;
  sp.mass = true;
  sp.tau = 0.3;
  const Timing tm = time_select();
  int32_t kept = 0;
  BENCH_CHECK(cudaMemcpy(&kept, off + size_t(kHq) * nb, 4, cudaMemcpyDeviceToHost));
  std::snprintf(shape, sizeof shape, "T=%d mass -> CSR", T);
  print_share("select", shape, double(kept) / (double(kHq) * nb * (nb + 1) / 2), tm, ta.median_ms);
  // And under threshold:0.01 (the demo's rule; upstream's default kind of rule), its density read back.
  sp.mass = false;
  sp.tau = 0.01;
  const Timing tt = time_select();
  BENCH_CHECK(cudaMemcpy(&kept, off + size_t(kHq) * nb, 4, cudaMemcpyDeviceToHost));
  std::snprintf(shape, sizeof shape, "T=%d threshold -> CSR", T);
  print_share("select", shape, double(kept) / (double(kHq) * nb * (nb + 1) / 2), tt, ta.median_ms);
  for (void* ptr : {static_cast<void*>(orig), static_cast<void*>(work), static_cast<void*>(off),
                    static_cast<void*>(idx), q, kn, k, v, o})
    cudaFree(ptr);
  made.value().reset();
  cublasDestroy(blas);
}

// Decode gate step at budget = 10% of L for `batch` sequences of L tokens, then the attention over
// its selection. The cache is built by a prefill of L - 1 tokens per sequence (not timed).
// `0 out`: the step of a gate trained without block 0 (sink_excluded, the shipped gates), whose selection
// ranks block 0 first as +inf; `mass:0.9`: that gate's step under decode mass:0.9 (its own density; the
// share is of the budget's attention row); `int8`: the step with the int8 K-compression cache
// (PolicyOptions::gate_cache_int8); `folded`: the step from the query projection the model's Q product
// makes (PolicyOptions::gate_fold_query, CudaGates::fold_query; a random Wq [Hq * d, D] folded, D = 4096
// as Llama-3.1-8B's), and `fold product` that product's own cost, which the model adds to its Q product
// (as a separate GEMM at these batches; the model's one-token steps fold it into their q/k/v launch).
void bench_gate_decode(int batch, int L) {
  const seer::ModelConfig m = bench_model();
  const seer::GateSet g = bench_gate(seer::GateKind::kDecode, m);
  seer::GateSet g_out = g;
  g_out.config.sink_excluded = true;
  seer::DeviceGateSpec spec, spec_out;
  spec.decode = &g;
  spec.options.decode = seer::DecodeSparsity::parse("budget:" + std::to_string(L / 10)).value();
  spec.options.gate_cache_int8 = false;  // the rows without "int8" time the bf16 cache (int8 is the default)
  spec_out = spec;
  spec_out.decode = &g_out;
  seer::DeviceGateSpec spec_mass = spec_out;
  spec_mass.options.decode = seer::DecodeSparsity::parse("mass:0.9").value();
  seer::DeviceGateSpec spec_i8 = spec;
  spec_i8.options.gate_cache_int8 = true;
  cublasHandle_t blas;
  if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) std::exit(1);
  cudaStream_t st;  // a stream of its own, so that the steps can be captured as graphs
  BENCH_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  if (cublasSetStream(blas, st) != CUBLAS_STATUS_SUCCESS) std::exit(1);
  auto made = seer::CudaGates::create(spec, m, L, batch, blas, st);
  check(made.status());
  seer::CudaGates& gates = *made.value();
  auto made_out = seer::CudaGates::create(spec_out, m, L, batch, blas, st);
  check(made_out.status());
  auto made_mass = seer::CudaGates::create(spec_mass, m, L, batch, blas, st);
  check(made_mass.status());
  auto made_i8 = seer::CudaGates::create(spec_i8, m, L, batch, blas, st);
  check(made_i8.status());
  auto made_f = seer::CudaGates::create(spec, m, L, batch, blas, st);
  check(made_f.status());
  auto made_f8 = seer::CudaGates::create(spec_i8, m, L, batch, blas, st);
  check(made_f8.status());
  const int D = m.hidden_size, fq = made_f.value()->folded_query_rows();
  void *wq, *xin, *qf;
  BENCH_CHECK(cudaMalloc(&wq, size_t(kHq) * kD * D * 2));
  BENCH_CHECK(cudaMalloc(&xin, size_t(batch) * D * 2));
  BENCH_CHECK(cudaMalloc(&qf, size_t(batch) * fq * 2));
  fill_random_bf16(wq, size_t(kHq) * kD * D, 5);
  fill_random_bf16(xin, size_t(batch) * D, 6);
  for (seer::CudaGates* gs : {made_f.value().get(), made_f8.value().get()})
    check(gs->fold_query(0, static_cast<const __nv_bfloat16*>(wq), nullptr));
  // y [B, rows] = x [B, D] · Wᵀ, as the model's cuBLAS GEMM of one weight computes it (qf: W the folded weight)
  auto product = [&](const void* w, int rows, void* y) {
    const float one = 1.0f, zero = 0.0f;
    if (cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, batch, D, &one, w, CUDA_R_16BF, D, xin, CUDA_R_16BF, D,
                     &zero, y, CUDA_R_16BF, rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS)
      std::exit(1);
  };
  auto fold_product = [&] { product(made_f.value()->folded_query_weight(0), fq, qf); };
  fold_product();
  // The model's Q product [Hq d, D] alone and with the folded rows appended ([Hq d + fq, D], one GEMM):
  // the difference is what the fold adds to it.
  const int qrows = kHq * kD;
  void *wqf, *yq;
  BENCH_CHECK(cudaMalloc(&wqf, size_t(qrows + fq) * D * 2));
  BENCH_CHECK(cudaMalloc(&yq, size_t(batch) * (qrows + fq) * 2));
  BENCH_CHECK(cudaMemcpy(wqf, wq, size_t(qrows) * D * 2, cudaMemcpyDeviceToDevice));
  BENCH_CHECK(cudaMemcpy(static_cast<char*>(wqf) + size_t(qrows) * D * 2, made_f.value()->folded_query_weight(0),
                         size_t(fq) * D * 2, cudaMemcpyDeviceToDevice));
  BENCH_CHECK(cudaStreamSynchronize(st));
  void *q, *kn, *k, *v, *o;
  int32_t* lens;
  const size_t nq = size_t(batch) * kHq * kD, nkv = size_t(batch) * kHkv * L * kD;
  BENCH_CHECK(cudaMalloc(&q, nq * 2));
  BENCH_CHECK(cudaMalloc(&o, nq * 2));
  BENCH_CHECK(cudaMalloc(&kn, size_t(L) * kHkv * kD * 2));
  BENCH_CHECK(cudaMalloc(&k, nkv * 2));
  BENCH_CHECK(cudaMalloc(&v, nkv * 2));
  BENCH_CHECK(cudaMalloc(&lens, batch * 4));
  fill_random_bf16(q, nq, 1);
  fill_random_bf16(kn, size_t(L) * kHkv * kD, 2);
  fill_random_bf16(k, nkv, 3);
  fill_random_bf16(v, nkv, 4);
  const std::vector<int32_t> host_lens(size_t(batch), L);
  BENCH_CHECK(cudaMemcpy(lens, host_lens.data(), batch * 4, cudaMemcpyHostToDevice));
  seer::DeviceSelection sel;
  bool sparse = false;
  const auto* knb = static_cast<const __nv_bfloat16*>(kn);
  for (seer::CudaGates* gs : {&gates, made_out.value().get(), made_mass.value().get(), made_i8.value().get(),
                               made_f.value().get(), made_f8.value().get()})
    for (int b = 0; b < batch; ++b) check(gs->prefill(0, b, knb, knb, L - 1, 0, &sel, &sparse));
  // A step re-appends the token at len - 1: len = L completes a block (the costliest step, one in 64),
  // len = L - 32 is a step inside a block (the others).
  // `graph`: the same steps timed as a graph (time_graph).
  // `folded`: the step from qf (the gates must have been folded).
  auto step_at = [&](int len, seer::CudaGates& gs, bool graph = false, bool folded = false) {
    const std::vector<int32_t> l(size_t(batch), len);
    BENCH_CHECK(cudaStreamSynchronize(st));
    BENCH_CHECK(cudaMemcpy(lens, l.data(), batch * 4, cudaMemcpyHostToDevice));
    const auto* qfb = folded ? static_cast<const __nv_bfloat16*>(qf) : nullptr;
    auto step = [&] { check(gs.decode(0, static_cast<const __nv_bfloat16*>(q), knb, lens, L, &sel, &sparse, qfb)); };
    return graph ? time_graph(step, st) : time_it(step, st);
  };
  const Timing tm_f_g = step_at(L - 32, *made_f.value(), true, true);
  const Timing tm_f8_g = step_at(L - 32, *made_f8.value(), true, true);
  const Timing tg_f8_g = step_at(L, *made_f8.value(), true, true);
  const Timing tfold = time_it(fold_product, st, true);
  const Timing tq = time_it([&] { product(wq, qrows, yq); }, st, true);
  const Timing tqf = time_it([&] { product(wqf, qrows + fq, yq); }, st, true);
  const Timing tm_out = step_at(L - 32, *made_out.value());
  const Timing tm_mass = step_at(L - 32, *made_mass.value());
  const Timing tm_i8 = step_at(L - 32, *made_i8.value());
  const Timing tg_i8 = step_at(L, *made_i8.value());
  const Timing tm_g = step_at(L - 32, gates, true), tm_i8_g = step_at(L - 32, *made_i8.value(), true);
  const Timing tg_i8_g = step_at(L, *made_i8.value(), true);
  const Timing tm_mass_g = step_at(L - 32, *made_mass.value(), true);
  const Timing tm_out_g = step_at(L - 32, *made_out.value(), true);
  const Timing tm = step_at(L - 32, gates);
  const Timing tg = step_at(L, gates);  // leaves lens = L and the selection of a full step for the attention
  std::vector<seer::LayerDensity> counts;
  check(gates.take_counts(&counts));
  const double density = counts[0].decode.density();
  check(made_out.value()->take_counts(&counts));  // the `0 out` gate's own selections (its forced blocks)
  const double density_out = counts[0].decode.density();
  check(made_mass.value()->take_counts(&counts));
  const double density_mass = counts[0].decode.density();
  check(made_i8.value()->take_counts(&counts));
  const double density_i8 = counts[0].decode.density();
  check(made_f.value()->take_counts(&counts));
  const double density_f = counts[0].decode.density();
  check(made_f8.value()->take_counts(&counts));
  const double density_f8 = counts[0].decode.density();

  int splits = 1;
  check(seer::cuda::plan_decode_splits(seer::cuda::DType::kBF16, kD, batch, kHkv, sel.max_row_blocks, &splits));
  float* ws = nullptr;
  const int64_t wsn = seer::cuda::sparse_decode_workspace_floats(batch, kHq, kD, splits);
  if (wsn > 0) BENCH_CHECK(cudaMalloc(&ws, wsn * 4));
  seer::cuda::SparseDecodeParams p;
  p.q = q;
  p.k_cache = k;
  p.v_cache = v;
  p.out = o;
  p.kv_len = lens;
  p.row_offsets = sel.offsets;
  p.block_indices = sel.indices;
  p.row_counts = sel.counts;
  p.row_stride = sel.stride;
  p.partial_o = ws;
  p.partial_lse = ws ? ws + size_t(batch) * kHq * splits * kD : nullptr;
  p.batch_size = batch;
  p.num_qo_heads = kHq;
  p.num_kv_heads = kHkv;
  p.head_dim = kD;
  p.max_context = L;
  p.num_splits = splits;
  p.scale = 1.0f / std::sqrt(float(kD));
  const Timing ta = time_it([&] { check(seer::cuda::launch_sparse_decode(p, st)); }, st);
  const Timing ta_g = time_graph([&] { check(seer::cuda::launch_sparse_decode(p, st)); }, st);
  // The attention rows (eager, then as a graph), each followed by the gate steps measured against it.
  auto attention_row = [&](const char* what, const Timing& t) {
    char shape[64], spread[64];
    std::snprintf(shape, sizeof shape, "B=%d L=%d %s", batch, L, what);
    std::snprintf(spread, sizeof spread, "%.4f..%.4f", t.min_ms, t.max_ms);
    std::printf("%-8s %-22s %7.2f %9.4f %17s %10s %10s %9s\n", "decode", shape, density, t.median_ms, spread, "-", "-",
                "-");
  };
  auto gate_row = [&](const char* what, double d, const Timing& t, const Timing& of) {
    char shape[64];
    std::snprintf(shape, sizeof shape, "B=%d L=%d %s", batch, L, what);
    print_share("gate", shape, d, t, of.median_ms);
  };
  attention_row("gate's sel", ta);
  gate_row("Qproj mid", density, tm, ta);
  gate_row("Qproj end", density, tg, ta);
  gate_row("mid, 0 out", density_out, tm_out, ta);
  gate_row("mid, mass:0.9", density_mass, tm_mass, ta);
  gate_row("mid, int8", density_i8, tm_i8, ta);
  gate_row("end, int8", density_i8, tg_i8, ta);
  attention_row("sel, graph", ta_g);
  gate_row("mid, graph", density, tm_g, ta_g);
  gate_row("mid, int8, graph", density_i8, tm_i8_g, ta_g);
  gate_row("end, int8, graph", density_i8, tg_i8_g, ta_g);
  gate_row("mid, mass:0.9, graph", density_mass, tm_mass_g, ta_g);
  gate_row("mid, 0 out, graph", density_out, tm_out_g, ta_g);
  gate_row("mid, folded, graph", density_f, tm_f_g, ta_g);
  gate_row("mid, int8, folded, graph", density_f8, tm_f8_g, ta_g);
  gate_row("end, int8, folded, graph", density_f8, tg_f8_g, ta_g);
  gate_row("fold product", 0.0, tfold, ta_g);
  gate_row("Q product", 0.0, tq, ta_g);
  gate_row("Q product + fold", 0.0, tqf, ta_g);
  for (void* ptr : {q, kn, k, v, o, static_cast<void*>(lens), static_cast<void*>(ws), wq, xin, qf, wqf, yq})
    cudaFree(ptr);
  made.value().reset();
  made_out.value().reset();
  made_mass.value().reset();
  made_i8.value().reset();
  made_f.value().reset();
  made_f8.value().reset();
  cublasDestroy(blas);
  cudaStreamDestroy(st);
}

}  // namespace

// --sweep: the data of docs/img/cuda_*.png, as tab-separated lines starting with "tsv":
//   tsv prefill T density ms_wgmma_per_kv_head ms_wgmma_per_head ms_mma_per_head
//   tsv decode L batch density GB/s
void sweep() {
  using seer::cuda::PrefillPath;
  const int T = 32768;
  const bool hopper = seer::cuda::sparse_prefill_sm90_available();
  for (double d : {1.0, 0.7, 0.5, 0.3, 0.2, 0.1, 0.05}) {
    const double shared = hopper ? bench_prefill(T, d, 1000 + T, false, PrefillPath::kWgmma, true) : 0.0;
    const double per_head = hopper ? bench_prefill(T, d, 1000 + T, false, PrefillPath::kWgmma, false) : 0.0;
    const double mma = bench_prefill(T, d, 1000 + T, false, PrefillPath::kMmaSync, false);
    std::printf("tsv\tprefill\t%d\t%.2f\t%.4f\t%.4f\t%.4f\n", T, d, shared, per_head, mma);
  }
  for (int L : {32768, 131072})
    for (int batch : {1, 2, 4, 8, 16, 32})
      for (double d : {0.1, 1.0}) {
        if (size_t(batch) * L > size_t(16) * 131072) continue;  // K+V of 16 × 128k is 8.6 GB
        const double gbs = bench_decode(batch, L, d, 7 + batch + L);
        std::printf("tsv\tdecode\t%d\t%d\t%.2f\t%.1f\n", L, batch, d, gbs);
      }
}

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const bool do_sweep = argc > 1 && std::strcmp(argv[1], "--sweep") == 0;
  const bool gates_only = argc > 1 && std::strcmp(argv[1], "--gates") == 0;
  const bool decode_only = argc > 1 && std::strcmp(argv[1], "--decode") == 0;
  {  // one mode at most; --gates and --prefill may take a length
    const char* mode = argc > 1 ? argv[1] : "";
    const bool takes_len = gates_only || std::strcmp(mode, "--prefill") == 0;
    char* end = nullptr;
    const bool bad_mode = argc > 1 && !quick && !do_sweep && !takes_len && !decode_only;
    const bool bad_len = argc > 2 && (!takes_len || (std::strtol(argv[2], &end, 10), *end != '\0' || end == argv[2]));
    // --gates 0 B: the decode gate at batch B only, one of the two batches it has rows for (1, 16)
    const long batch = argc == 4 ? std::strtol(argv[3], &end, 10) : 0;
    const bool batch_ok =
        argc == 4 && gates_only && std::strcmp(argv[2], "0") == 0 && *end == '\0' && (batch == 1 || batch == 16);
    if (bad_mode || bad_len || (argc > 3 && !batch_ok)) {
      std::fprintf(stderr,
                   "bench_cuda_attention: unexpected argument '%s'\n"
                   "usage: bench_cuda_attention [--quick | --sweep | --gates [T] | --gates 0 [B] | --prefill [T] | "
                   "--decode]\n",
                   bad_mode ? mode : bad_len ? argv[2] : argv[3]);
      return 2;
    }
  }
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("bench_cuda_attention: no CUDA device\n");
    return 0;
  }
  cudaDeviceProp prop;
  BENCH_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs; bf16, Hq=%d Hkv=%d d=%d block=%d; median of %d runs after %d warm-ups\n",
              prop.name, prop.multiProcessorCount, kHq, kHkv, kD, kBs, kRuns, kWarmup);
  std::printf("(decode 'L2' marks working sets under 40 MB, which the 50 MB L2 may hold between runs;\n"
              " the last column of prefill rows names the kernel; of plan rows, the plan time as a share of the\n"
              " attention time of the row above)\n");
  print_header();
  if (do_sweep) {
    sweep();
    return 0;
  }
  std::vector<int> lens{8192, 32768};
  if (!quick) lens.push_back(131072);
  if (gates_only) {  // --gates [T]: only the prefill gate at T (T = 0: only the decode gate)
    const int only = argc > 2 ? std::atoi(argv[2]) : -1;
    for (int T : lens)
      if (only < 0 || only == T) bench_gate_prefill(T);
    const int only_batch = argc > 3 ? std::atoi(argv[3]) : 0;
    if (only <= 0)
      for (int batch : {1, 16})
        if (only_batch == 0 || only_batch == batch) bench_gate_decode(batch, 131072);
    return 0;
  }
  const bool hopper = seer::cuda::sparse_prefill_sm90_available();
  if (argc > 1 && std::strcmp(argv[1], "--prefill") == 0) {  // --prefill [T]: the prefill rows only
    const int only = argc > 2 ? std::atoi(argv[2]) : 0;
    for (int T : lens)
      for (double d : {1.0, 0.1})
        for (bool shared : {false, true})
          if (hopper && (only == 0 || only == T))
            bench_prefill(T, d, 1000 + T, false, seer::cuda::PrefillPath::kWgmma, shared, d < 1.0);
    return 0;
  }
  for (int T : decode_only ? std::vector<int>{} : lens)
    for (double d : {1.0, 0.1})
      for (bool shared : {false, true}) {
        if (hopper) bench_prefill(T, d, 1000 + T, false, seer::cuda::PrefillPath::kWgmma, shared, d < 1.0);
        bench_prefill(T, d, 1000 + T, false, seer::cuda::PrefillPath::kMmaSync, shared);
      }
  if (!decode_only)
    for (int T : {8192, 32768}) bench_prefill(T, 1.0, 1000 + T, /*with_gt=*/true);  // training forward
  for (int batch : {1, 16})
    for (int L : {32768, 131072}) {
      if (quick && L > 32768) continue;
      for (double d : {0.1, 1.0}) bench_decode(batch, L, d, 7 + batch + L);
    }
  if (decode_only) return 0;
  for (int T : lens) bench_gate_prefill(T);
  for (int batch : {1, 16}) bench_gate_decode(batch, quick ? 32768 : 131072);
  return 0;
}
