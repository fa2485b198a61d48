// The transformer forward on the GPU; see cuda_forward.h. Without SEER_HAVE_CUDA every entry point
// reports that this build has no CUDA backend.
#include "model/cuda_forward.h"

#include <seer/attention.h>
#include <seer/gates.h>
#include <seer/generate.h>

#ifdef SEER_HAVE_CUDA

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <new>
#include <string_view>

#include "core/thread_pool.h"
#include "kernels/cpu/ops.h"
#include "kernels/cuda/block_max_pool.cuh"
#include "kernels/cuda/check.h"
#include "kernels/cuda/model_ops.cuh"
#include "kernels/cuda/plan.cuh"
#include "kernels/cuda/sample.cuh"
#include "kernels/cuda/sparse_decode.cuh"
#include "kernels/cuda/sparse_prefill.cuh"
#include "model/cuda_gate.h"
#include "model/cuda_util.h"

namespace seer {

namespace {

using bf16 = __nv_bfloat16;
constexpr int kBlockSize = 64;
constexpr int64_t kFfnChunk = 8192;  // tokens per FFN chunk, bounds the [n, intermediate] buffers

struct DeviceLayer {
  DeviceBuffer attn_norm, ffn_norm, wq, wk, wv, wo, w_gate, w_up, w_down, bq, bk, bv, q_norm, k_norm;
  DeviceBuffer k_cache, v_cache;  // bf16 [num_kv_heads, max_context, head_dim]
};

}  // namespace

struct CudaForward::Impl {
  ModelConfig cfg;
  int max_context = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  std::vector<DeviceLayer> layers;
  DeviceBuffer tok_embd, output, out_norm;  // output aliases tok_embd when tied (empty here)
  bool tied = false;
  size_t weight_bytes = 0, cache_bytes = 0;
  std::vector<float> inv_freq;
  float rope_scale = 1.0f;
  // Scratch
  DeviceBuffer x, h, q, k, v, attn, g, u, cos_t, sin_t, tokens, logits, kv_len_dev;
  DeviceBuffer qf;  // decode with gates: the folded gate query [n, Hkv * dg] (CudaGates::fold_query)
  DeviceBuffer dense_offsets, dense_indices, sel_offsets, sel_indices, partial;
  DeviceBuffer block_max, gt_pool, gt_group, gt_rows;  // gate training's ground truth (reduce_ground_truth)
  std::vector<float> host_cos, host_sin, host_q, host_k;
  std::vector<uint16_t> host_bf16;
  // For policies that read the KV cache (quest: AttentionPolicy::needs_kv_cache): each layer's
  // post-RoPE K cache mirrored on the host, fp32 [Hkv, max_context, d] (allocated on first use), valid
  // for positions [0, host_kc_len[l]); and this layer's post-RoPE q, fp32 [n, Hq, d].
  std::vector<std::vector<float>> host_kc;
  std::vector<int> host_kc_len;
  std::vector<float> host_q_rope;
  // For a policy that ranks blocks by the layer's own attention (AttentionPolicy::scores_from_attention):
  // this layer's block statistics, reduced on the device, fp32: prefill [Hq, q_rows, nb] (the 2-D pool
  // over each query block's rows), decode [Hkv, nb] (the GQA group's pool at the one query).
  std::vector<float> host_scores;
  std::vector<int> positions;
  int32_t host_kv_len = 0;
  int num_sms = 0, decode_ctas_per_sm = 0;  // the decode split plan's device facts, queried once
  // One-token forwards as a CUDA graph: a step's launches (about a dozen per layer) depend on the host
  // only through the block count, the gates, the density and the buffers' addresses (GraphKey); the
  // token, its position and its RoPE rows reach the kernels through device buffers. The first step of
  // a key runs eagerly (it sizes the buffers), the second is captured, the others replay it.
  struct GraphKey {
    int blocks = -1;
    const void* gates = nullptr;
    uint64_t epoch = 0;
    int which = -1;
    double density = 0.0;
    uint64_t seed = 0;
    bool operator==(const GraphKey&) const = default;
  };
  bool use_graphs = true;
  cudaGraphExec_t graph_exec = nullptr;
  GraphKey graph_key, seen_key;   // the captured step's; the last eager step's
  std::vector<char> graph_sparse;  // the captured step's per-layer gate sparsity
  int64_t graph_replays = 0;
  double fixed_density = 1.0;
  uint64_t fixed_seed = 0;
  BlockSelection dense_sel, sel;
  // The learned gates on the device, for the policy that offers them (AttentionPolicy::device_gates).
  int last_logits_rows = 0;  // rows of `logits` the last forward left (sample_last reads the last)
  DeviceBuffer sampled;       // int32 [1]
  DeviceBuffer nll_targets, nll_out;  // token_nll: int32 [k] targets, fp64 [k] values
  int32_t host_token = 0;
  std::unique_ptr<CudaGates> gates;
  const DeviceGateSpec* gates_spec = nullptr;
  int gates_len = -1;  // tokens the gates' state holds (-1: none / stale)
  std::vector<LayerDensity> gate_counts;

  Status use_gates(const DeviceGateSpec* spec) {
    if (spec == gates_spec) return Status::ok();
    gates.reset();
    gates_spec = nullptr;
    gates_len = -1;  // new gates hold no statistics of the sequence so far
    if (spec->options.block_size != kBlockSize)
      return Status::error("--device cuda: the gates' block size is {}, the GPU session runs {}", spec->options.block_size,
                           kBlockSize);
    SEER_ASSIGN_OR_RETURN(gates, CudaGates::create(*spec, cfg, max_context, 1, blas, stream));
    // The fold (q = Wq x + bq, no q norm) trades the step's projection, a chain of dependent reads (H200:
    // the step 13.2 -> 11.2 us at one sequence of 128k), for the folded weight's bytes in the Q/K/V product:
    // a gain while they are few (SmolLM2: 0.2 MiB a layer, decode at 32k 748 -> 777 tokens/s), a loss at
    // Llama-3.1-8B's 8 MiB (171 -> 169 tokens/s; docs/BENCHMARKS.md §3a).
    constexpr size_t kFoldMaxBytes = size_t(2) << 20;
    const size_t fold_bytes =
        spec->decode ? size_t(cfg.num_kv_heads) * spec->decode->config.hidden_size * cfg.hidden_size * sizeof(bf16) : 0;
    if (spec->decode && spec->options.gate_fold_query && !cfg.qk_norm && fold_bytes <= kFoldMaxBytes)
      for (int l = 0; l < cfg.num_layers; ++l)
        SEER_RETURN_IF_ERROR(gates->fold_query(l, layers[size_t(l)].wq.as<bf16>(), layers[size_t(l)].bq.as<float>()));
    gates_spec = spec;
    return Status::ok();
  }

  // The device view of a host selection (uploaded to `offsets` / `indices`).
  static DeviceSelection device_view(const BlockSelection& s, const DeviceBuffer& offsets, const DeviceBuffer& indices) {
    DeviceSelection d;
    d.offsets = offsets.as<int32_t>();
    d.indices = indices.as<int32_t>();
    d.per_kv_head = s.per_kv_head;
    d.first_q_block = s.first_q_block;
    d.num_rows = s.num_rows;
    for (size_t r = 0; r + 1 < s.offsets.size(); ++r)
      d.max_row_blocks = std::max(d.max_row_blocks, s.offsets[r + 1] - s.offsets[r]);
    return d;
  }

  ~Impl() {
    if (graph_exec) cudaGraphExecDestroy(graph_exec);
    if (blas) cublasDestroy(blas);
    if (stream) cudaStreamDestroy(stream);
  }

