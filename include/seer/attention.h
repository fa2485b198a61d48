// The attention interface: which key blocks each query may see.
//
// Keys are grouped in blocks of `block_size` tokens by absolute position (block j holds positions
// [j*block_size, (j+1)*block_size)). A BlockSelection lists, for every (head, query block) row, the
// key blocks the attention kernel will visit, in ascending order (CSR layout). Within a visited block
// the causal rule (key position <= query position) is always applied element-wise, so a dense causal
// attention is simply "every block 0..qb" for query block qb.
//
//  * prefill (qo_len > 1): rows are (qo_head, query block) for the query blocks that the new tokens
//    touch: num_heads = num_qo_heads, num_rows = last_q_block - first_q_block + 1.
//  * decode (qo_len == 1): SeerAttention-R shares one selection per KV head across its GQA group:
//    num_heads = num_kv_heads, num_rows = 1. (A policy may also give per-qo-head rows.)
//
// An AttentionPolicy fills a BlockSelection per layer; `nullptr`/dense selects every causal block.
#pragma once

#include <seer/status.h>

#include <cstdint>
#include <span>
#include <vector>

namespace seer {

class ThreadPool;

struct BlockSelection {
  int block_size = 64;
  int num_heads = 0;       // num_qo_heads, or num_kv_heads when per_kv_head
  bool per_kv_head = false;
  int first_q_block = 0;   // absolute block index of row 0
  int num_rows = 0;        // query blocks per head
  // CSR: row r of head h is (h * num_rows + r); its key blocks are
  // indices[offsets[row] .. offsets[row+1]), ascending, each <= first_q_block + r.
  std::vector<int32_t> offsets;  // [num_heads * num_rows + 1]
  std::vector<int32_t> indices;  // [nnz]

  int64_t num_selected() const { return int64_t(indices.size()); }
  // Fills every causal block (dense attention).
  void set_dense(int num_heads, bool per_kv_head, int first_q_block, int num_rows, int block_size);
};

// What a policy sees for one layer. Layouts are token-major.
struct AttentionContext {
  int layer = 0;
  int qo_len = 0;     // new tokens in this forward
  int kv_len = 0;     // tokens in the cache including the new ones (positions 0..kv_len-1)
  int start_pos = 0;  // absolute position of the first new token (= kv_len - qo_len)
  int num_qo_heads = 0, num_kv_heads = 0, head_dim = 0;
  // Pre-RoPE (after q_norm / k_norm); on a GPU session null for a policy whose needs_pre_rope_qk() is false.
  const float* q_nope = nullptr;  // [qo_len, num_qo_heads, head_dim]
  const float* k_nope = nullptr;  // [qo_len, num_kv_heads, head_dim]
  const float* q = nullptr;       // [qo_len, num_qo_heads, head_dim] post-RoPE
  const float* k_cache = nullptr; // [num_kv_heads, max_context, head_dim] post-RoPE, valid up to kv_len
  const float* v_cache = nullptr; // [num_kv_heads, max_context, head_dim]
  int max_context = 0;
  ThreadPool* pool = nullptr;     // the session's threads, for policies that compute scores
  // This layer's attention block statistics, when the policy asked for them
  // (AttentionPolicy::scores_from_attention) and the session computed them (a GPU session does; the
  // CPU leaves it null): prefill [num_qo_heads, q_blocks, nb] (GroundTruthRequest::pool_2d), decode
  // [num_kv_heads, nb] (GroundTruthRequest::group_max of the one query row); nb = ceil(kv_len / 64).
  const float* block_scores = nullptr;

