// Gate inputs and ground truth of one training row, from one frozen forward (SPEC §4.1, §4.2).
//
// An AttentionPolicy that keeps every block (the frozen model runs dense) and, for every layer,
// pools the pre-RoPE Q/K the gate sees and has the layer's attention kernel reduce the probabilities
// to block maxima as it goes (the fused ground truth: no attention matrix is ever stored).
#include <seer/attention.h>
#include <seer/engine.h>
#include <seer/gate_train.h>
#include <seer/train.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "train/train_internal.h"

namespace seer {
namespace {

// select() stores the gate inputs; the layer's dense attention reduces its probabilities to block
// maxima and these to what ground_truth() asks (the fused ground truth); after_attention() turns
// them into targets.
class ExampleCollector : public AttentionPolicy {
 public:
  ExampleCollector(const ExampleOptions& opts, int num_layers,
                   std::vector<PrefillGateExample>* prefill, std::vector<DecodeGateExample>* decode)
      : opts_(opts), prefill_(prefill), decode_(decode) {
    if (prefill_) prefill_->assign(size_t(num_layers), {});
    if (decode_) decode_->assign(size_t(num_layers), {});
    bs_ = (opts.prefill ? opts.prefill : opts.decode)->config.block_size;
  }
  const char* name() const override { return "train-examples"; }

  Status select(const AttentionContext& ctx, BlockSelection* sel) override {
    if (ctx.start_pos != 0 || ctx.qo_len < 2)
      return Status::error("training examples need the whole row (at least 2 tokens) in one forward");
    const int T = ctx.kv_len, Hq = ctx.num_qo_heads, Hkv = ctx.num_kv_heads, d = ctx.head_dim;
    if (prefill_) {
      PrefillGateExample& ex = (*prefill_)[size_t(ctx.layer)];
      const GateConfig& gc = opts_.prefill->config;
      ex.num_blocks = (T + bs_ - 1) / bs_;
      ex.q_pooled = pool_block_features(gc.q_pools, ctx.q_nope, T, Hq, d, bs_);
      ex.k_pooled = pool_block_features(gc.k_pools, ctx.k_nope, T, Hkv, d, bs_);
      ex.first_row = ex.num_blocks / 4;
    }
    if (decode_) {
      DecodeGateExample& ex = (*decode_)[size_t(ctx.layer)];
      ex.num_blocks = (T + bs_ - 1) / bs_;
      ex.k_pooled = pool_block_features(opts_.decode->config.k_pools, ctx.k_nope, T, Hkv, d, bs_);
      ex.pos = decode_sample_positions(T, opts_.decode_tokens, opts_.sample_seed);
      const size_t n = ex.pos.size(), row = size_t(Hq) * d;
      ex.q.resize(n * row);
      for (size_t i = 0; i < n; ++i)
        std::copy_n(ctx.q_nope + size_t(ex.pos[i]) * row, row, ex.q.data() + i * row);
    }
    return Status::ok();  // `sel` stays dense
  }

  bool ground_truth(const AttentionContext& ctx, GroundTruthRequest* req) override {
    const size_t nb = size_t(ctx.kv_len + bs_ - 1) / bs_;  // start_pos 0: nb query blocks
    req->block_size = bs_;
    req->stat = opts_.ground_truth;
    req->group = opts_.group_pool;
    if (prefill_) {
      pool_2d_.resize(size_t(ctx.num_qo_heads) * nb * nb);
      req->pool_2d = pool_2d_.data();
    }
    if (decode_) {
      const std::vector<int>& pos = (*decode_)[size_t(ctx.layer)].pos;
      group_max_.resize(pos.size() * ctx.num_kv_heads * nb);
      req->group_max = group_max_.data();
      req->rows = pos;
    }
    return true;
  }

  Status after_attention(const AttentionContext& ctx) override {
    if (prefill_) prefill_targets(ctx, &(*prefill_)[size_t(ctx.layer)]);
    if (decode_) decode_targets(ctx, &(*decode_)[size_t(ctx.layer)]);
    return Status::ok();
  }