  // `weights`: the bytes the weights will take on the device. Refused before anything is allocated:
  // a head_dim the kernels lack, or a model and KV cache larger than the GPU's free memory (which
  // otherwise failed minutes into the upload, naming one buffer).
  Status init(const ModelConfig& c, int ctx, size_t weights) {
    cfg = c;
    max_context = ctx;
    const char* graphs_env = std::getenv("SEER_CUDA_GRAPHS");
    use_graphs = !(graphs_env && std::string_view(graphs_env) == "0");
    SEER_RETURN_IF_ERROR(available());
    if (c.head_dim != 64 && c.head_dim != 128)
      return Status::error("--device cuda: head_dim {} is not supported by the GPU attention kernels (64 or 128)",
                           c.head_dim);
    {
      const double gib = double(1 << 30);
      const size_t kv = 2 * size_t(c.num_layers) * c.num_kv_heads * size_t(ctx) * c.head_dim * sizeof(bf16);
      const size_t reserve = size_t(1) << 30;  // activations, logits, workspaces of a prompt chunk
      size_t free_b = 0, total_b = 0;
      SEER_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
      if (kv + weights + reserve > free_b)
        return Status::error("--device cuda: the model needs about {:.1f} GiB of GPU memory (weights {:.1f} GiB in bf16, "
                             "a KV cache of {} tokens {:.1f} GiB, 1 GiB of work space), and the GPU has {:.1f} GiB "
                             "free of {:.1f}; pass a smaller context (-c)",
                             double(kv + weights + reserve) / gib, double(weights) / gib, ctx, double(kv) / gib,
                             double(free_b) / gib, double(total_b) / gib);
    }
    SEER_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    SEER_CUBLAS_CHECK(cublasCreate(&blas));
    SEER_CUBLAS_CHECK(cublasSetStream(blas, stream));
    inv_freq = rope_inv_freq(c, &rope_scale);
    int device = 0;
    SEER_CUDA_CHECK(cudaGetDevice(&device));
    SEER_CUDA_CHECK(cudaDeviceGetAttribute(&num_sms, cudaDevAttrMultiProcessorCount, device));
    if (c.head_dim == 64 || c.head_dim == 128)
      SEER_CUDA_CHECK(cuda::sparse_decode_ctas_per_sm(cuda::DType::kBF16, c.head_dim, &decode_ctas_per_sm));
    layers = std::vector<DeviceLayer>(size_t(c.num_layers));
    const size_t per_layer = size_t(c.num_kv_heads) * ctx * c.head_dim * sizeof(bf16);
    for (DeviceLayer& L : layers) {
      SEER_RETURN_IF_ERROR(L.k_cache.reserve(per_layer, "the K cache"));
      SEER_RETURN_IF_ERROR(L.v_cache.reserve(per_layer, "the V cache"));
      cache_bytes += 2 * per_layer;
    }
    return Status::ok();
  }

  // Weight upload: any dtype -> bf16 rows on the host -> device.
  Status upload_matrix(const Weight& w, DeviceBuffer* dst, const std::string& what) {
    const size_t n = size_t(w.rows) * w.cols;
    SEER_RETURN_IF_ERROR(dst->reserve(n * sizeof(bf16), what.c_str()));
    host_bf16.resize(n);
    std::vector<float> row(size_t(w.cols));
    for (int64_t r = 0; r < w.rows; ++r) {
      dequantize_row(w.dtype, w.row(r), row.data(), w.cols);
      for (int64_t c = 0; c < w.cols; ++c) host_bf16[size_t(r * w.cols + c)] = fp32_to_bf16(row[size_t(c)]);
    }
    if (cudaMemcpy(dst->ptr, host_bf16.data(), n * sizeof(bf16), cudaMemcpyHostToDevice) != cudaSuccess)
      return Status::error("GPU: cannot copy {} ({} MiB) to the device: {}", what, (n * sizeof(bf16)) >> 20,
                           cudaGetErrorString(cudaGetLastError()));
    weight_bytes += n * sizeof(bf16);
    return Status::ok();
  }
  Status upload_vector(const Weight& w, DeviceBuffer* dst, const std::string& what) {
    if (w.empty()) return Status::ok();
    const size_t n = size_t(w.rows) * w.cols;
    SEER_RETURN_IF_ERROR(dst->reserve(n * sizeof(float), what.c_str()));
    if (cudaMemcpy(dst->ptr, w.f32(), n * sizeof(float), cudaMemcpyHostToDevice) != cudaSuccess)
      return Status::error("GPU: cannot copy {} to the device: {}", what, cudaGetErrorString(cudaGetLastError()));
    weight_bytes += n * sizeof(float);
    return Status::ok();
  }

  Status random_matrix(DeviceBuffer* dst, int64_t rows, int64_t cols, uint64_t seed, const char* what) {
    SEER_RETURN_IF_ERROR(dst->reserve(size_t(rows * cols) * sizeof(bf16), what));
    SEER_CUDA_CHECK(cuda::run_fill_uniform(dst->as<bf16>(), rows * cols, 1.0f / std::sqrt(float(cols)), seed, stream));
    weight_bytes += size_t(rows * cols) * sizeof(bf16);
    return Status::ok();
  }
  Status ones(DeviceBuffer* dst, int64_t n, const char* what) {
    SEER_RETURN_IF_ERROR(dst->reserve(size_t(n) * sizeof(float), what));
    std::vector<float> one(size_t(n), 1.0f);
    SEER_CUDA_CHECK(cudaMemcpy(dst->ptr, one.data(), one.size() * sizeof(float), cudaMemcpyHostToDevice));
    weight_bytes += size_t(n) * sizeof(float);
    return Status::ok();
  }

  const bf16* output_weight() const { return (tied ? tok_embd : output).as<bf16>(); }

  // Y[n, out] = X[n, in] · W[out, in]ᵀ. bf16 Y (overwritten), or fp32 Y with accumulate (Y += ...).
  // A few tokens (decode) take the warp-per-row GEMV kernels: cuBLAS's host cost per call (~16 us on
  // the H200 machine) was most of a decode step.
  static bool gemv_fits(int64_t n, int64_t in, std::initializer_list<const void*> ptrs) {
    uintptr_t bits = 0;
    for (const void* p : ptrs) bits |= reinterpret_cast<uintptr_t>(p);
    return n <= cuda::kGemvMaxTokens && in % 8 == 0 && bits % 16 == 0;
  }

  Status gemm(const bf16* W, const bf16* X, void* Y, int64_t out, int64_t n, int64_t in, bool accumulate_fp32) {
    if (gemv_fits(n, in, {W, X})) {
      SEER_CUDA_CHECK(accumulate_fp32
                          ? cuda::run_gemv_add(W, X, static_cast<float*>(Y), n, int(out), int(in), stream)
                          : cuda::run_gemv(W, X, static_cast<bf16*>(Y), n, int(out), int(in), stream));
      return Status::ok();
    }
    const float alpha = 1.0f, beta = accumulate_fp32 ? 1.0f : 0.0f;
    SEER_CUBLAS_CHECK(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, int(out), int(n), int(in), &alpha, W, CUDA_R_16BF,
                                   int(in), X, CUDA_R_16BF, int(in), &beta, Y,
                                   accumulate_fp32 ? CUDA_R_32F : CUDA_R_16BF, int(out), CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT));
    return Status::ok();
  }

  Status upload_selection(const BlockSelection& s, DeviceBuffer* offsets, DeviceBuffer* indices) {
    SEER_RETURN_IF_ERROR(offsets->reserve(s.offsets.size() * sizeof(int32_t), "selection offsets"));
    SEER_RETURN_IF_ERROR(indices->reserve(std::max<size_t>(1, s.indices.size()) * sizeof(int32_t), "selection indices"));
    SEER_CUDA_CHECK(cudaMemcpyAsync(offsets->ptr, s.offsets.data(), s.offsets.size() * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, stream));
    if (!s.indices.empty())
      SEER_CUDA_CHECK(cudaMemcpyAsync(indices->ptr, s.indices.data(), s.indices.size() * sizeof(int32_t),
                                      cudaMemcpyHostToDevice, stream));
    // The host vectors may change before the copy runs (the next layer's selection).
    SEER_CUDA_CHECK(cudaStreamSynchronize(stream));
    return Status::ok();
  }

