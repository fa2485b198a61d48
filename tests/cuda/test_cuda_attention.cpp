// CUDA attention kernels against the CPU reference seer::ref_attention (fp64 accumulation), on
// fresh random inputs rounded to bf16/fp16 (the reference gets the same rounded values as float),
// with outputs poisoned with NaN before each run. SPEC §5.1 (prefill), §5.2 (decode), §3 (plan).
//
// Tolerance rule (flash-attention style): with err(x) = max |x - ref_fp64| over all outputs,
//   err(kernel) <= 2 * err(naive) + 1e-4,
// where `naive` is the textbook computation in the same precision: the same bf16/fp16 inputs, fp32
// scores, fp32 softmax, the normalised probabilities rounded to the dtype, fp32 P·V accumulation,
// and the output rounded to the dtype. Any NaN/Inf fails.
#ifdef SEER_CUDA_MINI_GTEST
#include "mini_gtest.h"
#else
#include <gtest/gtest.h>
#endif

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cuda/block_max_pool.cuh"
#include "kernels/cuda/plan.cuh"
#include "kernels/cuda/sparse_decode.cuh"
#include "kernels/cuda/sparse_prefill.cuh"

namespace {

using seer::BlockSelection;
using seer::cuda::DType;

bool has_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

#define SKIP_WITHOUT_GPU() \
  if (!has_gpu()) GTEST_SKIP() << "no CUDA device"

// Device buffer; frees on scope exit.
template <typename T>
struct DeviceBuffer {
  T* ptr = nullptr;
  size_t n = 0;
  explicit DeviceBuffer(size_t count) : n(count) {
    if (cudaMalloc(&ptr, std::max<size_t>(count, 1) * sizeof(T)) != cudaSuccess) ptr = nullptr;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(ptr); }
  bool upload(const std::vector<T>& v) { return cudaMemcpy(ptr, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess; }
  std::vector<T> download() const {
    std::vector<T> v(n);
    cudaMemcpy(v.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost);
    return v;
  }
};

float round_to(float x, DType t) {
  return t == DType::kBF16 ? __bfloat162float(__float2bfloat16_rn(x)) : __half2float(__float2half_rn(x));
}
uint16_t bits_of(float x, DType t) {
  uint16_t b;
  if (t == DType::kBF16) {
    __nv_bfloat16 v = __float2bfloat16_rn(x);
    std::memcpy(&b, &v, 2);
  } else {
    __half v = __float2half_rn(x);
    std::memcpy(&b, &v, 2);
  }
  return b;
}
float float_of(uint16_t b, DType t) {
  if (t == DType::kBF16) {
    __nv_bfloat16_raw raw;
    raw.x = b;
    return __bfloat162float(__nv_bfloat16(raw));
  }
  __half_raw raw;
  raw.x = b;
  return __half2float(__half(raw));
}

// Fresh random values in [-1, 1) (a wider range for q so that the softmax is not flat), rounded to
// the dtype: `f` holds the rounded floats for the references, `h` the 16-bit bits for the GPU.
struct Rounded {
  std::vector<float> f;
  std::vector<uint16_t> h;
};
Rounded random_rounded(size_t n, uint64_t seed, DType t, float amp) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-amp, amp);
  Rounded r;
  r.f.resize(n);
  r.h.resize(n);
  for (size_t i = 0; i < n; ++i) {
    r.f[i] = round_to(dist(rng), t);
    r.h[i] = bits_of(r.f[i], t);
  }
  return r;
}

// Keeps each causal block with probability `density` (1: dense, 0: every row empty).
BlockSelection random_selection(int heads, bool per_kv_head, int first_qb, int rows, double density, uint64_t seed,
                                int block_size = 64) {
  BlockSelection sel;
  sel.set_dense(heads, per_kv_head, first_qb, rows, block_size);
  if (density >= 1.0) return sel;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<int32_t> offsets{0}, indices;
  for (int h = 0; h < heads; ++h)
    for (int r = 0; r < rows; ++r) {
      for (int j = 0; j <= first_qb + r; ++j)
        if (u(rng) < density) indices.push_back(j);
      offsets.push_back(int32_t(indices.size()));
    }
  sel.offsets = offsets;
  sel.indices = indices;
  return sel;
}

// The textbook computation in the dtype's precision (see the file comment).
void naive_attention(const seer::AttentionParams& p, const BlockSelection& sel, DType t) {
  const int d = p.head_dim, group = p.num_qo_heads / p.num_kv_heads;
  std::vector<float> s, acc(d);
  std::vector<int> keys;
  for (int tok = 0; tok < p.qo_len; ++tok) {
    const int qpos = p.start_pos() + tok;
    const int r = qpos / sel.block_size - sel.first_q_block;
    for (int h = 0; h < p.num_qo_heads; ++h) {
      const int kvh = h / group;
      const int64_t row = int64_t(sel.per_kv_head ? kvh : h) * sel.num_rows + r;
      keys.clear();
      for (int b = sel.offsets[row]; b < sel.offsets[row + 1]; ++b)
        for (int kp = sel.indices[b] * sel.block_size; kp < (sel.indices[b] + 1) * sel.block_size; ++kp)
          if (kp <= qpos && kp < p.kv_len) keys.push_back(kp);
      const float* qi = p.q + (size_t(tok) * p.num_qo_heads + h) * d;
      float* oi = p.out + (size_t(tok) * p.num_qo_heads + h) * d;
      if (keys.empty()) {
        std::fill(oi, oi + d, 0.0f);
        continue;
      }
      s.resize(keys.size());
      float mx = -INFINITY;
      for (size_t j = 0; j < keys.size(); ++j) {
        const float* kj = p.k_cache + (size_t(kvh) * p.max_context + keys[j]) * d;
        float dot = 0.0f;
        for (int c = 0; c < d; ++c) dot += qi[c] * kj[c];
        s[j] = dot * p.scale;
        mx = std::max(mx, s[j]);
      }
      float l = 0.0f;
      for (auto& x : s) l += (x = std::exp(x - mx));
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (size_t j = 0; j < keys.size(); ++j) {
        const float w = round_to(s[j] / l, t);
        const float* vj = p.v_cache + (size_t(kvh) * p.max_context + keys[j]) * d;
        for (int c = 0; c < d; ++c) acc[c] += w * vj[c];
      }
      for (int c = 0; c < d; ++c) oi[c] = round_to(acc[c], t);
    }
  }
}

// max |a - ref|; +inf when a is not finite anywhere (a poisoned, unwritten element included).
double max_err(const std::vector<float>& a, const std::vector<float>& ref, std::string* where) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) {
      *where = "non-finite output at index " + std::to_string(i);
      return INFINITY;
    }
    const double e = std::fabs(double(a[i]) - double(ref[i]));
    if (e > m) m = e, *where = "index " + std::to_string(i);
  }
  return m;
}