 private:
  // SPEC §4.1: the 2-D block max (over the query block's rows) per qo head, rows normalised, the
  // first quarter of rows dropped.
  void prefill_targets(const AttentionContext& ctx, PrefillGateExample* ex) const {
    const int Hq = ctx.num_qo_heads, nb = ex->num_blocks, rows = nb - ex->first_row;
    ex->gt.assign(size_t(Hq) * rows * nb, 0.0f);
    for (int h = 0; h < Hq; ++h)
      for (int r = 0; r < rows; ++r) {
        const int qb = ex->first_row + r;
        float* dst = ex->gt.data() + (size_t(h) * rows + r) * nb;
        std::copy_n(pool_2d_.data() + (size_t(h) * nb + qb) * nb, qb + 1, dst);
        double sum = 0.0;
        for (int j = 0; j <= qb; ++j) sum += dst[j];
        for (int j = 0; j <= qb; ++j) dst[j] = float(dst[j] / sum);
      }
  }

  // SPEC §4.2: per-token 1-D block max, max (or, GroupPool::kSum, sum) over the GQA group, strictly
  // previous blocks, normalised (sum + 1e-9), on the sampled tokens of the second half.
  void decode_targets(const AttentionContext& ctx, DecodeGateExample* ex) const {
    const int Hkv = ctx.num_kv_heads, nb = ex->num_blocks;
    const int n = int(ex->pos.size());
    ex->gt.assign(size_t(n) * Hkv * nb, 0.0f);
    for (int i = 0; i < n; ++i) {
      const int t = ex->pos[size_t(i)], valid = t / bs_;  // blocks j < t/bs
      for (int hk = 0; hk < Hkv; ++hk) {
        float* dst = ex->gt.data() + (size_t(i) * Hkv + hk) * nb;
        double sum = 0.0;
        const float* src = group_max_.data() + (size_t(i) * Hkv + hk) * nb;
        for (int j = 0; j < valid; ++j) {
          dst[j] = src[j];
          sum += src[j];
        }
        for (int j = 0; j < valid; ++j) dst[j] = float(dst[j] / (sum + 1e-9));
      }
    }
  }

  ExampleOptions opts_;
  std::vector<PrefillGateExample>* prefill_;
  std::vector<DecodeGateExample>* decode_;
  int bs_ = 64;
  std::vector<float> pool_2d_;    // [num_qo_heads, nb, nb]
  std::vector<float> group_max_;  // [pos.size(), num_kv_heads, nb]
};

}  // namespace

std::vector<int> decode_sample_positions(int T, int max_tokens, uint64_t seed) {
  const int s = T / 2;  // int(0.5 * T): the second half (loss_slice_ratio 0.5)
  std::vector<int> pos;
  for (int t = s; t < T; ++t) pos.push_back(t);
  if (max_tokens > 0 && int(pos.size()) > max_tokens) {
    uint64_t state = seed;
    for (int i = 0; i < max_tokens; ++i) {  // partial Fisher-Yates
      const int j = i + int(splitmix64_next(state) % uint64_t(pos.size() - size_t(i)));
      std::swap(pos[size_t(i)], pos[size_t(j)]);
    }
    pos.resize(size_t(max_tokens));
    std::sort(pos.begin(), pos.end());
  }
  return pos;
}

Status collect_examples(const Model& model, const std::vector<int>& tokens, const ExampleOptions& opts,
                        std::vector<PrefillGateExample>* prefill, std::vector<DecodeGateExample>* decode) {
  if (tokens.empty()) return Status::error("collect_examples: empty row");
  if (!opts.prefill) prefill = nullptr;
  if (!opts.decode) decode = nullptr;
  auto collector = std::make_shared<ExampleCollector>(opts, model.config.num_layers, prefill, decode);
  if (opts.session) {
    if (opts.session->max_context() < int(tokens.size()))
      return Status::error("collect_examples: the session holds {} tokens, the row has {}", opts.session->max_context(),
                           tokens.size());
    opts.session->reset();
    opts.session->set_policy(collector);
    auto logits = opts.session->forward(tokens, Logits::kNone);
    opts.session->set_policy(nullptr);
    return logits.status();
  }
  SessionOptions so;
  so.max_context = int(tokens.size());
  so.num_threads = opts.num_threads;
  so.policy = collector;
  so.device = opts.device;
  SEER_ASSIGN_OR_RETURN(auto session, Session::create(model, so));
  SEER_ASSIGN_OR_RETURN(auto logits, session->forward(tokens, Logits::kNone));
  (void)logits;
  return Status::ok();
}

}  // namespace seer