  // bf16 -> fp32 of `count` contiguous values on the host, in chunks on `pool`'s threads when given (a
  // prefill's q of SmolLM2 at 8k is 4.7M values a layer).
  static void widen(const uint16_t* src, float* dst, size_t count, ThreadPool* pool) {
    constexpr size_t kChunk = size_t(1) << 16;
    const auto convert = [&](int64_t c, int) {
      const size_t end = std::min(count, size_t(c + 1) * kChunk);
      for (size_t i = size_t(c) * kChunk; i < end; ++i) dst[i] = bf16_to_fp32(src[i]);
    };
    const int64_t chunks = int64_t((count + kChunk - 1) / kChunk);
    if (pool && chunks > 1)
      pool->parallel_for(chunks, convert);
    else
      for (int64_t c = 0; c < chunks; ++c) convert(c, 0);
  }

  // bf16 [rows, dim] on the device -> fp32 on the host.
  Status download_f32(const bf16* src, size_t count, std::vector<float>* dst, ThreadPool* pool) {
    host_bf16.resize(count);
    SEER_CUDA_CHECK(cudaMemcpyAsync(host_bf16.data(), src, count * sizeof(bf16), cudaMemcpyDeviceToHost, stream));
    SEER_CUDA_CHECK(cudaStreamSynchronize(stream));
    dst->resize(count);
    widen(host_bf16.data(), dst->data(), count, pool);
    return Status::ok();
  }

  // Brings layer l's host mirror of the K cache up to kv_len: the rows from min(start, what it held) are
  // copied from the device cache (bf16 [Hkv, max_context, d]) and widened on `pool`'s threads.
  Status mirror_k_cache(int l, const DeviceBuffer& k_cache, int start, int kv_len, ThreadPool* pool) {
    const int Hkv = cfg.num_kv_heads, d = cfg.head_dim;
    std::vector<float>& kc = host_kc[size_t(l)];
    if (kc.empty()) {
      const size_t count = size_t(Hkv) * max_context * d;
      try {
        kc.resize(count);
      } catch (const std::bad_alloc&) {
        return Status::error("out of host memory for layer {}'s copy of the K cache ({:.1f} GB a layer at context {}) "
                             "that the attention policy reads; use a shorter context",
                             l, double(count) * sizeof(float) / 1e9, max_context);
      }
    }
    const int lo = std::min(start, host_kc_len[size_t(l)]), rows = kv_len - lo;
    host_bf16.resize(size_t(Hkv) * rows * d);
    SEER_CUDA_CHECK(cudaMemcpy2DAsync(host_bf16.data(), size_t(rows) * d * sizeof(bf16),
                                      k_cache.as<bf16>() + int64_t(lo) * d, size_t(max_context) * d * sizeof(bf16),
                                      size_t(rows) * d * sizeof(bf16), size_t(Hkv), cudaMemcpyDeviceToHost, stream));
    SEER_CUDA_CHECK(cudaStreamSynchronize(stream));
    for (int h = 0; h < Hkv; ++h)
      widen(host_bf16.data() + size_t(h) * rows * d, kc.data() + (size_t(h) * max_context + lo) * d,
            size_t(rows) * d, pool);
    host_kc_len[size_t(l)] = kv_len;
    return Status::ok();
  }

  // Gate training's ground truth (GroundTruthRequest): the prefill kernel's block maxima stay on the
  // device ([n, Hq, nb] fp32, `block_max`); the pooling kernels reduce them into `gt_pool` / `gt_group`
  // and only those go back to the policy's buffers (an 8k row of SmolLM2 with 512 sampled decode rows:
  // 0.6 + 0.8 MB a layer instead of 38 MB).
  // (`block_max` is sized before the attention kernel writes it.)
  Status reduce_ground_truth(const GroundTruthRequest& gt, int n, int kv_len) {
    const size_t nb = size_t(kv_len + kBlockSize - 1) / kBlockSize;
    const size_t q_blocks = size_t((kv_len - 1) / kBlockSize - (kv_len - n) / kBlockSize + 1);
    const size_t pool_bytes = size_t(cfg.num_qo_heads) * q_blocks * nb * sizeof(float);
    const size_t group_bytes = gt.rows.size() * cfg.num_kv_heads * nb * sizeof(float);
    cuda::BlockMaxPoolParams p;
    p.in = block_max.as<float>();
    p.qo_len = n;
    p.kv_len = kv_len;
    p.num_qo_heads = cfg.num_qo_heads;
    p.num_kv_heads = cfg.num_kv_heads;
    if (gt.pool_2d) {
      SEER_RETURN_IF_ERROR(gt_pool.reserve(pool_bytes, "2-D ground truth"));
      p.out = gt_pool.as<float>();
      SEER_RETURN_IF_ERROR(cuda::launch_block_max_pool_2d(p, stream));
      SEER_CUDA_CHECK(cudaMemcpyAsync(gt.pool_2d, gt_pool.ptr, pool_bytes, cudaMemcpyDeviceToHost, stream));
    }
    if (gt.group_max && !gt.rows.empty()) {
      for (const int r : gt.rows)
        if (r < 0 || r >= n) return Status::error("ground truth: row {} is outside the forward's {} queries", r, n);
      SEER_RETURN_IF_ERROR(gt_group.reserve(group_bytes, "1-D ground truth"));
      SEER_RETURN_IF_ERROR(gt_rows.reserve(gt.rows.size() * sizeof(int32_t), "ground-truth rows"));
      SEER_CUDA_CHECK(cudaMemcpyAsync(gt_rows.ptr, gt.rows.data(), gt.rows.size() * sizeof(int32_t),
                                      cudaMemcpyHostToDevice, stream));
      p.out = gt_group.as<float>();
      p.rows = gt_rows.as<int32_t>();
      p.num_rows = int(gt.rows.size());
      p.group_sum = gt.group == GroupPool::kSum;
      SEER_RETURN_IF_ERROR(cuda::launch_block_max_group_max(p, stream));
      SEER_CUDA_CHECK(cudaMemcpyAsync(gt.group_max, gt_group.ptr, group_bytes, cudaMemcpyDeviceToHost, stream));
    }
    SEER_CUDA_CHECK(cudaStreamSynchronize(stream));
    return Status::ok();
  }

  Status forward(std::span<const int> toks, int start, Logits which, AttentionPolicy* policy, ThreadPool* pool,
                 std::vector<float>* out);

  // Runs `enqueue` (a one-token forward's launches) as the graph of `key`: replays it, or captures it
  // on the second step of a key (the first runs eagerly). A capture the driver refuses turns graphs off
  // for the session and the step runs eagerly.
  template <typename Enqueue>
  Status run_as_graph(const GraphKey& key, Enqueue&& enqueue, std::vector<char>* gate_sparse) {
    if (graph_exec && key == graph_key) {
      SEER_CUDA_CHECK(cudaGraphLaunch(graph_exec, stream));
      *gate_sparse = graph_sparse;
      ++graph_replays;
      return Status::ok();
    }
    if (!(key == seen_key)) {  // a new shape: eagerly, sizing the buffers
      seen_key = key;
      return enqueue();
    }
    cudaGraph_t graph = nullptr;
    SEER_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
    const Status st = enqueue();
    const cudaError_t end = cudaStreamEndCapture(stream, &graph);
    if (!st.is_ok()) {
      if (graph) cudaGraphDestroy(graph);
      return st;
    }
    if (end != cudaSuccess || !graph) {  // (nothing ran: the launches were only recorded)
      cudaGetLastError();
      use_graphs = false;
      return enqueue();
    }
    // A new key re-instantiates rather than trying cudaGraphExecUpdate: the split count (and with it
    // the merge launch) changes with the block count, an update then fails, and a failed update is an
    // API error that compute-sanitizer reports. Instantiation is once per 64 tokens.
    if (graph_exec) cudaGraphExecDestroy(graph_exec);
    graph_exec = nullptr;
    cudaError_t err = cudaGraphInstantiate(&graph_exec, graph, 0);
    cudaGraphDestroy(graph);
    if (err != cudaSuccess) {
      cudaGetLastError();
      graph_exec = nullptr;
      use_graphs = false;
      return enqueue();
    }
    graph_key = key;
    graph_sparse = *gate_sparse;
    SEER_CUDA_CHECK(cudaGraphLaunch(graph_exec, stream));
    ++graph_replays;
    return Status::ok();
  }