  // The shape fields of one layer's forward over qo_len new tokens (the data pointers stay null).
  static AttentionContext shape(int layer, int qo_len, int kv_len, int num_qo_heads, int num_kv_heads, int head_dim,
                                int max_context) {
    AttentionContext c;
    c.layer = layer;
    c.qo_len = qo_len;
    c.kv_len = kv_len;
    c.start_pos = kv_len - qo_len;
    c.num_qo_heads = num_qo_heads;
    c.num_kv_heads = num_kv_heads;
    c.head_dim = head_dim;
    c.max_context = max_context;
    return c;
  }
};

// What a training policy asks of a prefill layer's attention (AttentionPolicy::ground_truth). The
// block maxima are, per query row and qo head, the largest attention probability inside each key
// block of `block_size` tokens (0 for blocks the row did not reach); nb = ceil(kv_len / block_size).
// Buffers are the policy's, on the host; a null one is not computed. The GPU reduces on the device
// and copies back only these (the full maxima of an 8k row of SmolLM2 are 38 MB a layer).
// What gate training's ground truth takes of each key block, per query row and qo head: the largest
// attention probability in the block (kMax, SPEC §4.1, §4.2), or the block's share of the row's
// attention, the sum of its probabilities (kMass, a project option: `train-gates --ground-truth mass`).
// The pool over a query block's rows takes the max of either; the pool over a GQA group's query
// heads (the decode targets) takes the max (SPEC §4.2) or, with kSum, their sum (a project option:
// `train-gates --group-pool sum`, the group's total share of each block).
enum class BlockStat { kMax, kMass };
enum class GroupPool { kMax, kSum };

struct GroundTruthRequest {
  int block_size = 64;  // a multiple of 64 (the GPU: 64)
  BlockStat stat = BlockStat::kMax;
  GroupPool group = GroupPool::kMax;  // how group_max pools the group's heads
  // [num_qo_heads, q_blocks, nb], SPEC §4.1: per query block the forward's queries touch (q_blocks
  // of them, the first start_pos / block_size), the max over its query rows in this forward.
  float* pool_2d = nullptr;
  // [rows.size(), num_kv_heads, nb], SPEC §4.2: at each query row (an index into this forward's
  // queries), the max (or, GroupPool::kSum, the sum) over the qo heads of each KV head's group.
  float* group_max = nullptr;
  std::span<const int> rows;
};

struct BlockCounts;     // seer/sparsity.h
struct DeviceGateSpec;  // seer/policies.h

class AttentionPolicy {
 public:
  virtual ~AttentionPolicy() = default;
  virtual const char* name() const = 0;
  // Called before each forward (new sequence when start_pos == 0).
  virtual void begin_forward(int start_pos, int qo_len) {}
  // True when select() reads the post-RoPE q or the K cache (AttentionContext::q, k_cache). A GPU
  // session keeps those on the device; for such a policy it mirrors them on the host (fp32 from the
  // bf16 cache; v_cache stays null there).
  virtual bool needs_kv_cache() const { return false; }
  // True when select(), ground_truth() or after_attention() reads this forward's pre-RoPE q and k
  // (AttentionContext::q_nope, k_nope); a GPU session copies them to the host only then.
  virtual bool needs_pre_rope_qk() const { return true; }
  // Fills `sel` for this layer. `sel` arrives pre-sized as dense; a policy may rewrite it.
  virtual Status select(const AttentionContext& ctx, BlockSelection* sel) = 0;
  // Gate training (SPEC §4): a policy that wants this layer's attention probabilities as ground
  // truth fills `req` and returns true; the attention kernel reduces them to block maxima, these are
  // reduced as `req` asks into the policy's buffers, and after_attention() follows. Prefill only.
  virtual bool ground_truth(const AttentionContext& ctx, GroundTruthRequest* req) { return false; }
  virtual Status after_attention(const AttentionContext& ctx) { return Status::ok(); }
  // A policy that ranks key blocks by the layer's own attention (the oracle, SPEC §6.6) fills `req`'s
  // block size, statistic and group pool (its buffers stay null) and returns true for a layer whose
  // select() will read them (`ctx`: the layer's shape, before select()). A GPU session then computes
  // them on the device from a dense pass of its attention kernels (prefill: gate training's block maxima;
  // decode: the split decode kernel's block statistics), and hands them to
  // that select() as AttentionContext::block_scores. Such a policy needs no K cache (needs_kv_cache).
  virtual bool scores_from_attention(const AttentionContext& ctx, GroundTruthRequest* req) const { return false; }
  // A policy whose scoring and selection a GPU session runs on the device itself (the learned
  // gates, issue 4 §3) describes them here; the session then never calls select() and reports each
  // sparse layer's block counts through add_device_counts(). Null: select() on the host.
  virtual const DeviceGateSpec* device_gates() const { return nullptr; }
  virtual void add_device_counts(int layer, bool decode, const BlockCounts& counts) {}
  // Called at the start of a CPU layer, before its Q/K/V products: a policy may start bringing the state that
  // its select() will read for this layer into the caches.
  virtual void prefetch(int layer, int qo_len) const {}
};

}  // namespace seer