constexpr double kFloor = 1e-4;

struct PrefillCase {
  int kv_len, qo_len, num_kv_heads, group, head_dim;
  double density;
  DType dtype;
  bool per_kv_head = false;
  bool plan_on_gpu = false;  // build the CSR with launch_mask_to_csr from a dense mask
  int block_size = 64;       // 64 or 128
};

std::string describe(const PrefillCase& c) {
  return "kv_len=" + std::to_string(c.kv_len) + " qo_len=" + std::to_string(c.qo_len) +
         " kv_heads=" + std::to_string(c.num_kv_heads) + " group=" + std::to_string(c.group) +
         " head_dim=" + std::to_string(c.head_dim) + " density=" + std::to_string(c.density) + " " +
         seer::cuda::dtype_name(c.dtype) + (c.per_kv_head ? " per_kv_head" : "") + (c.plan_on_gpu ? " gpu_plan" : "") +
         " block " + std::to_string(c.block_size);
}

using seer::cuda::PrefillPath;

std::vector<PrefillPath> prefill_paths() {
  if (seer::cuda::sparse_prefill_sm90_available()) return {PrefillPath::kMmaSync, PrefillPath::kWgmma};
  return {PrefillPath::kMmaSync};
}

// Runs `pp` on both kernels (mma.sync everywhere, the Hopper TMA + wgmma one where the device has
// it), each time into a NaN-poisoned `out`, and checks the output against the fp64 reference with
// the tolerance rule of the file comment; "" on success, else what failed.
std::string check_every_path(seer::cuda::SparsePrefillParams pp, DeviceBuffer<uint16_t>& out_buf, DType t,
                             const std::vector<float>& ref, const std::vector<float>& naive) {
  std::string where_n;
  const double en = max_err(naive, ref, &where_n);
  for (PrefillPath path : prefill_paths()) {
    pp.path = path;
    cudaMemset(out_buf.ptr, 0xff, out_buf.n * 2);
    const std::string name = path == PrefillPath::kWgmma ? "wgmma: " : "mma.sync: ";
    seer::Status st = seer::cuda::launch_sparse_prefill(pp, nullptr);
    if (!st.is_ok()) return name + "launch_sparse_prefill: " + st.message();
    cudaError_t err = cudaDeviceSynchronize();
    if (err != cudaSuccess) return name + "kernel fault: " + cudaGetErrorString(err);
    std::vector<uint16_t> out_h = out_buf.download();
    std::vector<float> out(out_h.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = float_of(out_h[i], t);
    std::string where_k;
    const double ek = max_err(out, ref, &where_k);
    if (!(ek <= 2.0 * en + kFloor))
      return name + "error " + std::to_string(ek) + " at " + where_k + " > 2 * naive " + std::to_string(en) +
             " + floor";
  }
  return "";
}

// Runs one prefill case on every kernel this device has (prefill_paths()); returns an empty
// string on success, else what failed.
std::string run_prefill_case(const PrefillCase& c, uint64_t seed) {
  const int hq = c.num_kv_heads * c.group, d = c.head_dim;
  const int max_context = c.kv_len + 3;  // not a multiple of 64: the kernel must not read past kv_len
  const int start = c.kv_len - c.qo_len;
  const int bs = c.block_size;
  const int first_qb = start / bs, rows = (c.kv_len - 1) / bs - first_qb + 1;
  Rounded q = random_rounded(size_t(c.qo_len) * hq * d, seed, c.dtype, 2.0f);
  Rounded k = random_rounded(size_t(c.num_kv_heads) * max_context * d, seed + 1, c.dtype, 1.0f);
  Rounded v = random_rounded(size_t(c.num_kv_heads) * max_context * d, seed + 2, c.dtype, 1.0f);
  const int sel_heads = c.per_kv_head ? c.num_kv_heads : hq;
  BlockSelection sel = random_selection(sel_heads, c.per_kv_head, first_qb, rows, c.density, seed + 3, bs);

  seer::AttentionParams ap;
  std::vector<float> ref(q.f.size()), naive(q.f.size());
  ap.q = q.f.data();
  ap.k_cache = k.f.data();
  ap.v_cache = v.f.data();
  ap.qo_len = c.qo_len;
  ap.kv_len = c.kv_len;
  ap.num_qo_heads = hq;
  ap.num_kv_heads = c.num_kv_heads;
  ap.head_dim = d;
  ap.max_context = max_context;
  ap.scale = 1.0f / std::sqrt(float(d));
  ap.out = ref.data();
  seer::ref_attention(ap, sel);
  ap.out = naive.data();
  naive_attention(ap, sel, c.dtype);

  DeviceBuffer<uint16_t> dq(q.h.size()), dk(k.h.size()), dv(v.h.size()), dout(q.h.size());
  DeviceBuffer<int32_t> doff(sel.offsets.size()), didx(std::max<size_t>(sel.indices.size(), 1));
  if (!dq.ptr || !dk.ptr || !dv.ptr || !dout.ptr || !doff.ptr || !didx.ptr) return "cudaMalloc failed";
  dq.upload(q.h);
  dk.upload(k.h);
  dv.upload(v.h);
  cudaMemset(dout.ptr, 0xff, dout.n * 2);  // 0xffff is NaN in bf16 and fp16
  std::unique_ptr<DeviceBuffer<int32_t>> plan_idx;
  if (c.plan_on_gpu) {
    // Expand the selection into a dense mask, let the GPU plan rebuild the CSR, compare exactly.
    const int nkb = first_qb + rows;
    std::vector<uint8_t> mask(size_t(sel_heads) * rows * nkb, 0);
    std::mt19937_64 rng(seed + 4);
    for (int row = 0; row < sel_heads * rows; ++row) {
      for (int b = sel.offsets[row]; b < sel.offsets[row + 1]; ++b) mask[size_t(row) * nkb + sel.indices[b]] = 1;
      const int qb = first_qb + row % rows;  // non-causal noise that the plan must drop
      for (int j = qb + 1; j < nkb; ++j) mask[size_t(row) * nkb + j] = uint8_t(rng() & 1);
    }
    DeviceBuffer<uint8_t> dmask(mask.size());
    dmask.upload(mask);
    int64_t cap = 0;
    for (int r = 0; r < rows; ++r) cap += first_qb + r + 1;
    cap *= sel_heads;
    plan_idx = std::make_unique<DeviceBuffer<int32_t>>(size_t(cap));
    seer::cuda::MaskToCsrParams mp;
    mp.mask = dmask.ptr;
    mp.row_offsets = doff.ptr;
    mp.block_indices = plan_idx->ptr;
    mp.capacity = cap;
    mp.num_heads = sel_heads;
    mp.num_rows = rows;
    mp.num_key_blocks = nkb;
    mp.first_q_block = first_qb;
    mp.causal = true;
    seer::Status st = seer::cuda::launch_mask_to_csr(mp, nullptr);
    if (!st.is_ok()) return "launch_mask_to_csr: " + st.message();
    if (cudaDeviceSynchronize() != cudaSuccess) return "mask_to_csr faulted";
    std::vector<int32_t> got_off = doff.download(), got_idx = plan_idx->download();
    if (got_off != sel.offsets) return "mask_to_csr: row_offsets differ from the host CSR";
    if (!std::equal(sel.indices.begin(), sel.indices.end(), got_idx.begin()))
      return "mask_to_csr: block_indices differ from the host CSR";
  } else {
    doff.upload(sel.offsets);
    if (!sel.indices.empty()) didx.upload(sel.indices);
  }

  seer::cuda::SparsePrefillParams pp;
  pp.q = dq.ptr;
  pp.k_cache = dk.ptr;
  pp.v_cache = dv.ptr;
  pp.out = dout.ptr;
  pp.row_offsets = doff.ptr;
  pp.block_indices = c.plan_on_gpu ? plan_idx->ptr : didx.ptr;
  pp.dtype = c.dtype;
  pp.qo_len = c.qo_len;
  pp.kv_len = c.kv_len;
  pp.num_qo_heads = hq;
  pp.num_kv_heads = c.num_kv_heads;
  pp.head_dim = d;
  pp.max_context = max_context;
  pp.first_q_block = first_qb;
  pp.num_rows = rows;
  pp.block_size = bs;
  pp.per_kv_head = c.per_kv_head;
  pp.scale = ap.scale;
  return check_every_path(pp, dout, c.dtype, ref, naive);
}

// Batched variable-length prefill (SparsePrefillParams::q_start/kv_lens/row_start): several
// sequences of different lengths (mid-block starts, a one-query sequence, GQA rows per KV head or
// per query head) in one launch, each checked against ref_attention of that sequence alone. Every
// cache row past a sequence's kv_len holds NaN: the kernels must not let it reach the output.
std::string run_batched_case(const std::vector<std::pair<int, int>>& kv_qo, int num_kv_heads, int group, int d,
                             double density, DType t, bool per_kv_head, uint64_t seed) {
  const int batch = int(kv_qo.size()), hq = num_kv_heads * group;
  int max_kv = 0, total_q = 0, max_rows = 0;
  for (auto [kv, qo] : kv_qo) max_kv = std::max(max_kv, kv), total_q += qo;
  const int max_context = max_kv + 3;
  const size_t seq_kv = size_t(num_kv_heads) * max_context * d;
  Rounded q = random_rounded(size_t(total_q) * hq * d, seed, t, 2.0f);
  Rounded k = random_rounded(seq_kv * batch, seed + 1, t, 1.0f);
  Rounded v = random_rounded(seq_kv * batch, seed + 2, t, 1.0f);
  const uint16_t nan_bits = 0x7fff;  // NaN in bf16 and fp16
  const int sel_heads = per_kv_head ? num_kv_heads : hq;
  std::vector<BlockSelection> sels;
  std::vector<int32_t> q_start{0}, kv_lens, row_start{0};
  for (int b = 0; b < batch; ++b) {
    const auto [kv, qo] = kv_qo[b];
    for (int h = 0; h < num_kv_heads; ++h)
      for (int pos = kv; pos < max_context; ++pos)
        for (int c = 0; c < d; ++c) {
          const size_t i = b * seq_kv + (size_t(h) * max_context + pos) * d + c;
          k.h[i] = v.h[i] = nan_bits;
        }
    const int first_qb = (kv - qo) / 64, rows = (kv - 1) / 64 - first_qb + 1;
    sels.push_back(random_selection(sel_heads, per_kv_head, first_qb, rows, density, seed + 3 + b));
    q_start.push_back(q_start.back() + qo);
    kv_lens.push_back(kv);
    row_start.push_back(row_start.back() + rows);
    max_rows = std::max(max_rows, rows);
  }
  // One CSR over every (selection head, sequence, row): row h * total_rows + row_start[b] + r.
  const int total_rows = row_start.back();
  std::vector<int32_t> offsets{0}, indices;
  for (int h = 0; h < sel_heads; ++h)
    for (int b = 0; b < batch; ++b)
      for (int r = 0; r < sels[b].num_rows; ++r) {
        const int row = h * sels[b].num_rows + r;
        for (int i = sels[b].offsets[row]; i < sels[b].offsets[row + 1]; ++i) indices.push_back(sels[b].indices[i]);
        offsets.push_back(int32_t(indices.size()));
      }

  // References, one sequence at a time.
  std::vector<float> ref(q.f.size()), naive(q.f.size());
  for (int b = 0; b < batch; ++b) {
    seer::AttentionParams ap;
    ap.q = q.f.data() + size_t(q_start[b]) * hq * d;
    ap.k_cache = k.f.data() + b * seq_kv;
    ap.v_cache = v.f.data() + b * seq_kv;
    ap.qo_len = kv_qo[b].second;
    ap.kv_len = kv_qo[b].first;
    ap.num_qo_heads = hq;
    ap.num_kv_heads = num_kv_heads;
    ap.head_dim = d;
    ap.max_context = max_context;
    ap.scale = 1.0f / std::sqrt(float(d));
    ap.out = ref.data() + size_t(q_start[b]) * hq * d;
    seer::ref_attention(ap, sels[b]);
    ap.out = naive.data() + size_t(q_start[b]) * hq * d;
    naive_attention(ap, sels[b], t);
  }

  DeviceBuffer<uint16_t> dq(q.h.size()), dk(k.h.size()), dv(v.h.size()), dout(q.h.size());
  DeviceBuffer<int32_t> doff(offsets.size()), didx(std::max<size_t>(indices.size(), 1)), dqs(q_start.size()),
      dkv(kv_lens.size()), drs(row_start.size());
  if (!dq.ptr || !dk.ptr || !dv.ptr || !dout.ptr || !doff.ptr || !didx.ptr || !dqs.ptr || !dkv.ptr || !drs.ptr)
    return "cudaMalloc failed";
  dq.upload(q.h);
  dk.upload(k.h);
  dv.upload(v.h);
  doff.upload(offsets);
  if (!indices.empty()) didx.upload(indices);
  dqs.upload(q_start);
  dkv.upload(kv_lens);
  drs.upload(row_start);
  seer::cuda::SparsePrefillParams pp;
  pp.q = dq.ptr;
  pp.k_cache = dk.ptr;
  pp.v_cache = dv.ptr;
  pp.out = dout.ptr;
  pp.row_offsets = doff.ptr;
  pp.block_indices = didx.ptr;
  pp.dtype = t;
  pp.qo_len = total_q;
  pp.num_qo_heads = hq;
  pp.num_kv_heads = num_kv_heads;
  pp.head_dim = d;
  pp.max_context = max_context;
  pp.num_rows = total_rows;
  pp.per_kv_head = per_kv_head;
  pp.scale = 1.0f / std::sqrt(float(d));
  pp.batch_size = batch;
  pp.q_start = dqs.ptr;
  pp.kv_lens = dkv.ptr;
  pp.row_start = drs.ptr;
  pp.max_rows = max_rows;
  return check_every_path(pp, dout, t, ref, naive);
}

// Gate-training ground truth (SPEC §4, §5.3): the prefill kernel's block_max output for a dense
// selection against seer::ref_attention_block_max (fp64 from the full probability rows), then the
// 2-D and group-max reductions against the same reductions on the host.
std::string run_block_max_case(int kv_len, int qo_len, int num_kv_heads, int group, int d, uint64_t seed,
                               bool mass) {
  const DType t = DType::kBF16;
  const int hq = num_kv_heads * group, max_context = kv_len + 3, start = kv_len - qo_len;
  const int first_qb = start / 64, rows = (kv_len - 1) / 64 - first_qb + 1, nb = (kv_len + 63) / 64;
  Rounded q = random_rounded(size_t(qo_len) * hq * d, seed, t, 2.0f);
  Rounded k = random_rounded(size_t(num_kv_heads) * max_context * d, seed + 1, t, 1.0f);
  Rounded v = random_rounded(size_t(num_kv_heads) * max_context * d, seed + 2, t, 1.0f);
  BlockSelection sel;
  sel.set_dense(hq, false, first_qb, rows, 64);
  seer::AttentionParams ap;
  ap.q = q.f.data();
  ap.k_cache = k.f.data();
  ap.qo_len = qo_len;
  ap.kv_len = kv_len;
  ap.num_qo_heads = hq;
  ap.num_kv_heads = num_kv_heads;
  ap.head_dim = d;
  ap.max_context = max_context;
  ap.scale = 1.0f / std::sqrt(float(d));
  ap.block_mass = mass;
  std::vector<float> ref(size_t(qo_len) * hq * nb);
  seer::ref_attention_block_max(ap, 64, ref.data());

  DeviceBuffer<uint16_t> dq(q.h.size()), dk(k.h.size()), dv(v.h.size()), dout(q.h.size());
  DeviceBuffer<int32_t> doff(sel.offsets.size()), didx(sel.indices.size());
  DeviceBuffer<float> dbm(ref.size()), d2(size_t(hq) * rows * nb), d1(size_t(qo_len) * num_kv_heads * nb);
  if (!dq.ptr || !dk.ptr || !dv.ptr || !dout.ptr || !doff.ptr || !didx.ptr || !dbm.ptr || !d2.ptr || !d1.ptr)
    return "cudaMalloc failed";
  dq.upload(q.h);
  dk.upload(k.h);
  dv.upload(v.h);
  doff.upload(sel.offsets);
  didx.upload(sel.indices);
  cudaMemset(dbm.ptr, 0xff, dbm.n * 4);  // NaN: the launcher must zero it
  seer::cuda::SparsePrefillParams pp;
  pp.q = dq.ptr;
  pp.k_cache = dk.ptr;
  pp.v_cache = dv.ptr;
  pp.out = dout.ptr;
  pp.row_offsets = doff.ptr;
  pp.block_indices = didx.ptr;
  pp.dtype = t;
  pp.qo_len = qo_len;
  pp.kv_len = kv_len;
  pp.num_qo_heads = hq;
  pp.num_kv_heads = num_kv_heads;
  pp.head_dim = d;
  pp.max_context = max_context;
  pp.first_q_block = first_qb;
  pp.num_rows = rows;
  pp.scale = ap.scale;
  pp.block_max = dbm.ptr;
  pp.block_mass = mass;
  seer::Status st = seer::cuda::launch_sparse_prefill(pp, nullptr);
  if (!st.is_ok()) return "launch_sparse_prefill: " + st.message();
  seer::cuda::BlockMaxPoolParams bp;
  bp.in = dbm.ptr;
  bp.qo_len = qo_len;
  bp.kv_len = kv_len;
  bp.num_qo_heads = hq;
  bp.num_kv_heads = num_kv_heads;
  bp.out = d2.ptr;
  st = seer::cuda::launch_block_max_pool_2d(bp, nullptr);
  if (!st.is_ok()) return "launch_block_max_pool_2d: " + st.message();
  bp.out = d1.ptr;
  st = seer::cuda::launch_block_max_group_max(bp, nullptr);
  if (!st.is_ok()) return "launch_block_max_group_max: " + st.message();
  if (cudaDeviceSynchronize() != cudaSuccess) return "kernel fault";
  std::string where;
  const double e = max_err(dbm.download(), ref, &where);
  if (!(e <= 2e-4)) return "block_max error " + std::to_string(e) + " at " + where;
  std::vector<float> want2(d2.n, 0.0f), want1(d1.n, 0.0f);
  for (int i = 0; i < qo_len; ++i)
    for (int h = 0; h < hq; ++h)
      for (int j = 0; j < nb; ++j) {
        const float x = ref[(size_t(i) * hq + h) * nb + j];
        float& w2 = want2[(size_t(h) * rows + (start + i) / 64 - first_qb) * nb + j];
        float& w1 = want1[(size_t(i) * num_kv_heads + h / group) * nb + j];
        w2 = std::max(w2, x);
        w1 = std::max(w1, x);
      }
  const double e2 = max_err(d2.download(), want2, &where);
  if (!(e2 <= 2e-4)) return "2-D pool error " + std::to_string(e2) + " at " + where;
  const double e1 = max_err(d1.download(), want1, &where);
  if (!(e1 <= 2e-4)) return "group max error " + std::to_string(e1) + " at " + where;

  // The training path: the group max at a subset of rows (every third, the last) on the device, and
  // the host reduction (the CPU engine's, kernels/cpu/attention.h) against the loops above.
  std::vector<int> some;
  for (int i = 0; i < qo_len; i += 3) some.push_back(i);
  if (some.back() != qo_len - 1) some.push_back(qo_len - 1);
  DeviceBuffer<int32_t> drows(some.size());
  DeviceBuffer<float> dsome(some.size() * num_kv_heads * nb);
  if (!drows.ptr || !dsome.ptr) return "cudaMalloc failed";
  drows.upload(some);
  bp.out = dsome.ptr;
  bp.rows = drows.ptr;
  bp.num_rows = int(some.size());
  st = seer::cuda::launch_block_max_group_max(bp, nullptr);
  if (!st.is_ok()) return "launch_block_max_group_max (rows): " + st.message();
  if (cudaDeviceSynchronize() != cudaSuccess) return "kernel fault";
  std::vector<float> want_some;
  for (int i : some)
    want_some.insert(want_some.end(), want1.begin() + ptrdiff_t(size_t(i) * num_kv_heads * nb),
                     want1.begin() + ptrdiff_t(size_t(i + 1) * num_kv_heads * nb));
  const double es = max_err(dsome.download(), want_some, &where);
  if (!(es <= 2e-4)) return "group max (rows) error " + std::to_string(es) + " at " + where;
  seer::GroundTruthRequest req;
  std::vector<float> host2(want2.size(), -1.0f), host1(want_some.size(), -1.0f);
  req.pool_2d = host2.data();
  req.group_max = host1.data();
  req.rows = some;
  seer::reduce_block_max(ref.data(), qo_len, kv_len, hq, num_kv_heads, req);
  if (host2 != want2) return "reduce_block_max: 2-D pool differs from the loop";
  if (host1 != want_some) return "reduce_block_max: group max differs from the loop";

  // The group's heads summed (GroupPool::kSum, train-gates --group-pool sum), in head order on both
  // sides: the device's sums of its own maxima, and the host reduction's of the reference's, equal the
  // loop's bit for bit.
  const std::vector<float> dev_bm = dbm.download();
  auto group_sums = [&](const std::vector<float>& bm) {
    std::vector<float> out;
    for (int i : some)
      for (int hk = 0; hk < num_kv_heads; ++hk)
        for (int j = 0; j < nb; ++j) {
          float s = 0.0f;
          for (int g = 0; g < group; ++g) s += bm[(size_t(i) * hq + hk * group + g) * nb + j];
          out.push_back(s);
        }
    return out;
  };
  const std::vector<float> want_dev_sum = group_sums(dev_bm), want_sum = group_sums(ref);
  cudaMemset(dsome.ptr, 0xff, dsome.n * 4);
  bp.group_sum = true;
  st = seer::cuda::launch_block_max_group_max(bp, nullptr);
  if (!st.is_ok()) return "launch_block_max_group_max (sum): " + st.message();
  if (cudaDeviceSynchronize() != cudaSuccess) return "kernel fault";
  const std::vector<float> got_sum = dsome.download();
  if (got_sum != want_dev_sum)
    return "group sum differs from the loop, max error " + std::to_string(max_err(got_sum, want_dev_sum, &where)) +
           " at " + where;
  req.pool_2d = nullptr;
  req.group = seer::GroupPool::kSum;
  seer::reduce_block_max(ref.data(), qo_len, kv_len, hq, num_kv_heads, req);
  if (host1 != want_sum) return "reduce_block_max: group sum differs from the loop";
  if (group > 1 && want_sum == want_some) return "group sum equals the group max: the test cannot tell them apart";
  bp.group_sum = false;
  bp.num_rows = qo_len + 1;
  if (seer::cuda::launch_block_max_group_max(bp, nullptr).is_ok()) return "num_rows > qo_len was accepted";
  return "";
}

TEST(CudaGroundTruth, BlockMaxMatchesFullAttention) {
  SKIP_WITHOUT_GPU();
  struct C { int kv, qo, hkv, group, d; };
  uint64_t seed = 900;
  for (const C& c : {C{1, 1, 1, 1, 64}, C{63, 63, 2, 3, 64}, C{300, 300, 2, 4, 128}, C{300, 70, 1, 3, 64},
                     C{1000, 1000, 3, 3, 64}, C{257, 257, 8, 1, 128}}) {
    for (bool mass : {false, true}) {
      const std::string err = run_block_max_case(c.kv, c.qo, c.hkv, c.group, c.d, seed += 11, mass);
      EXPECT_TRUE(err.empty()) << "kv " << c.kv << " qo " << c.qo << " group " << c.group << " d " << c.d
                               << (mass ? " mass" : " max") << ": " << err;
    }
  }
}

TEST(CudaSparsePrefill, SmallSweep) {
  SKIP_WITHOUT_GPU();
  uint64_t seed = 100;
  for (int len : {1, 63, 64, 65})
    for (int group : {1, 3, 4, 8})
      for (int hd : {64, 128})
        for (double density : {0.0, 0.1, 0.5, 1.0})
          for (DType t : {DType::kBF16, DType::kF16}) {
            PrefillCase c{len, len, 2, group, hd, density, t};
            const std::string e = run_prefill_case(c, seed += 10);
            EXPECT_TRUE(e.empty()) << describe(c) << ": " << e;
          }
}

TEST(CudaSparsePrefill, Length1000Sweep) {
  SKIP_WITHOUT_GPU();
  uint64_t seed = 5000;
  int i = 0;
  for (int group : {1, 3, 4, 8})
    for (int hd : {64, 128})
      for (double density : {0.0, 0.1, 0.5, 1.0}) {
        PrefillCase c{1000, 1000, 1, group, hd, density, (i++ % 2) ? DType::kF16 : DType::kBF16};
        const std::string e = run_prefill_case(c, seed += 10);
        EXPECT_TRUE(e.empty()) << describe(c) << ": " << e;
      }
}

TEST(CudaSparsePrefill, Length4097) {
  SKIP_WITHOUT_GPU();
  for (const PrefillCase& c : {PrefillCase{4097, 4097, 1, 4, 128, 0.1, DType::kBF16},
                               PrefillCase{4097, 4097, 1, 3, 64, 0.5, DType::kF16},
                               PrefillCase{4097, 4097, 1, 1, 128, 1.0, DType::kBF16}}) {
    const std::string e = run_prefill_case(c, 9000 + c.group);
    EXPECT_TRUE(e.empty()) << describe(c) << ": " << e;
  }
}

TEST(CudaSparsePrefill, OnExistingCache) {
  SKIP_WITHOUT_GPU();
  // Queries start mid-block (start = 935): the first and last selection rows are partial tiles.
  for (const PrefillCase& c : {PrefillCase{1000, 65, 2, 4, 128, 0.5, DType::kBF16},
                               PrefillCase{1000, 1, 2, 3, 64, 1.0, DType::kF16},
                               PrefillCase{1000, 200, 1, 8, 128, 0.1, DType::kF16}}) {
    const std::string e = run_prefill_case(c, 777);
    EXPECT_TRUE(e.empty()) << describe(c) << ": " << e;
  }
}

TEST(CudaSparsePrefill, PerKvHeadRows) {
  SKIP_WITHOUT_GPU();
  // Even groups take the Hopper kernel's two-heads-per-CTA variant; odd ones the one-head variant.
  uint64_t seed = 4242;
  for (const PrefillCase& c : {PrefillCase{300, 300, 2, 4, 128, 0.5, DType::kBF16, true},
                               PrefillCase{1000, 130, 2, 2, 64, 0.3, DType::kF16, true},
                               PrefillCase{129, 129, 3, 8, 128, 0.0, DType::kBF16, true},
                               PrefillCase{700, 700, 1, 6, 64, 1.0, DType::kBF16, true},
                               PrefillCase{700, 700, 2, 3, 128, 0.2, DType::kF16, true}}) {
    const std::string e = run_prefill_case(c, seed += 7);
    EXPECT_TRUE(e.empty()) << describe(c) << ": " << e;
  }
}

TEST(CudaSparsePrefill, BlockSize128) {
  SKIP_WITHOUT_GPU();
  // 128-query rows and 128-key blocks: each row serves two 64-query tiles; a chunk starting mid-row.
  uint64_t seed = 7300;
  for (PrefillCase c : {PrefillCase{1000, 1000, 2, 4, 128, 0.3, DType::kBF16, true},
                        PrefillCase{1000, 1000, 2, 3, 64, 0.5, DType::kF16},
                        PrefillCase{700, 250, 1, 4, 128, 1.0, DType::kBF16},
                        PrefillCase{257, 257, 2, 2, 64, 0.0, DType::kBF16, true}}) {
    c.block_size = 128;
    const std::string e = run_prefill_case(c, seed += 9);
    EXPECT_TRUE(e.empty()) << describe(c) << ": " << e;
  }
}

TEST(CudaSparsePrefill, BatchedVariableLength) {
  SKIP_WITHOUT_GPU();
  // (kv_len, qo_len) per sequence: full prefills, chunks that start mid-block, one query.
  const std::vector<std::pair<int, int>> seqs{{300, 300}, {1000, 65}, {129, 129}, {64, 1}, {700, 200}, {65, 65}};
  struct C { int hkv, group, d; double density; DType t; bool per_kv_head; };
  uint64_t seed = 6100;
  for (const C& c : {C{2, 4, 128, 0.5, DType::kBF16, true}, C{2, 4, 128, 0.3, DType::kBF16, false},
                     C{1, 3, 64, 1.0, DType::kF16, false}, C{2, 2, 64, 0.2, DType::kF16, true},
                     C{1, 8, 128, 1.0, DType::kBF16, true}}) {
    const std::string e = run_batched_case(seqs, c.hkv, c.group, c.d, c.density, c.t, c.per_kv_head, seed += 13);
    EXPECT_TRUE(e.empty()) << "kv_heads " << c.hkv << " group " << c.group << " d " << c.d << " density "
                           << c.density << (c.per_kv_head ? " per_kv_head" : "") << ": " << e;
  }
}

TEST(CudaPlan, MaskToCsrFeedsPrefill) {
  SKIP_WITHOUT_GPU();
  for (const PrefillCase& c : {PrefillCase{1000, 1000, 1, 4, 64, 0.1, DType::kBF16, false, true},
                               PrefillCase{4097, 1000, 1, 2, 128, 0.5, DType::kF16, false, true},
                               PrefillCase{65, 65, 2, 3, 64, 0.0, DType::kBF16, false, true}}) {
    const std::string e = run_prefill_case(c, 31337);
    EXPECT_TRUE(e.empty()) << describe(c) << ": " << e;
  }
}

TEST(CudaPlan, DecodeSplitHeuristic) {
  using seer::cuda::choose_decode_splits;
  EXPECT_EQ(choose_decode_splits(8, 0, 132, 1), 1);
  EXPECT_EQ(choose_decode_splits(8, 3, 132, 1), 1);  // < 4 blocks per split is not worth it
  const int s = choose_decode_splits(8, 512, 132, 1);
  EXPECT_TRUE(s >= 8 && s <= 64) << "splits " << s;
  EXPECT_TRUE(choose_decode_splits(128, 512, 132, 1) <= 4);
}

struct DecodeCase {
  std::vector<int> kv_lens;
  int num_kv_heads, group, head_dim;
  double density;
  DType dtype;
  int num_splits;  // 0: plan_decode_splits
  // Block statistics (SparseDecodeParams::block_stat): none, the block max (1) or the block mass (2);
  // pooled over the group by max, or with group_sum by sum.
  int stats = 0;
  bool group_sum = false;
  bool fixed_stride = false;  // the lists as fixed-stride rows with counts (what the GPU gates write)
};

// The block statistics in double from the rounded inputs: per sequence and kv head, for each listed
// block, the group's max (sum) over heads of the block's largest probability (mass) under the softmax
// over the listed keys below kv_len. -1 where the row does not list the block.
std::vector<double> ref_decode_block_stats(const DecodeCase& c, const std::vector<float>& q, const std::vector<float>& k,
                                           const std::vector<int32_t>& offsets, const std::vector<int32_t>& indices,
                                           int max_context, int stride) {
  const int batch = int(c.kv_lens.size()), hq = c.num_kv_heads * c.group, d = c.head_dim;
  std::vector<double> out(size_t(batch) * c.num_kv_heads * stride, -1.0);
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < c.num_kv_heads; ++h) {
      const int row = b * c.num_kv_heads + h;
      double* o = out.data() + size_t(row) * stride;
      for (int i = offsets[row]; i < offsets[row + 1]; ++i) o[indices[i]] = 0.0;
      for (int g = 0; g < c.group; ++g) {
        const float* qh = q.data() + (size_t(b) * hq + h * c.group + g) * d;
        const float* kh = k.data() + (size_t(b) * c.num_kv_heads + h) * max_context * d;
        std::vector<std::pair<int, double>> logit;  // (key, scaled score)
        double mx = -INFINITY;
        for (int i = offsets[row]; i < offsets[row + 1]; ++i)
          for (int t = indices[i] * 64; t < std::min((indices[i] + 1) * 64, c.kv_lens[b]); ++t) {
            double dot = 0.0;
            for (int e = 0; e < d; ++e) dot += double(qh[e]) * kh[size_t(t) * d + e];
            logit.emplace_back(t, dot / std::sqrt(double(d)));
            mx = std::max(mx, logit.back().second);
          }
        double sum = 0.0;
        for (auto& [t, x] : logit) sum += (x = std::exp(x - mx));
        std::vector<double> stat(size_t(stride), 0.0);
        for (const auto& [t, x] : logit)
          stat[size_t(t / 64)] = c.stats == 2 ? stat[size_t(t / 64)] + x / sum : std::max(stat[size_t(t / 64)], x / sum);
        for (int i = offsets[row]; i < offsets[row + 1]; ++i) {
          const int j = indices[i];
          o[j] = c.group_sum ? o[j] + stat[size_t(j)] : std::max(o[j], stat[size_t(j)]);
        }
      }
    }
  return out;
}