  // set_fixed_density(): sink + own block + random others, ceil(rho * causal) per row.
  void thin_selection(BlockSelection* s) {
    std::vector<int32_t> offsets(1, 0), indices;
    uint64_t state = fixed_seed * 0x9E3779B97F4A7C15ull + 1;
    auto next = [&state] {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;
      return state;
    };
    std::vector<int32_t> others;
    for (int row = 0; row < s->num_heads * s->num_rows; ++row) {
      const int qb = s->first_q_block + row % s->num_rows;
      const int keep = std::max(1, int(std::ceil(fixed_density * (qb + 1))));
      others.clear();
      for (int j = 1; j < qb; ++j) others.push_back(j);
      for (size_t i = others.size(); i > 1; --i) std::swap(others[i - 1], others[next() % i]);
      others.resize(size_t(std::clamp(keep - (qb > 0 ? 2 : 1), 0, int(others.size()))));
      others.push_back(0);
      if (qb > 0) others.push_back(qb);
      std::sort(others.begin(), others.end());
      indices.insert(indices.end(), others.begin(), others.end());
      offsets.push_back(int32_t(indices.size()));
    }
    s->offsets = std::move(offsets);
    s->indices = std::move(indices);
  }
};

Status CudaForward::Impl::forward(std::span<const int> toks, int start, Logits which, AttentionPolicy* policy,
                                  ThreadPool* pool, std::vector<float>* out) {
  const int64_t n = int64_t(toks.size());
  if (out) out->clear();
  last_logits_rows = 0;
  if (n == 0) return Status::ok();
  if (start < 0 || start + n > max_context)
    return Status::error("context is full: {} tokens in the cache + {} new > {} (the session's context)", start, n,
                         max_context);
  const int D = cfg.hidden_size, Hq = cfg.num_qo_heads, Hkv = cfg.num_kv_heads, d = cfg.head_dim;
  const int qdim = Hq * d, kvdim = Hkv * d, F = cfg.intermediate_size, V = cfg.vocab_size;
  const int kv_len = start + int(n);
  const int64_t fc = std::min(n, kFfnChunk);

  SEER_RETURN_IF_ERROR(x.reserve(size_t(n * D) * sizeof(float), "activations"));
  SEER_RETURN_IF_ERROR(h.reserve(size_t(n * std::max(D, qdim)) * sizeof(bf16), "activations"));
  SEER_RETURN_IF_ERROR(q.reserve(size_t(n * qdim) * sizeof(bf16), "activations"));
  SEER_RETURN_IF_ERROR(k.reserve(size_t(n * kvdim) * sizeof(bf16), "activations"));
  SEER_RETURN_IF_ERROR(v.reserve(size_t(n * kvdim) * sizeof(bf16), "activations"));
  SEER_RETURN_IF_ERROR(attn.reserve(size_t(n * qdim) * sizeof(bf16), "activations"));
  SEER_RETURN_IF_ERROR(g.reserve(size_t(fc * F) * sizeof(bf16), "FFN activations"));
  SEER_RETURN_IF_ERROR(u.reserve(size_t(fc * F) * sizeof(bf16), "FFN activations"));
  SEER_RETURN_IF_ERROR(cos_t.reserve(size_t(n * d / 2) * sizeof(float), "RoPE tables"));
  SEER_RETURN_IF_ERROR(sin_t.reserve(size_t(n * d / 2) * sizeof(float), "RoPE tables"));
  SEER_RETURN_IF_ERROR(tokens.reserve(size_t(n) * sizeof(int32_t), "token ids"));
  SEER_RETURN_IF_ERROR(kv_len_dev.reserve(sizeof(int32_t), "kv_len"));

  positions.resize(size_t(n));
  for (int64_t t = 0; t < n; ++t) positions[size_t(t)] = start + int(t);
  host_cos.resize(size_t(n * d / 2));
  host_sin.resize(size_t(n * d / 2));
  rope_tables(inv_freq, rope_scale, positions.data(), n, host_cos.data(), host_sin.data());
  SEER_CUDA_CHECK(cudaMemcpyAsync(cos_t.ptr, host_cos.data(), host_cos.size() * sizeof(float), cudaMemcpyHostToDevice, stream));
  SEER_CUDA_CHECK(cudaMemcpyAsync(sin_t.ptr, host_sin.data(), host_sin.size() * sizeof(float), cudaMemcpyHostToDevice, stream));
  SEER_CUDA_CHECK(cudaMemcpyAsync(tokens.ptr, toks.data(), size_t(n) * sizeof(int32_t), cudaMemcpyHostToDevice, stream));
  host_kv_len = kv_len;  // read by the copy below; the stream is synchronised before the next forward
  SEER_CUDA_CHECK(cudaMemcpyAsync(kv_len_dev.ptr, &host_kv_len, sizeof(int32_t), cudaMemcpyHostToDevice, stream));

  // Dense selection, shared by every layer: per KV head (the prefill kernel then serves two query
  // heads per K/V tile), except as the per-query-head starting point handed to a policy's select().
  const int first_qb = start / kBlockSize;
  const int q_rows = (kv_len - 1) / kBlockSize - first_qb + 1;
  const bool decode = n == 1;
  const DeviceGateSpec* spec = policy ? policy->device_gates() : nullptr;
  if (spec) {
    SEER_RETURN_IF_ERROR(use_gates(spec));
    if (start != 0 && start != gates_len)
      return Status::error("the GPU gates hold {} tokens of this sequence but the forward starts at {} (a sequence must "
                           "run with the gates from its first token)", std::max(gates_len, 0), start);
  }
  CudaGates* active = spec ? gates.get() : nullptr;  // this forward's gates
  gates_len = -1;  // until this forward has completed with them
  AttentionPolicy* host_policy = spec ? nullptr : policy;  // select() on the host
  // A policy that reads the KV cache gets a host mirror of it (mirror_k_cache); any other forward
  // rewrites the device cache from `start` on, which the mirrors no longer hold. (A policy that ranks
  // blocks by the attention itself, the oracle, gets those statistics instead: scores_from_attention below.)
  const bool mirror_kv = host_policy && host_policy->needs_kv_cache();
  if (host_kc.size() != size_t(cfg.num_layers)) {
    host_kc.assign(size_t(cfg.num_layers), {});
    host_kc_len.assign(size_t(cfg.num_layers), 0);
  }
  if (!mirror_kv)
    for (int& len : host_kc_len) len = std::min(len, start);
  if (decode || !host_policy)
    dense_sel.set_dense(Hkv, true, first_qb, q_rows, kBlockSize);
  else
    dense_sel.set_dense(Hq, false, first_qb, q_rows, kBlockSize);
  if (fixed_density < 1.0 && !policy) thin_selection(&dense_sel);
  SEER_RETURN_IF_ERROR(upload_selection(dense_sel, &dense_offsets, &dense_indices));
  const DeviceSelection dense_dev = device_view(dense_sel, dense_offsets, dense_indices);
  if (policy) policy->begin_forward(start, int(n));
  std::vector<char> gate_sparse(size_t(cfg.num_layers), 0);
  if (which != Logits::kNone)
    SEER_RETURN_IF_ERROR(logits.reserve(size_t((which == Logits::kLast ? 1 : n) * V) * sizeof(float), "logits"));

  // The prefill kernel's parameters for layer L over this forward's queries `qb` and selection `s`.
  auto prefill_params = [&](const DeviceLayer& L, const bf16* qb, bf16* out, const DeviceSelection& s) {
    cuda::SparsePrefillParams p;
    p.q = qb;
    p.k_cache = L.k_cache.ptr;
    p.v_cache = L.v_cache.ptr;
    p.out = out;
    p.row_offsets = s.offsets;
    p.block_indices = s.indices;
    p.qo_len = int(n);
    p.kv_len = kv_len;
    p.num_qo_heads = Hq;
    p.num_kv_heads = Hkv;
    p.head_dim = d;
    p.max_context = max_context;
    p.first_q_block = s.first_q_block;
    p.num_rows = s.num_rows;
    p.per_kv_head = s.per_kv_head;
    p.scale = 1.0f / std::sqrt(float(d));
    return p;
  };
  const int num_key_blocks = (kv_len + kBlockSize - 1) / kBlockSize;
  // The decode kernel's parameters for layer L over the one query `qb` and selection `s` (split plan and
  // workspace included; `stats`: room for the block statistics' per-head LSE also with one split).
  auto decode_params = [&](const DeviceLayer& L, const bf16* qb, bf16* out, const DeviceSelection& s, bool stats,
                           cuda::SparseDecodeParams* p) -> Status {
    p->q = qb;
    p->k_cache = L.k_cache.ptr;
    p->v_cache = L.v_cache.ptr;
    p->out = out;
    p->kv_len = kv_len_dev.as<int32_t>();
    p->row_offsets = s.offsets;
    p->block_indices = s.indices;
    p->row_counts = s.counts;
    p->row_stride = s.stride;
    p->batch_size = 1;
    p->num_qo_heads = Hq;
    p->num_kv_heads = Hkv;
    p->head_dim = d;
    p->max_context = max_context;
    p->scale = 1.0f / std::sqrt(float(d));
    p->num_splits = cuda::choose_decode_splits(Hkv, std::max(1, s.max_row_blocks), num_sms, decode_ctas_per_sm);
    const int64_t ws = cuda::sparse_decode_workspace_floats(1, Hq, d, p->num_splits, stats);
    SEER_RETURN_IF_ERROR(partial.reserve(size_t(std::max<int64_t>(ws, 1)) * sizeof(float), "decode workspace"));
    p->partial_o = partial.as<float>();
    p->partial_lse = partial.as<float>() + int64_t(Hq) * p->num_splits * d;
    return Status::ok();
  };

  // Every launch of the forward, on `stream` (captured as a graph for one-token steps).
  auto enqueue = [&]() -> Status {
    SEER_CUDA_CHECK(cuda::run_embed(tok_embd.as<bf16>(), tokens.as<int32_t>(), x.as<float>(), n, D, stream));
    bf16* hb = h.as<bf16>();
    bf16* qb = q.as<bf16>();
    bf16* kb = k.as<bf16>();
    bf16* vb = v.as<bf16>();
    for (int l = 0; l < cfg.num_layers; ++l) {
      DeviceLayer& L = layers[size_t(l)];
      SEER_CUDA_CHECK(cuda::run_rmsnorm(x.as<float>(), L.attn_norm.as<float>(), hb, n, D, cfg.rms_eps, stream));
      // The decode gate's query projection, folded into this product (CudaGates::fold_query): qf [n, fq].
      const bf16* wf = decode && active ? active->folded_query_weight(l) : nullptr;
      const int fq = wf ? active->folded_query_rows() : 0;
      if (wf) SEER_RETURN_IF_ERROR(qf.reserve(size_t(n) * fq * sizeof(bf16), "folded gate query"));
      if (gemv_fits(n, D, {hb, L.wq.ptr, L.wk.ptr, L.wv.ptr, wf})) {  // q, k, v (and qf) in one launch
        cuda::GemvParams gp;
        gp.x = hb;
        gp.n = n;
        gp.in = D;
        gp.parts = wf ? 4 : 3;
        gp.w[0] = L.wq.as<bf16>(), gp.w[1] = L.wk.as<bf16>(), gp.w[2] = L.wv.as<bf16>(), gp.w[3] = wf;
        gp.y[0] = qb, gp.y[1] = kb, gp.y[2] = vb, gp.y[3] = qf.ptr;
        gp.out[0] = qdim, gp.out[1] = kvdim, gp.out[2] = kvdim, gp.out[3] = fq;
        SEER_CUDA_CHECK(cuda::run_gemv_parts(gp, stream));
      } else {
        SEER_RETURN_IF_ERROR(gemm(L.wq.as<bf16>(), hb, qb, qdim, n, D, false));
        SEER_RETURN_IF_ERROR(gemm(L.wk.as<bf16>(), hb, kb, kvdim, n, D, false));
        SEER_RETURN_IF_ERROR(gemm(L.wv.as<bf16>(), hb, vb, kvdim, n, D, false));
        if (wf) SEER_RETURN_IF_ERROR(gemm(wf, hb, qf.ptr, fq, n, D, false));
      }
      if (L.bq.ptr) SEER_CUDA_CHECK(cuda::run_add_bias(qb, L.bq.as<float>(), n, qdim, stream));
      if (L.bk.ptr) SEER_CUDA_CHECK(cuda::run_add_bias(kb, L.bk.as<float>(), n, kvdim, stream));
      if (L.bv.ptr) SEER_CUDA_CHECK(cuda::run_add_bias(vb, L.bv.as<float>(), n, kvdim, stream));
      if (L.q_norm.ptr)
        SEER_CUDA_CHECK(cuda::run_rmsnorm(qb, L.q_norm.as<float>(), qb, n * Hq, d, cfg.rms_eps, stream));
      if (L.k_norm.ptr)
        SEER_CUDA_CHECK(cuda::run_rmsnorm(kb, L.k_norm.as<float>(), kb, n * Hkv, d, cfg.rms_eps, stream));

      DeviceSelection use = dense_dev;
      bool roped = false;  // the gates' pooling pass applied the RoPE
      AttentionContext ctx = AttentionContext::shape(l, int(n), kv_len, Hq, Hkv, d, max_context);
      GroundTruthRequest gt;  // a training policy's ground truth (prefill only)
      bool want_gt = false;
      if (active) {
        DeviceSelection gs;
        bool sparse = false;
        if (decode)
          SEER_RETURN_IF_ERROR(active->decode(l, qb, kb, kv_len_dev.as<int32_t>(), kv_len, &gs, &sparse,
                                              wf ? qf.as<bf16>() : nullptr));
        else
          SEER_RETURN_IF_ERROR(active->prefill_and_rope(l, 0, qb, kb, int(n), start, cos_t.as<float>(),
                                                        sin_t.as<float>(), &gs, &sparse));
        roped = !decode;
        if (sparse) use = gs;
        gate_sparse[size_t(l)] = sparse;
      }
      if (host_policy) ctx.pool = pool;
      if (host_policy && host_policy->needs_pre_rope_qk()) {  // the RoPE and the cache update below do not depend on it
        SEER_RETURN_IF_ERROR(download_f32(qb, size_t(n * qdim), &host_q, pool));
        SEER_RETURN_IF_ERROR(download_f32(kb, size_t(n * kvdim), &host_k, pool));
        ctx.q_nope = host_q.data();
        ctx.k_nope = host_k.data();
      }
      if (!roped) {
        SEER_CUDA_CHECK(cuda::run_rope(qb, cos_t.as<float>(), sin_t.as<float>(), n, Hq, d, stream));
        SEER_CUDA_CHECK(cuda::run_rope(kb, cos_t.as<float>(), sin_t.as<float>(), n, Hkv, d, stream));
      }
      SEER_CUDA_CHECK(cuda::run_kv_append(kb, vb, L.k_cache.as<bf16>(), L.v_cache.as<bf16>(), n, Hkv, d, max_context,
                                          start, decode ? kv_len_dev.as<int32_t>() : nullptr, stream));
      if (host_policy) {
        GroundTruthRequest want;  // the statistic and group pool of a policy that ranks by the attention
        if (host_policy->scores_from_attention(ctx, &want)) {
          // The layer's block statistics from a dense pass (its output is overwritten by the attention below).
          if (want.block_size != kBlockSize)
            return Status::error("--device cuda: the attention kernel gives block statistics per {} keys, the policy "
                                 "'{}' asks for {} (use --block-size {})",
                                 kBlockSize, host_policy->name(), want.block_size, kBlockSize);
          SEER_RETURN_IF_ERROR(block_max.reserve(size_t(n) * Hq * num_key_blocks * sizeof(float), "block statistics"));
          if (decode && Hq / Hkv <= 16) {  // the split decode kernel over every block, with the group's statistics
            cuda::SparseDecodeParams p;
            SEER_RETURN_IF_ERROR(decode_params(L, qb, attn.as<bf16>(), dense_dev, true, &p));
            SEER_RETURN_IF_ERROR(gt_group.reserve(size_t(Hkv) * num_key_blocks * sizeof(float), "block statistics"));
            p.block_logit = block_max.as<float>();
            p.block_stat = gt_group.as<float>();
            p.stat_stride = num_key_blocks;
            p.block_mass = want.stat == BlockStat::kMass;
            p.group_sum = want.group == GroupPool::kSum;
            SEER_RETURN_IF_ERROR(cuda::launch_sparse_decode(p, stream).with_context(fmt::format("layer {} scores", l)));
            host_scores.resize(size_t(Hkv) * num_key_blocks);
            SEER_CUDA_CHECK(cudaMemcpyAsync(host_scores.data(), gt_group.ptr, host_scores.size() * sizeof(float),
                                            cudaMemcpyDeviceToHost, stream));
            SEER_CUDA_CHECK(cudaStreamSynchronize(stream));
          } else {  // a dense prefill pass with the block maxima (prefill, or decode with a group over 16 heads)
            cuda::SparsePrefillParams p = prefill_params(L, qb, attn.as<bf16>(), dense_dev);
            p.block_max = block_max.as<float>();
            p.block_mass = want.stat == BlockStat::kMass;
            SEER_RETURN_IF_ERROR(cuda::launch_sparse_prefill(p, stream).with_context(fmt::format("layer {} scores", l)));
            GroundTruthRequest r;  // the request's statistic and pool, into host_scores
            r.stat = want.stat;
            r.group = want.group;
            const int row = 0;  // decode: the forward's one query
            if (decode) {
              host_scores.resize(size_t(Hkv) * num_key_blocks);
              r.group_max = host_scores.data();
              r.rows = std::span<const int>(&row, 1);
            } else {
              host_scores.resize(size_t(Hq) * q_rows * num_key_blocks);
              r.pool_2d = host_scores.data();
            }
            SEER_RETURN_IF_ERROR(reduce_ground_truth(r, int(n), kv_len).with_context(fmt::format("layer {} scores", l)));
          }
          ctx.block_scores = host_scores.data();
        }
        if (mirror_kv) {  // post-RoPE q and the K cache through this forward's tokens (V is not read)
          SEER_RETURN_IF_ERROR(download_f32(qb, size_t(n * qdim), &host_q_rope, pool));
          SEER_RETURN_IF_ERROR(mirror_k_cache(l, L.k_cache, start, kv_len, pool));
          ctx.q = host_q_rope.data();
          ctx.k_cache = host_kc[size_t(l)].data();
        }
        sel = dense_sel;
        SEER_RETURN_IF_ERROR(host_policy->select(ctx, &sel).with_context(fmt::format("layer {}", l)));
        if (sel.block_size != kBlockSize)
          return Status::error("--device cuda: the policy '{}' selected blocks of {} keys, the GPU kernels take {} "
                               "(use --block-size {})",
                               host_policy->name(), sel.block_size, kBlockSize, kBlockSize);
        SEER_RETURN_IF_ERROR(upload_selection(sel, &sel_offsets, &sel_indices));
        use = device_view(sel, sel_offsets, sel_indices);
        want_gt = n > 1 && host_policy->ground_truth(ctx, &gt);
        if (want_gt && gt.block_size != kBlockSize)
          return Status::error("--device cuda: the attention kernel gives block maxima per {} keys, the policy "
                               "asks for {} (use --block-size {})",
                               kBlockSize, gt.block_size, kBlockSize);
      }
      if (want_gt)
        SEER_RETURN_IF_ERROR(block_max.reserve(
            size_t(n) * Hq * num_key_blocks * sizeof(float), "block maxima"));


      bf16* ab = attn.as<bf16>();
      if (decode && use.per_kv_head && Hq / Hkv <= 16) {
        cuda::SparseDecodeParams p;
        SEER_RETURN_IF_ERROR(decode_params(L, qb, ab, use, false, &p));
        SEER_RETURN_IF_ERROR(cuda::launch_sparse_decode(p, stream).with_context(fmt::format("layer {}", l)));
      } else {
        cuda::SparsePrefillParams p = prefill_params(L, qb, ab, use);
        p.block_max = want_gt ? block_max.as<float>() : nullptr;
        p.block_mass = want_gt && gt.stat == BlockStat::kMass;
        SEER_RETURN_IF_ERROR(cuda::launch_sparse_prefill(p, stream).with_context(fmt::format("layer {}", l)));
      }
      if (want_gt) {
        SEER_RETURN_IF_ERROR(reduce_ground_truth(gt, int(n), kv_len));
        SEER_RETURN_IF_ERROR(host_policy->after_attention(ctx).with_context(fmt::format("layer {}", l)));
      }
      SEER_RETURN_IF_ERROR(gemm(L.wo.as<bf16>(), ab, x.ptr, D, n, qdim, true));

      SEER_CUDA_CHECK(cuda::run_rmsnorm(x.as<float>(), L.ffn_norm.as<float>(), hb, n, D, cfg.rms_eps, stream));
      for (int64_t t0 = 0; t0 < n; t0 += kFfnChunk) {
        const int64_t m = std::min(kFfnChunk, n - t0);
        if (gemv_fits(m, D, {hb + t0 * D, L.w_gate.ptr, L.w_up.ptr})) {  // gate, up and SwiGLU in one launch
          SEER_CUDA_CHECK(cuda::run_gemv_swiglu(L.w_gate.as<bf16>(), L.w_up.as<bf16>(), hb + t0 * D, g.as<bf16>(), m,
                                                F, D, stream));
        } else {
          SEER_RETURN_IF_ERROR(gemm(L.w_gate.as<bf16>(), hb + t0 * D, g.ptr, F, m, D, false));
          SEER_RETURN_IF_ERROR(gemm(L.w_up.as<bf16>(), hb + t0 * D, u.ptr, F, m, D, false));
          SEER_CUDA_CHECK(cuda::run_silu_mul(g.as<bf16>(), u.as<bf16>(), m, F, stream));
        }
        SEER_RETURN_IF_ERROR(gemm(L.w_down.as<bf16>(), g.as<bf16>(), x.as<float>() + t0 * D, D, m, F, true));
      }
    }

    if (which != Logits::kNone) {
      const int64_t first = which == Logits::kLast ? n - 1 : 0;
      const int64_t rows = n - first;
      SEER_CUDA_CHECK(
          cuda::run_rmsnorm(x.as<float>() + first * D, out_norm.as<float>(), hb, rows, D, cfg.rms_eps, stream));
      // fp32 logits: accumulate into zeros.
      SEER_CUDA_CHECK(cudaMemsetAsync(logits.ptr, 0, size_t(rows * V) * sizeof(float), stream));
      SEER_RETURN_IF_ERROR(gemm(output_weight(), hb, logits.ptr, V, rows, D, true));
    }
    return Status::ok();
  };  // enqueue

  // A group of more than 16 query heads decodes through the prefill kernel, whose kv_len is a launch
  // argument (and, on Hopper, part of its TMA map): a replay would keep the captured step's length, so
  // such models decode kernel by kernel.
  const bool graph_safe = cfg.num_qo_heads / cfg.num_kv_heads <= 16;
  if (use_graphs && decode && !host_policy && graph_safe && !cuda::sync_debug_enabled()) {
    const GraphKey key{num_key_blocks, active, device_buffer_epoch, int(which),
                       fixed_density, fixed_seed};
    SEER_RETURN_IF_ERROR(run_as_graph(key, enqueue, &gate_sparse));
  } else {
    SEER_RETURN_IF_ERROR(enqueue());
  }
  if (which != Logits::kNone) {
    const int64_t rows = which == Logits::kLast ? 1 : n;
    if (out) {
      out->resize(size_t(rows * V));
      SEER_CUDA_CHECK(cudaMemcpyAsync(out->data(), logits.ptr, out->size() * sizeof(float), cudaMemcpyDeviceToHost,
                                      stream));
    }
    last_logits_rows = int(rows);
  }
  SEER_CUDA_CHECK(cudaStreamSynchronize(stream));
  SEER_CUDA_CHECK_LAUNCH("forward", stream);
  if (active) {  // the policy's density statistics: device counts of sparse layers, dense ones here
    SEER_RETURN_IF_ERROR(active->take_counts(&gate_counts));
    gates_len = kv_len;
    BlockCounts dense;  // prefill per query head and query block, decode per KV head (as ScoredPolicy)
    for (int r = 0; r < q_rows; ++r) dense.dense += first_qb + r + 1;
    dense.dense = decode ? int64_t(Hkv) * num_key_blocks : dense.dense * Hq;
    dense.selected = dense.dense;
    for (int l = 0; l < cfg.num_layers; ++l) {
      const LayerDensity& c = gate_counts[size_t(l)];
      policy->add_device_counts(l, decode, gate_sparse[size_t(l)] ? (decode ? c.decode : c.prefill) : dense);
    }
  }
  return Status::ok();
}

