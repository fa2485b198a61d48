// Token sampling kernel; see sample.cuh. One CTA of 1024 threads: thread t reads entries t, t + 1024, ...
#include "kernels/cuda/sample.cuh"

namespace seer::cuda {
namespace {

constexpr int kThreads = 1024, kWarps = kThreads / 32;

// Order-preserving key: larger logit, larger key; NaN as -inf; -0 as +0 (as the select kernels).
__device__ __forceinline__ uint32_t order_key(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) u = 0xff800000u;
  if ((u << 1) == 0) u = 0;
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ int cta_sum(int v, int* tmp) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) tmp[threadIdx.x >> 5] = v;
  __syncthreads();
  int t = 0;
  for (int w = 0; w < kWarps; ++w) t += tmp[w];
  __syncthreads();
  return t;
}

// The smallest index whose key is `key` and which is not below `from`; vocab when none.
__device__ int cta_min_index(const float* logits, int vocab, uint32_t key, int from, int* tmp) {
  int best = vocab;
  for (int j = threadIdx.x; j < vocab; j += kThreads)
    if (j >= from && order_key(logits[j]) == key) {
      best = j;
      break;  // entries of one thread ascend
    }
  for (int o = 16; o > 0; o >>= 1) best = min(best, __shfl_xor_sync(0xffffffffu, best, o));
  if ((threadIdx.x & 31) == 0) tmp[threadIdx.x >> 5] = best;
  __syncthreads();
  int b = vocab;
  for (int w = 0; w < kWarps; ++w) b = min(b, tmp[w]);
  __syncthreads();
  return b;
}