std::string run_decode_case(const DecodeCase& c, uint64_t seed) {
  const int batch = int(c.kv_lens.size()), hq = c.num_kv_heads * c.group, d = c.head_dim;
  const int max_context = *std::max_element(c.kv_lens.begin(), c.kv_lens.end()) + 5;
  const size_t cache_per_seq = size_t(c.num_kv_heads) * max_context * d;
  Rounded q = random_rounded(size_t(batch) * hq * d, seed, c.dtype, 2.0f);
  Rounded k = random_rounded(cache_per_seq * batch, seed + 1, c.dtype, 1.0f);
  Rounded v = random_rounded(cache_per_seq * batch, seed + 2, c.dtype, 1.0f);
  std::vector<float> ref(q.f.size()), naive(q.f.size());
  std::vector<int32_t> offsets{0}, indices;
  int max_blocks = 0;
  for (int b = 0; b < batch; ++b) {
    const int first_qb = (c.kv_lens[b] - 1) / 64;
    BlockSelection sel = random_selection(c.num_kv_heads, true, first_qb, 1, c.density, seed + 3 + b);
    for (int h = 0; h < c.num_kv_heads; ++h) {
      for (int i = sel.offsets[h]; i < sel.offsets[h + 1]; ++i) indices.push_back(sel.indices[i]);
      offsets.push_back(int32_t(indices.size()));
      max_blocks = std::max(max_blocks, sel.offsets[h + 1] - sel.offsets[h]);
    }
    seer::AttentionParams ap;
    ap.q = q.f.data() + size_t(b) * hq * d;
    ap.k_cache = k.f.data() + b * cache_per_seq;
    ap.v_cache = v.f.data() + b * cache_per_seq;
    ap.qo_len = 1;
    ap.kv_len = c.kv_lens[b];
    ap.num_qo_heads = hq;
    ap.num_kv_heads = c.num_kv_heads;
    ap.head_dim = d;
    ap.max_context = max_context;
    ap.scale = 1.0f / std::sqrt(float(d));
    ap.out = ref.data() + size_t(b) * hq * d;
    seer::ref_attention(ap, sel);
    ap.out = naive.data() + size_t(b) * hq * d;
    naive_attention(ap, sel, c.dtype);
  }
  int splits = c.num_splits;
  if (splits == 0) {
    seer::Status st = seer::cuda::plan_decode_splits(c.dtype, d, batch, c.num_kv_heads, max_blocks, &splits);
    if (!st.is_ok()) return "plan_decode_splits: " + st.message();
  }
  DeviceBuffer<uint16_t> dq(q.h.size()), dk(k.h.size()), dv(v.h.size()), dout(q.h.size());
  DeviceBuffer<int32_t> dlen(batch), doff(offsets.size()), didx(std::max<size_t>(indices.size(), 1));
  const int64_t ws = seer::cuda::sparse_decode_workspace_floats(batch, hq, d, splits, c.stats != 0);
  DeviceBuffer<float> dws(size_t(std::max<int64_t>(ws, 1)));
  const int stride = (max_context + 63) / 64 + 1;  // above every row's block count
  DeviceBuffer<float> dstat(size_t(batch) * c.num_kv_heads * stride), dlogit(size_t(batch) * hq * stride);
  if (!dstat.ptr || !dlogit.ptr) return "cudaMalloc failed";
  // Fixed-stride rows: row r's blocks at r * row_stride, the slots past its count poisoned (an index far
  // past every cache: a read of one would fault under memcheck or show in the output).
  const int row_stride = std::max(max_blocks, 1);
  std::vector<int32_t> counts, strided((offsets.size() - 1) * size_t(row_stride), 1 << 28);
  for (size_t r = 0; r + 1 < offsets.size(); ++r) {
    counts.push_back(offsets[r + 1] - offsets[r]);
    std::copy(indices.begin() + offsets[r], indices.begin() + offsets[r + 1], strided.begin() + r * row_stride);
  }
  DeviceBuffer<int32_t> dcounts(counts.size()), dstrided(strided.size());
  if (!dcounts.ptr || !dstrided.ptr) return "cudaMalloc failed";
  dcounts.upload(counts);
  dstrided.upload(strided);
  if (!dq.ptr || !dk.ptr || !dv.ptr || !dout.ptr || !dlen.ptr || !doff.ptr || !didx.ptr || !dws.ptr)
    return "cudaMalloc failed";
  dq.upload(q.h);
  dk.upload(k.h);
  dv.upload(v.h);
  dlen.upload(std::vector<int32_t>(c.kv_lens.begin(), c.kv_lens.end()));
  doff.upload(offsets);
  if (!indices.empty()) didx.upload(indices);
  cudaMemset(dout.ptr, 0xff, dout.n * 2);
  cudaMemset(dws.ptr, 0xff, dws.n * 4);  // NaN partials: an unwritten split would show
  seer::cuda::SparseDecodeParams p;
  p.q = dq.ptr;
  p.k_cache = dk.ptr;
  p.v_cache = dv.ptr;
  p.out = dout.ptr;
  p.kv_len = dlen.ptr;
  p.row_offsets = doff.ptr;
  p.block_indices = didx.ptr;
  p.partial_o = dws.ptr;
  p.partial_lse = dws.ptr + size_t(batch) * hq * splits * d;
  p.dtype = c.dtype;
  p.batch_size = batch;
  p.num_qo_heads = hq;
  p.num_kv_heads = c.num_kv_heads;
  p.head_dim = d;
  p.max_context = max_context;
  p.num_splits = splits;
  p.scale = 1.0f / std::sqrt(float(d));
  if (c.fixed_stride) {
    p.row_offsets = nullptr;
    p.block_indices = dstrided.ptr;
    p.row_counts = dcounts.ptr;
    p.row_stride = row_stride;
  }
  if (c.stats) {
    cudaMemset(dstat.ptr, 0xff, dstat.n * 4);  // NaN: an entry written for an unlisted block would show
    cudaMemset(dlogit.ptr, 0xff, dlogit.n * 4);  // NaN: a read of an unwritten block logit would show
    p.block_stat = dstat.ptr;
    p.block_logit = dlogit.ptr;
    p.stat_stride = stride;
    p.block_mass = c.stats == 2;
    p.group_sum = c.group_sum;
  }
  seer::Status st = seer::cuda::launch_sparse_decode(p, nullptr);
  if (!st.is_ok()) return "launch_sparse_decode: " + st.message();
  cudaError_t err = cudaDeviceSynchronize();
  if (err != cudaSuccess) return std::string("kernel fault: ") + cudaGetErrorString(err);
  if (c.stats) {  // fp32 sums and ex2.approx against double: 1e-4 relative, 1e-6 absolute
    const std::vector<double> want = ref_decode_block_stats(c, q.f, k.f, offsets, indices, max_context, stride);
    const std::vector<float> got = dstat.download();
    for (size_t i = 0; i < want.size(); ++i) {
      const bool listed = want[i] >= 0.0;
      if (listed ? !(std::fabs(got[i] - want[i]) <= 1e-6 + 1e-4 * want[i]) : !std::isnan(got[i]))
        return "block statistic " + std::to_string(i) + " (row " + std::to_string(i / stride) + ", block " +
               std::to_string(i % stride) + "): " + std::to_string(got[i]) + ", want " +
               (listed ? std::to_string(want[i]) : std::string("unwritten"));
    }
  }
  std::vector<uint16_t> out_h = dout.download();
  std::vector<float> out(out_h.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = float_of(out_h[i], c.dtype);
  std::string where_k, where_n;
  const double ek = max_err(out, ref, &where_k), en = max_err(naive, ref, &where_n);
  if (!(ek <= 2.0 * en + kFloor))
    return "error " + std::to_string(ek) + " at " + where_k + " > 2 * naive " + std::to_string(en) +
           " + floor (splits " + std::to_string(splits) + ")";
  return "";
}

std::string describe(const DecodeCase& c) {
  std::string s = "kv_lens=";
  for (int l : c.kv_lens) s += std::to_string(l) + ",";
  return s + " kv_heads=" + std::to_string(c.num_kv_heads) + " group=" + std::to_string(c.group) +
         " head_dim=" + std::to_string(c.head_dim) + " density=" + std::to_string(c.density) + " " +
         seer::cuda::dtype_name(c.dtype) + " splits=" + std::to_string(c.num_splits);
}

TEST(CudaSparseDecode, BatchSweep) {
  SKIP_WITHOUT_GPU();
  const std::vector<int> lens{1, 63, 64, 65, 1000, 4097};
  uint64_t seed = 20000;
  int i = 0;
  for (int group : {1, 3, 4, 8})
    for (int hd : {64, 128})
      for (double density : {0.0, 0.1, 0.5, 1.0})
        for (int splits : {1, 3, 0, 64}) {  // 64: more splits than blocks, many empty ones
          DecodeCase c{lens, 2, group, hd, density, (i++ % 2) ? DType::kF16 : DType::kBF16, splits};
          const std::string e = run_decode_case(c, seed += 10);
          EXPECT_TRUE(e.empty()) << describe(c) << ": " << e;
        }
}

// The oracle's statistics from the decode kernel (block_stat): every split count, both statistics and
// group pools, sparse and dense lists, CSR and fixed-stride rows, against a double reference over the
// listed keys. Group pool, dtype, head_dim and row form are parities of different loop indices, so each
// meets each split count and each statistic both ways.
TEST(CudaSparseDecode, BlockStatisticsMatchReference) {
  SKIP_WITHOUT_GPU();
  const std::vector<int> lens{1, 64, 65, 1000, 4097};
  const int groups[] = {1, 3, 8}, splits_of[] = {1, 3, 0, 64};
  const double densities[] = {0.0, 0.3, 1.0};
  uint64_t seed = 31000;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c4 = 0; c4 < 4; ++c4)
        for (int e = 0; e < 2; ++e) {
          DecodeCase c{lens, 2, groups[a], (a + b + e) % 2 ? 128 : 64, densities[b],
                       (a + b + c4) % 2 ? DType::kF16 : DType::kBF16, splits_of[c4], 1 + e, (c4 + e) % 2 == 1,
                       (b + e + a) % 2 == 1};
          const std::string err = run_decode_case(c, seed += 10);
          EXPECT_TRUE(err.empty()) << describe(c) << " stats=" << c.stats << " group_sum=" << c.group_sum
                                   << " fixed_stride=" << c.fixed_stride << ": " << err;
        }
}