static_assert(Sampler::kMaxDeviceTopK == cuda::kMaxSampleTopK, "the sampler's device rule and the kernel disagree");

Status CudaForward::sample_last(float temperature, int top_k, float top_p, double u, int* token) {
  Impl& m = *impl_;
  if (m.last_logits_rows < 1) return Status::error("sample_last: the last forward computed no logits");
  SEER_RETURN_IF_ERROR(m.sampled.reserve(sizeof(int32_t), "the sampled token"));
  cuda::SampleParams p;
  p.logits = m.logits.as<float>() + int64_t(m.last_logits_rows - 1) * m.cfg.vocab_size;
  p.vocab = m.cfg.vocab_size;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.u = u;
  p.token = m.sampled.as<int32_t>();
  if (temperature > 0.0f && (top_k < 1 || top_k > cuda::kMaxSampleTopK || top_k >= m.cfg.vocab_size))
    return Status::error("sample_last: top_k {} is outside [1, min({}, vocab {} - 1)] (sample on the host)", top_k,
                         cuda::kMaxSampleTopK, m.cfg.vocab_size);
  SEER_CUDA_CHECK(cuda::run_sample(p, m.stream));
  SEER_CUDA_CHECK(cudaMemcpyAsync(&m.host_token, m.sampled.ptr, sizeof(int32_t), cudaMemcpyDeviceToHost, m.stream));
  SEER_CUDA_CHECK(cudaStreamSynchronize(m.stream));
  *token = m.host_token;
  return Status::ok();
}