__global__ void __launch_bounds__(kThreads) sample_kernel(const SampleParams p) {
  __shared__ int tmp[kWarps];
  __shared__ int count;
  __shared__ float cand_logit[kMaxSampleTopK];
  __shared__ int cand_index[kMaxSampleTopK];
  __shared__ float sorted_logit[kMaxSampleTopK];
  __shared__ int sorted_index[kMaxSampleTopK];
  const int t = threadIdx.x, n = p.vocab;
  const float* l = p.logits;

  if (p.temperature <= 0.0f) {  // argmax, the first of equal maxima (std::max_element)
    uint32_t best = 0;
    int at = n;
    for (int j = t; j < n; j += kThreads) {
      const uint32_t key = order_key(l[j]);
      if (key > best || at == n) {
        best = key;
        at = j;
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      const uint32_t ob = __shfl_xor_sync(0xffffffffu, best, o);
      const int oa = __shfl_xor_sync(0xffffffffu, at, o);
      if (ob > best || (ob == best && oa < at)) {
        best = ob;
        at = oa;
      }
    }
    __shared__ uint32_t wb[kWarps];
    __shared__ int wa[kWarps];
    if ((t & 31) == 0) {
      wb[t >> 5] = best;
      wa[t >> 5] = at;
    }
    __syncthreads();
    if (t == 0) {
      for (int w = 1; w < kWarps; ++w)
        if (wb[w] > best || (wb[w] == best && wa[w] < at)) {
          best = wb[w];
          at = wa[w];
        }
      // A NaN logit ranks as -inf here; std::max_element never picks NaN over a number either.
      *p.token = at;
    }
    return;
  }

  // The k-th largest key (k = top_k < vocab), then the k candidates.
  const int k = p.top_k;
  uint32_t kth = 0;
  for (int bit = 31; bit >= 0; --bit) {
    const uint32_t cand = kth | (1u << bit);
    int c = 0;
    for (int j = t; j < n; j += kThreads) c += order_key(l[j]) >= cand;
    if (cta_sum(c, tmp) >= k) kth = cand;
  }
  if (t == 0) count = 0;
  __syncthreads();
  for (int j = t; j < n; j += kThreads) {
    const float v = l[j];
    if (order_key(v) > kth) {
      const int slot = atomicAdd(&count, 1);
      cand_logit[slot] = v;
      cand_index[slot] = j;
    }
  }
  __syncthreads();
  // The lowest indices among the logits equal to the k-th fill the remaining places.
  int from = 0;
  for (int filled = count; filled < k; ++filled) {
    const int j = cta_min_index(l, n, kth, from, tmp);
    if (t == 0) {
      cand_logit[filled] = l[j];
      cand_index[filled] = j;
    }
    from = j + 1;
  }
  __syncthreads();
  // Order by (logit desc, index asc): each candidate's rank is the number that precede it. NaN
  // compares as in std::sort over the host's pairs only if absent; logits are finite numbers here.
  for (int i = t; i < k; i += kThreads) {
    const float li = cand_logit[i];
    const int ii = cand_index[i];
    int rank = 0;
    for (int m = 0; m < k; ++m) {
      const float lm = cand_logit[m];
      rank += lm > li || (lm == li && cand_index[m] < ii);
    }
    sorted_logit[rank] = li;
    sorted_index[rank] = ii;
  }
  __syncthreads();
  if (t != 0) return;
  // As Sampler::sample: weights in double, the top-p cut, the draw.
  const double mx = sorted_logit[0];
  double total = 0.0;
  for (int i = 0; i < k; ++i) total += exp((double(sorted_logit[i]) - mx) / double(p.temperature));
  int keep = k;
  if (p.top_p < 1.0f) {
    double cum = 0.0;
    for (int i = 0; i < k; ++i) {
      cum += exp((double(sorted_logit[i]) - mx) / double(p.temperature)) / total;
      if (cum >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
    total = 0.0;
    for (int i = 0; i < keep; ++i) total += exp((double(sorted_logit[i]) - mx) / double(p.temperature));
  }
  const double r = p.u * total;
  double acc = 0.0;
  int pick = sorted_index[keep - 1];
  for (int i = 0; i < keep; ++i) {
    acc += exp((double(sorted_logit[i]) - mx) / double(p.temperature));
    if (r < acc) {
      pick = sorted_index[i];
      break;
    }
  }
  *p.token = pick;
}

}  // namespace

cudaError_t run_sample(const SampleParams& p, cudaStream_t stream) {
  if (p.vocab < 1 || !p.logits || !p.token) return cudaErrorInvalidValue;
  if (p.temperature > 0.0f && (p.top_k < 1 || p.top_k > kMaxSampleTopK || p.top_k >= p.vocab))
    return cudaErrorInvalidValue;
  sample_kernel<<<1, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

namespace {

constexpr int kNllThreads = 256;

__global__ void __launch_bounds__(kNllThreads) token_nll_kernel(const NllParams p) {
  __shared__ float wmax[kNllThreads / 32];
  __shared__ double wsum[kNllThreads / 32];
  const float* l = p.logits + int64_t(blockIdx.x) * p.vocab;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float m = -INFINITY;
  for (int i = threadIdx.x; i < p.vocab; i += kNllThreads) m = fmaxf(m, l[i]);
  for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  if (lane == 0) wmax[warp] = m;
  __syncthreads();
  m = wmax[0];
  for (int w = 1; w < kNllThreads / 32; ++w) m = fmaxf(m, wmax[w]);
  double s = 0.0;
  for (int i = threadIdx.x; i < p.vocab; i += kNllThreads) s += exp(double(l[i]) - double(m));
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (lane == 0) wsum[warp] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    double t = 0.0;
    for (int w = 0; w < kNllThreads / 32; ++w) t += wsum[w];
    p.nll[blockIdx.x] = log(t) + double(m) - double(l[p.targets[blockIdx.x]]);
  }
}

}  // namespace

cudaError_t run_token_nll(const NllParams& p, cudaStream_t stream) {
  if (p.vocab < 1 || p.rows < 0 || !p.logits || !p.targets || !p.nll) return cudaErrorInvalidValue;
  if (p.rows == 0) return cudaSuccess;
  token_nll_kernel<<<p.rows, kNllThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace seer::cuda