TEST(CudaSparseDecode, LongSingleSequence) {
  SKIP_WITHOUT_GPU();
  DecodeCase c{{20000}, 8, 4, 128, 0.1, DType::kBF16, 0};
  const std::string e = run_decode_case(c, 999);
  EXPECT_TRUE(e.empty()) << describe(c) << ": " << e;
}

// On an sm_90 device the suite must exercise the Hopper kernel (gpu-check builds for sm_90a), not
// silently test only the mma.sync one.
TEST(CudaSparsePrefill, HopperKernelRunsOnSm90) {
  SKIP_WITHOUT_GPU();
  int dev = 0, major = 0, minor = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
  if (major != 9 || minor != 0) GTEST_SKIP() << "not an sm_90 device";
  EXPECT_TRUE(seer::cuda::sparse_prefill_sm90_available());
  EXPECT_EQ(prefill_paths().size(), 2u);
}

TEST(CudaErrors, BadShapesAreReported) {
  seer::cuda::SparsePrefillParams pp;
  pp.head_dim = 96;
  seer::Status st = seer::cuda::launch_sparse_prefill(pp, nullptr);
  EXPECT_TRUE(!st.is_ok() && st.message().find("head_dim 96") != std::string::npos) << st.message();
  seer::cuda::SparseDecodeParams dp;
  dp.head_dim = 128;
  dp.num_qo_heads = 40;
  dp.num_kv_heads = 2;
  st = seer::cuda::launch_sparse_decode(dp, nullptr);
  EXPECT_TRUE(!st.is_ok() && st.message().find("group_size 20") != std::string::npos) << st.message();
  // The block statistics' options and workspace (pointers that validation never follows).
  alignas(16) static float fake[16];
  seer::cuda::SparseDecodeParams sp;
  sp.head_dim = 128;
  sp.num_qo_heads = 8;
  sp.num_kv_heads = 2;
  sp.batch_size = 1;
  sp.q = sp.k_cache = sp.v_cache = sp.out = fake;
  sp.kv_len = sp.row_offsets = sp.block_indices = reinterpret_cast<const int32_t*>(fake);
  sp.block_mass = true;
  st = seer::cuda::launch_sparse_decode(sp, nullptr);
  EXPECT_TRUE(!st.is_ok() && st.message().find("block_stat is null") != std::string::npos) << st.message();
  sp.block_stat = fake;
  st = seer::cuda::launch_sparse_decode(sp, nullptr);
  EXPECT_TRUE(!st.is_ok() && st.message().find("block_logit workspace (null)") != std::string::npos) << st.message();
  sp.block_logit = fake;
  st = seer::cuda::launch_sparse_decode(sp, nullptr);
  EXPECT_TRUE(!st.is_ok() && st.message().find("partial_lse (null), also with num_splits 1") != std::string::npos)
      << st.message();
  sp.partial_lse = fake;
  st = seer::cuda::launch_sparse_decode(sp, nullptr);
  EXPECT_TRUE(!st.is_ok() && st.message().find("stat_stride >= 1 (got 0)") != std::string::npos) << st.message();
}

}  // namespace

#ifdef SEER_CUDA_MINI_GTEST
MINI_GTEST_MAIN
#endif