Status CudaForward::token_nll(int first, std::span<const int> targets, std::vector<double>* nll) {
  Impl& m = *impl_;
  const int k = int(targets.size()), V = m.cfg.vocab_size;
  if (first < 0 || first + k > m.last_logits_rows)
    return Status::error("token_nll: rows [{}, {}) of the last forward's {} logits rows", first, first + k,
                         m.last_logits_rows);
  for (const int t : targets)
    if (t < 0 || t >= V) return Status::error("token_nll: target token {} is outside the vocabulary of {}", t, V);
  nll->assign(size_t(k), 0.0);
  if (k == 0) return Status::ok();
  SEER_RETURN_IF_ERROR(m.nll_targets.reserve(size_t(k) * sizeof(int32_t), "perplexity targets"));
  SEER_RETURN_IF_ERROR(m.nll_out.reserve(size_t(k) * sizeof(double), "perplexity values"));
  SEER_CUDA_CHECK(cudaMemcpyAsync(m.nll_targets.ptr, targets.data(), size_t(k) * sizeof(int32_t),
                                  cudaMemcpyHostToDevice, m.stream));
  cuda::NllParams p;
  p.logits = m.logits.as<float>() + int64_t(first) * V;
  p.vocab = V;
  p.targets = m.nll_targets.as<int32_t>();
  p.rows = k;
  p.nll = m.nll_out.as<double>();
  SEER_CUDA_CHECK(cuda::run_token_nll(p, m.stream));
  SEER_CUDA_CHECK(cudaMemcpyAsync(nll->data(), m.nll_out.ptr, size_t(k) * sizeof(double), cudaMemcpyDeviceToHost,
                                  m.stream));
  SEER_CUDA_CHECK(cudaStreamSynchronize(m.stream));
  return Status::ok();
}

