// Block-sparse attention kernel vs references: the direct sparse loop (ref_attention) and dense
// attention with the selection expanded to a token mask. Fresh random inputs, poisoned outputs,
// odd lengths, GQA groups 1/3/4/8, head_dim 64/128 (vector path) and 16/40 (scalar path),
// densities 0..1 and empty rows, prefill on an empty cache and on top of an existing one, decode.
#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/thread_pool.h"
#include "test_util.h"

namespace seer {
namespace {

struct Case {
  int qo_len, kv_len, num_qo_heads, num_kv_heads, head_dim;
  double density;  // fraction of causal blocks kept per row (random); 1 = dense
  bool per_kv_head;
  int block_size = 64;
};

// Random selection: each row keeps each causal block with probability `density` (ascending order).
BlockSelection random_selection(const AttentionParams& p, double density, bool per_kv_head, int bs,
                                uint64_t seed) {
  BlockSelection sel;
  const int first = p.start_pos() / bs, last = (p.kv_len - 1) / bs;
  sel.set_dense(per_kv_head ? p.num_kv_heads : p.num_qo_heads, per_kv_head, first, last - first + 1, bs);
  if (density >= 1.0) return sel;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<int32_t> offsets{0}, indices;
  for (int row = 0; row < sel.num_heads * sel.num_rows; ++row) {
    const int qb = first + row % sel.num_rows;
    for (int j = 0; j <= qb; ++j)
      if (u(rng) < density) indices.push_back(j);
    offsets.push_back(int32_t(indices.size()));
  }
  sel.offsets = offsets;
  sel.indices = indices;
  return sel;
}

// Dense softmax attention with a token-level mask derived from the selection (double precision).
void dense_masked(const AttentionParams& p, const BlockSelection& sel, std::vector<float>& out) {
  const int d = p.head_dim, g = p.num_qo_heads / p.num_kv_heads;
  for (int t = 0; t < p.qo_len; ++t) {
    const int qpos = p.start_pos() + t;
    const int qb = qpos / sel.block_size;
    for (int h = 0; h < p.num_qo_heads; ++h) {
      const int kvh = h / g;
      const int sel_head = sel.per_kv_head ? kvh : h;
      const int row = sel_head * sel.num_rows + (qb - sel.first_q_block);
      std::vector<char> allowed(size_t(p.kv_len), 0);
      for (int b = sel.offsets[row]; b < sel.offsets[row + 1]; ++b)
        for (int kp = sel.indices[b] * sel.block_size; kp < (sel.indices[b] + 1) * sel.block_size && kp < p.kv_len; ++kp)
          allowed[size_t(kp)] = kp <= qpos;
      std::vector<double> s(size_t(p.kv_len), -INFINITY);
      double mx = -INFINITY;
      const float* qi = p.q + (size_t(t) * p.num_qo_heads + h) * d;
      for (int kp = 0; kp < p.kv_len; ++kp) {
        if (!allowed[size_t(kp)]) continue;
        const float* kk = p.k_cache + (size_t(kvh) * p.max_context + kp) * d;
        double acc = 0;
        for (int c = 0; c < d; ++c) acc += double(qi[c]) * kk[c];
        s[size_t(kp)] = acc * p.scale;
        mx = std::max(mx, s[size_t(kp)]);
      }
      float* o = out.data() + (size_t(t) * p.num_qo_heads + h) * d;
      if (mx == -INFINITY) {
        std::fill(o, o + d, 0.0f);
        continue;
      }
      std::vector<double> acc(size_t(d), 0.0);
      double l = 0;
      for (int kp = 0; kp < p.kv_len; ++kp) {
        if (!allowed[size_t(kp)]) continue;
        const double w = std::exp(s[size_t(kp)] - mx);
        l += w;
        const float* vv = p.v_cache + (size_t(kvh) * p.max_context + kp) * d;
        for (int c = 0; c < d; ++c) acc[size_t(c)] += w * vv[c];
      }
      for (int c = 0; c < d; ++c) o[c] = float(acc[size_t(c)] / l);
    }
  }
}

void run_case(const Case& c, uint64_t seed, ThreadPool& pool) {
  SCOPED_TRACE(testing::Message() << "qo_len " << c.qo_len << " kv_len " << c.kv_len << " heads "
                                  << c.num_qo_heads << "/" << c.num_kv_heads << " d " << c.head_dim
                                  << " density " << c.density << " per_kv_head " << c.per_kv_head
                                  << " block " << c.block_size);
  const int max_context = c.kv_len + 7;  // padding: rows past kv_len must never be read
  auto q = test::random_vector(size_t(c.qo_len) * c.num_qo_heads * c.head_dim, seed, -2, 2);
  auto k = test::random_vector(size_t(c.num_kv_heads) * max_context * c.head_dim, seed + 1, -2, 2);
  auto v = test::random_vector(size_t(c.num_kv_heads) * max_context * c.head_dim, seed + 2);
  // Poison the cache beyond kv_len: a kernel reading a key that does not exist produces NaN.
  for (int h = 0; h < c.num_kv_heads; ++h)
    for (int t = c.kv_len; t < max_context; ++t)
      for (int e = 0; e < c.head_dim; ++e) {
        k[(size_t(h) * max_context + t) * c.head_dim + e] = NAN;
        v[(size_t(h) * max_context + t) * c.head_dim + e] = NAN;
      }
  AttentionParams p;
  p.q = q.data();
  p.k_cache = k.data();
  p.v_cache = v.data();
  p.qo_len = c.qo_len;
  p.kv_len = c.kv_len;
  p.num_qo_heads = c.num_qo_heads;
  p.num_kv_heads = c.num_kv_heads;
  p.head_dim = c.head_dim;
  p.max_context = max_context;
  p.scale = 1.0f / std::sqrt(float(c.head_dim));
  const BlockSelection sel = random_selection(p, c.density, c.per_kv_head, c.block_size, seed + 3);

  const size_t n = size_t(c.qo_len) * c.num_qo_heads * c.head_dim;
  std::vector<float> fast(n), ref(n), dense(n);
  test::poison(fast);
  test::poison(ref);
  p.out = fast.data();
  attention(p, sel, pool);
  p.out = ref.data();
  ref_attention(p, sel);
  dense_masked(p, sel, dense);
  std::string why;
  // fp32 kernel vs double references; outputs are convex combinations of values in [-1, 1].
  EXPECT_LE(test::max_abs_diff(fast.data(), ref.data(), n, &why), 2e-5) << why;
  EXPECT_LE(test::max_abs_diff(ref.data(), dense.data(), n, &why), 1e-6) << why;
}

TEST(Attention, PrefillSweep) {
  ThreadPool pool(2);
  uint64_t seed = 1000;
  for (int d : {64, 128})
    for (int g : {1, 3, 4, 8})
      for (int len : {1, 63, 64, 65, 200})
        for (double density : {0.0, 0.1, 0.5, 1.0}) run_case({len, len, 2 * g, 2, d, density, false}, seed++, pool);
}

TEST(Attention, LongPrefillOddLength) {
  ThreadPool pool(2);
  run_case({1000, 1000, 6, 2, 64, 0.3, false}, 7, pool);
  run_case({4097, 4097, 3, 1, 64, 0.05, false}, 8, pool);
}

TEST(Attention, ScalarHeadDims) {
  ThreadPool pool(2);
  for (int d : {16, 40}) {
    run_case({70, 70, 4, 2, d, 1.0, false}, 11, pool);
    run_case({1, 300, 4, 2, d, 0.5, true}, 12, pool);
  }
}

TEST(Attention, PrefillOnExistingCache) {
  ThreadPool pool(2);
  run_case({100, 230, 8, 2, 64, 1.0, false}, 21, pool);
  run_case({37, 1000, 9, 3, 128, 0.4, false}, 22, pool);
}

// Few rows of blocks of 128 on many threads: the split path would run a row's 100 query tokens as one
// tile of at most 64; such rows take the plain path (this aborted before).
TEST(Attention, Block128ChunkOnManyThreads) {
  ThreadPool pool(32);
  run_case({100, 1000, 3, 1, 64, 1.0, false, 128}, 31, pool);
  run_case({100, 1000, 9, 3, 64, 0.5, true, 128}, 32, pool);
  run_case({1, 1000, 9, 3, 64, 0.5, true, 128}, 33, pool);  // decode still splits
}

TEST(Attention, DecodePerKvHeadSplit) {
  ThreadPool pool(2);
  uint64_t seed = 40;
  for (int g : {1, 2, 3, 4, 6, 8})
    for (int len : {1, 64, 65, 1000, 4097})
      for (double density : {0.0, 0.1, 1.0}) {
        run_case({1, len, 2 * g, 2, 64, density, true}, seed++, pool);
        run_case({1, len, 2 * g, 2, 128, density, false}, seed++, pool);
      }
  // A group of 12 rows: more than scores_direct takes, so the tile is transposed as in prefill.
  for (int len : {70, 1000}) run_case({1, len, 24, 2, 128, 1.0, true}, seed++, pool);
  run_case({1, 1000, 6, 2, 128, 0.5, true}, seed++, pool);
}

TEST(Attention, EmptyRowGivesZeros) {
  ThreadPool pool(2);
  AttentionParams p;
  const int d = 64, len = 130;
  auto q = test::random_vector(size_t(len) * 2 * d, 1), k = test::random_vector(size_t(len) * d, 2),
       v = test::random_vector(size_t(len) * d, 3);
  p.q = q.data(), p.k_cache = k.data(), p.v_cache = v.data();
  p.qo_len = p.kv_len = p.max_context = len;
  p.num_qo_heads = 2, p.num_kv_heads = 1, p.head_dim = d, p.scale = 0.125f;
  BlockSelection sel;
  sel.set_dense(2, false, 0, 3, 64);
  // Empty the middle row of head 1.
  const int row = 1 * 3 + 1;
  const int removed = sel.offsets[row + 1] - sel.offsets[row];
  sel.indices.erase(sel.indices.begin() + sel.offsets[row], sel.indices.begin() + sel.offsets[row + 1]);
  for (size_t r = size_t(row) + 1; r < sel.offsets.size(); ++r) sel.offsets[r] -= removed;
  std::vector<float> out(size_t(len) * 2 * d);
  test::poison(out);
  p.out = out.data();
  attention(p, sel, pool);
  for (int t = 64; t < 128; ++t)
    for (int e = 0; e < d; ++e) ASSERT_EQ(out[(size_t(t) * 2 + 1) * d + e], 0.0f);
  for (int t = 0; t < 64; ++t) ASSERT_NE(out[(size_t(t) * 2 + 1) * d], 0.0f);
}

}  // namespace
}  // namespace seer