CudaForward::CudaForward() : impl_(std::make_unique<Impl>()) {}
CudaForward::~CudaForward() = default;
void CudaForward::set_graphs(bool on) { impl_->use_graphs = on; }
int64_t CudaForward::graph_replays() const { return impl_->graph_replays; }
int CudaForward::max_context() const { return impl_->max_context; }
void CudaForward::set_fixed_density(double rho, uint64_t seed) {
  impl_->fixed_density = rho;
  impl_->fixed_seed = seed;
}
size_t CudaForward::weight_bytes() const { return impl_->weight_bytes; }
size_t CudaForward::cache_bytes() const { return impl_->cache_bytes; }
bool CudaForward::gate_query_folded() const {
  const Impl& m = *impl_;
  for (int l = 0; m.gates && l < m.cfg.num_layers; ++l)
    if (m.gates->folded_query_weight(l)) return true;
  return false;
}

Status CudaForward::available() {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return Status::error("--device cuda: no usable CUDA device ({})", cudaGetErrorString(e));
  if (count == 0) return Status::error("--device cuda: no CUDA device found");
  return Status::ok();
}

Result<std::unique_ptr<CudaForward>> CudaForward::create(const ModelConfig& c, const ModelWeights& w, int max_context) {
  std::unique_ptr<CudaForward> f(new CudaForward());
  Impl& m = *f->impl_;
  // bf16 matrices, fp32 vectors (upload_matrix, upload_vector)
  const auto mat = [](const Weight& x) { return x.empty() ? size_t(0) : size_t(x.rows) * x.cols * sizeof(bf16); };
  const auto vec = [](const Weight& x) { return x.empty() ? size_t(0) : size_t(x.rows) * x.cols * sizeof(float); };
  size_t weights = mat(w.tok_embd) + (w.output.data == w.tok_embd.data ? 0 : mat(w.output)) + vec(w.out_norm);
  for (const LayerWeights& s : w.layers) {
    for (const Weight* x : {&s.wq, &s.wk, &s.wv, &s.wo, &s.w_gate, &s.w_up, &s.w_down}) weights += mat(*x);
    for (const Weight* x : {&s.attn_norm, &s.ffn_norm, &s.bq, &s.bk, &s.bv, &s.q_norm, &s.k_norm}) weights += vec(*x);
  }
  SEER_RETURN_IF_ERROR(m.init(c, max_context, weights));
  SEER_RETURN_IF_ERROR(m.upload_matrix(w.tok_embd, &m.tok_embd, "token_embd"));
  m.tied = w.output.data == w.tok_embd.data;
  if (!m.tied) SEER_RETURN_IF_ERROR(m.upload_matrix(w.output, &m.output, "output"));
  SEER_RETURN_IF_ERROR(m.upload_vector(w.out_norm, &m.out_norm, "output_norm"));
  for (int l = 0; l < c.num_layers; ++l) {
    const LayerWeights& s = w.layers[size_t(l)];
    DeviceLayer& L = m.layers[size_t(l)];
    const auto name = [l](const char* t) { return fmt::format("layer {} {}", l, t); };
    SEER_RETURN_IF_ERROR(m.upload_vector(s.attn_norm, &L.attn_norm, name("attn_norm")));
    SEER_RETURN_IF_ERROR(m.upload_vector(s.ffn_norm, &L.ffn_norm, name("ffn_norm")));
    SEER_RETURN_IF_ERROR(m.upload_vector(s.bq, &L.bq, name("bq")));
    SEER_RETURN_IF_ERROR(m.upload_vector(s.bk, &L.bk, name("bk")));
    SEER_RETURN_IF_ERROR(m.upload_vector(s.bv, &L.bv, name("bv")));
    SEER_RETURN_IF_ERROR(m.upload_vector(s.q_norm, &L.q_norm, name("q_norm")));
    SEER_RETURN_IF_ERROR(m.upload_vector(s.k_norm, &L.k_norm, name("k_norm")));
    SEER_RETURN_IF_ERROR(m.upload_matrix(s.wq, &L.wq, name("wq")));
    SEER_RETURN_IF_ERROR(m.upload_matrix(s.wk, &L.wk, name("wk")));
    SEER_RETURN_IF_ERROR(m.upload_matrix(s.wv, &L.wv, name("wv")));
    SEER_RETURN_IF_ERROR(m.upload_matrix(s.wo, &L.wo, name("wo")));
    SEER_RETURN_IF_ERROR(m.upload_matrix(s.w_gate, &L.w_gate, name("w_gate")));
    SEER_RETURN_IF_ERROR(m.upload_matrix(s.w_up, &L.w_up, name("w_up")));
    SEER_RETURN_IF_ERROR(m.upload_matrix(s.w_down, &L.w_down, name("w_down")));
  }
  m.host_bf16 = {};
  // The uploads are pageable cudaMemcpy calls on the legacy stream, which may return before the DMA
  // lands; the compute stream (non-blocking) is not ordered after them.
  SEER_CUDA_CHECK(cudaDeviceSynchronize());
  return f;
}

Result<std::unique_ptr<CudaForward>> CudaForward::create_random(const ModelConfig& c, int max_context, uint64_t seed) {
  std::unique_ptr<CudaForward> f(new CudaForward());
  Impl& m = *f->impl_;
  const int64_t D = c.hidden_size, qdim = int64_t(c.num_qo_heads) * c.head_dim;
  const int64_t kvdim = int64_t(c.num_kv_heads) * c.head_dim, F = c.intermediate_size;
  const size_t weights =
      size_t(c.vocab_size) * D * (c.tied_embeddings ? 1 : 2) * sizeof(bf16) +
      size_t(c.num_layers) * (size_t(D) * (2 * qdim + 2 * kvdim) + 3 * size_t(D) * F) * sizeof(bf16);
  SEER_RETURN_IF_ERROR(m.init(c, max_context, weights));
  uint64_t s = seed * 1000;
  SEER_RETURN_IF_ERROR(m.random_matrix(&m.tok_embd, c.vocab_size, D, ++s, "token_embd"));
  m.tied = c.tied_embeddings;
  if (!m.tied) SEER_RETURN_IF_ERROR(m.random_matrix(&m.output, c.vocab_size, D, ++s, "output"));
  SEER_RETURN_IF_ERROR(m.ones(&m.out_norm, D, "output_norm"));
  for (DeviceLayer& L : m.layers) {
    SEER_RETURN_IF_ERROR(m.ones(&L.attn_norm, D, "attn_norm"));
    SEER_RETURN_IF_ERROR(m.ones(&L.ffn_norm, D, "ffn_norm"));
    if (c.qk_norm) {
      SEER_RETURN_IF_ERROR(m.ones(&L.q_norm, c.head_dim, "q_norm"));
      SEER_RETURN_IF_ERROR(m.ones(&L.k_norm, c.head_dim, "k_norm"));
    }
    SEER_RETURN_IF_ERROR(m.random_matrix(&L.wq, qdim, D, ++s, "wq"));
    SEER_RETURN_IF_ERROR(m.random_matrix(&L.wk, kvdim, D, ++s, "wk"));
    SEER_RETURN_IF_ERROR(m.random_matrix(&L.wv, kvdim, D, ++s, "wv"));
    SEER_RETURN_IF_ERROR(m.random_matrix(&L.wo, D, qdim, ++s, "wo"));
    SEER_RETURN_IF_ERROR(m.random_matrix(&L.w_gate, F, D, ++s, "w_gate"));
    SEER_RETURN_IF_ERROR(m.random_matrix(&L.w_up, F, D, ++s, "w_up"));
    SEER_RETURN_IF_ERROR(m.random_matrix(&L.w_down, D, F, ++s, "w_down"));
  }
  SEER_CUDA_CHECK(cudaDeviceSynchronize());  // the fills on the stream, and ones()' copies on the legacy one
  return f;
}

Status CudaForward::forward(std::span<const int> tokens, int start, Logits which, AttentionPolicy* policy,
                            ThreadPool* pool, std::vector<float>* logits) {
  return impl_->forward(tokens, start, which, policy, pool, logits);
}

Status CudaForward::prepare(AttentionPolicy* policy) {
  // A new policy's gates are built afresh: one allocated where a freed policy was must not find that
  // policy's gates by their address.
  impl_->gates.reset();
  impl_->gates_spec = nullptr;
  impl_->gates_len = -1;
  const DeviceGateSpec* spec = policy ? policy->device_gates() : nullptr;
  if (!spec) return Status::ok();
  SEER_RETURN_IF_ERROR(impl_->use_gates(spec));
  SEER_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
  return Status::ok();
}

}  // namespace seer

#else  // !SEER_HAVE_CUDA

namespace seer {

struct CudaForward::Impl {};
CudaForward::CudaForward() = default;
void CudaForward::set_graphs(bool) {}
int64_t CudaForward::graph_replays() const { return 0; }
void CudaForward::set_fixed_density(double, uint64_t) {}
CudaForward::~CudaForward() = default;
int CudaForward::max_context() const { return 0; }
size_t CudaForward::weight_bytes() const { return 0; }
size_t CudaForward::cache_bytes() const { return 0; }
bool CudaForward::gate_query_folded() const { return false; }
Status CudaForward::available() {
  return Status::error("--device cuda: this build has no CUDA backend (configure with -DSEER_CUDA=ON on a machine with nvcc)");
}
Result<std::unique_ptr<CudaForward>> CudaForward::create(const ModelConfig&, const ModelWeights&, int) {
  return available();
}
Result<std::unique_ptr<CudaForward>> CudaForward::create_random(const ModelConfig&, int, uint64_t) {
  return available();
}
Status CudaForward::forward(std::span<const int>, int, Logits, AttentionPolicy*, ThreadPool*, std::vector<float>*) {
  return available();
}
Status CudaForward::prepare(AttentionPolicy*) { return available(); }
Status CudaForward::sample_last(float, int, float, double, int*) { return available(); }
Status CudaForward::token_nll(int, std::span<const int>, std::vector<double>*) { return available(); }

}  // namespace seer

#endif  // SEER_HAVE_CUDA
