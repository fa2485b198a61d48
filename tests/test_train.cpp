// Gate training: the ground-truth kernel against the full attention matrix, the examples a frozen
// forward yields, the data pipeline, the schedule, and whole training runs on a tiny model (the
// loss falls; an interrupted and resumed run equals an uninterrupted one; bad input is refused).
#include <array>
#include <nlohmann/json.hpp>
#include <seer/gate_train.h>
#include <seer/engine.h>
#include <seer/gates.h>
#include <seer/model.h>
#include <seer/policies.h>
#include <seer/tokenizer.h>
#include <seer/train.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <fstream>
#include <numeric>
#include <set>

#include <unistd.h>

#include "core/thread_pool.h"
#include "kernels/cpu/block_max.h"
#include "test_util.h"
#include "train/train_internal.h"

namespace seer {
namespace {

namespace fs = std::filesystem;
using test::random_vector;

struct BlockMaxCase {
  int qo_len, kv_len, Hq, Hkv, d, bs;
};

// q and K drawn with a spread wide enough that probabilities are far from uniform.
void check_block_max(const BlockMaxCase& c, uint64_t seed) {
  const int max_ctx = c.kv_len + 3;
  std::vector<float> q = random_vector(size_t(c.qo_len) * c.Hq * c.d, seed, -2.0f, 2.0f);
  std::vector<float> k = random_vector(size_t(c.Hkv) * max_ctx * c.d, seed + 1, -2.0f, 2.0f);
  AttentionParams p;
  p.q = q.data();
  p.k_cache = k.data();
  p.qo_len = c.qo_len;
  p.kv_len = c.kv_len;
  p.num_qo_heads = c.Hq;
  p.num_kv_heads = c.Hkv;
  p.head_dim = c.d;
  p.max_context = max_ctx;
  p.scale = 1.0f / std::sqrt(float(c.d));
  const int nb = (c.kv_len + c.bs - 1) / c.bs, start = c.kv_len - c.qo_len;
  std::vector<float> ref(size_t(c.qo_len) * c.Hq * nb);
  ref_attention_block_max(p, c.bs, ref.data());
  ThreadPool pool(2);
  SCOPED_TRACE(testing::Message() << "qo " << c.qo_len << " kv " << c.kv_len << " Hq " << c.Hq << " Hkv " << c.Hkv
                                  << " d " << c.d << " bs " << c.bs);
  // 1-D on every row and on a subset.
  std::vector<int> rows(static_cast<size_t>(c.qo_len));
  std::iota(rows.begin(), rows.end(), 0);
  std::vector<float> out(ref.size());
  test::poison(out);
  attention_block_max_1d(p, c.bs, rows.data(), c.qo_len, out.data(), pool);
  EXPECT_LT(test::max_abs_diff(out.data(), ref.data(), ref.size()), 2e-6);
  std::vector<int> some;
  for (int i = 0; i < c.qo_len; i += 3) some.push_back(i);
  std::vector<float> out_some(some.size() * c.Hq * nb);
  attention_block_max_1d(p, c.bs, some.data(), int(some.size()), out_some.data(), pool);
  for (size_t s = 0; s < some.size(); ++s)
    EXPECT_LT(test::max_abs_diff(out_some.data() + s * c.Hq * nb, ref.data() + size_t(some[s]) * c.Hq * nb,
                                 size_t(c.Hq) * nb), 2e-6);
  // 2-D: the max over each query block's new rows.
  const int first_qb = start / c.bs, n_rows = (c.kv_len - 1) / c.bs - first_qb + 1;
  std::vector<float> want(size_t(c.Hq) * n_rows * nb, 0.0f);
  for (int i = 0; i < c.qo_len; ++i)
    for (int h = 0; h < c.Hq; ++h)
      for (int j = 0; j < nb; ++j) {
        float& w = want[(size_t(h) * n_rows + (start + i) / c.bs - first_qb) * nb + j];
        w = std::max(w, ref[(size_t(i) * c.Hq + h) * nb + j]);
      }
  std::vector<float> out2(want.size());
  test::poison(out2);
  attention_block_max_2d(p, c.bs, out2.data(), pool);
  EXPECT_LT(test::max_abs_diff(out2.data(), want.data(), want.size()), 2e-6);

  // Fused into the attention kernel (dense selection), which also still computes the attention.
  if (c.bs % 64 != 0 || c.qo_len < 2) return;
  std::vector<float> v = random_vector(size_t(c.Hkv) * max_ctx * c.d, seed + 2), o(q.size()), o_ref(q.size());
  p.v_cache = v.data();
  BlockSelection sel;
  sel.set_dense(c.Hq, false, start / 64, (c.kv_len - 1) / 64 - start / 64 + 1, 64);
  p.out = o_ref.data();
  ref_attention(p, sel);
  std::vector<float> fused(ref.size());
  test::poison(fused);
  p.out = o.data();
  p.block_max = fused.data();
  p.block_max_size = c.bs;
  attention(p, sel, pool);
  EXPECT_LT(test::max_abs_diff(fused.data(), ref.data(), ref.size()), 2e-6);
  EXPECT_LT(test::max_abs_diff(o.data(), o_ref.data(), o.size()), 1e-5);

  // The blocks' masses (GroundTruthRequest::stat = kMass): the reference's rows sum to 1 and hold at
  // least the block maxima (a block of bs > 64 sums several of the kernel's key tiles).
  p.block_mass = true;
  std::vector<float> ref_mass(ref.size());
  ref_attention_block_max(p, c.bs, ref_mass.data());
  for (int i = 0; i < c.qo_len; ++i)
    for (int h = 0; h < c.Hq; ++h) {
      const size_t row = (size_t(i) * c.Hq + h) * nb;
      double sum = 0.0;
      for (int j = 0; j < nb; ++j) {
        sum += ref_mass[row + j];
        EXPECT_GE(ref_mass[row + j], ref[row + j] * (1.0f - 1e-6f)) << "row " << i << " head " << h << " block " << j;
      }
      EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << i << " head " << h;
    }
  test::poison(fused);
  attention(p, sel, pool);
  EXPECT_LT(test::max_abs_diff(fused.data(), ref_mass.data(), ref.size()), 2e-6);
  EXPECT_LT(test::max_abs_diff(o.data(), o_ref.data(), o.size()), 1e-5);
}

TEST(BlockMax, MatchesFullAttentionMatrix) {
  uint64_t seed = 100;
  for (const BlockMaxCase& c : {BlockMaxCase{1, 1, 2, 1, 16, 64}, BlockMaxCase{37, 37, 3, 1, 16, 16},
                                BlockMaxCase{130, 130, 4, 4, 64, 64}, BlockMaxCase{200, 200, 8, 2, 32, 64},
                                BlockMaxCase{70, 300, 6, 2, 64, 64}, BlockMaxCase{129, 257, 3, 1, 128, 128},
                                BlockMaxCase{1, 190, 4, 1, 64, 64}})
    check_block_max(c, seed += 7);
}

// ---------------------------------------------------------------------------------------------
const std::string kTinyModel = std::string(SEER_SOURCE_DIR) + "/tests/data/tiny_hf/llama_f32";

std::vector<int> tiny_tokens(const Model& m, int n) {
  std::ifstream f(test::source_path("tests/data/tdavid_excerpt.txt"));
  std::stringstream ss;
  ss << f.rdbuf();
  std::vector<int> t = m.tokenizer->encode(ss.str(), false);
  t.resize(size_t(n));
  return t;
}

// Records layer 0's post-RoPE q and K cache of a dense forward.
struct RecordLayer0 : AttentionPolicy {
  std::vector<float> q, k;
  int max_context = 0;
  const char* name() const override { return "record"; }
  Status select(const AttentionContext& ctx, BlockSelection*) override {
    if (ctx.layer == 0) {
      q.assign(ctx.q, ctx.q + size_t(ctx.qo_len) * ctx.num_qo_heads * ctx.head_dim);
      k.assign(ctx.k_cache, ctx.k_cache + size_t(ctx.num_kv_heads) * ctx.max_context * ctx.head_dim);
      max_context = ctx.max_context;
    }
    return Status::ok();
  }
};

// Every layer's targets are causal and normalised; layer 0's equal the naive ones from the full
// probability rows, with each block's max probability (SPEC) or its mass, the decode targets pooling
// the GQA group by its max (SPEC) or its sum.
void check_examples_ground_truth(BlockStat stat, GroupPool group_pool = GroupPool::kMax) {
  auto model = load_model(kTinyModel);
  ASSERT_TRUE(model) << model.status().message();
  const ModelConfig& c = model->config;
  auto pre = init_gates(GateKind::kPrefill, c, {}, 1);
  auto dec = init_gates(GateKind::kDecode, c, {}, 2);
  ASSERT_TRUE(pre && dec);
  const int T = 300, bs = 64, nb = 5, Hq = c.num_qo_heads, Hkv = c.num_kv_heads;
  ExampleOptions eo;
  eo.prefill = &*pre;
  eo.decode = &*dec;
  eo.decode_tokens = 40;
  eo.sample_seed = 9;
  eo.num_threads = 2;
  eo.ground_truth = stat;
  eo.group_pool = group_pool;
  std::vector<PrefillGateExample> pe;
  std::vector<DecodeGateExample> de;
  ASSERT_TRUE(collect_examples(*model, tiny_tokens(*model, T), eo, &pe, &de).is_ok());
  ASSERT_EQ(int(pe.size()), c.num_layers);
  ASSERT_EQ(int(de.size()), c.num_layers);
  for (int l = 0; l < c.num_layers; ++l) {
    const PrefillGateExample& p = pe[size_t(l)];
    EXPECT_EQ(p.num_blocks, nb);
    EXPECT_EQ(p.first_row, nb / 4);
    const int rows = nb - p.first_row;
    ASSERT_EQ(p.gt.size(), size_t(Hq) * rows * nb);
    for (int h = 0; h < Hq; ++h)
      for (int r = 0; r < rows; ++r) {
        double sum = 0.0;
        for (int j = 0; j < nb; ++j) {
          const float g = p.gt[(size_t(h) * rows + r) * nb + j];
          if (j > p.first_row + r) {
            EXPECT_EQ(g, 0.0f);
          }
          EXPECT_GE(g, 0.0f);
          sum += g;
        }
        EXPECT_NEAR(sum, 1.0, 1e-5);
      }
    EXPECT_EQ(p.k_pooled.size(), size_t(Hkv) * nb * 3 * c.head_dim);
    const DecodeGateExample& d = de[size_t(l)];
    ASSERT_EQ(d.pos.size(), 40u);
    EXPECT_TRUE(std::is_sorted(d.pos.begin(), d.pos.end()));
    EXPECT_EQ(std::set<int>(d.pos.begin(), d.pos.end()).size(), 40u);
    for (size_t i = 0; i < d.pos.size(); ++i) {
      EXPECT_GE(d.pos[i], T / 2);
      EXPECT_LT(d.pos[i], T);
      for (int hk = 0; hk < Hkv; ++hk) {
        double sum = 0.0;
        for (int j = 0; j < nb; ++j) {
          const float g = d.gt[(i * Hkv + hk) * nb + j];
          if (j >= d.pos[i] / bs) {
            EXPECT_EQ(g, 0.0f);
          }
          sum += g;
        }
        EXPECT_NEAR(sum, 1.0, 1e-5);
      }
    }
  }
  // Layer 0 against the naive computation from the full probability rows.
  auto rec = std::make_shared<RecordLayer0>();
  SessionOptions so;
  so.max_context = T;
  so.policy = rec;
  auto session = Session::create(*model, so);
  ASSERT_TRUE(session);
  ASSERT_TRUE((*session)->forward(tiny_tokens(*model, T), Logits::kNone));
  AttentionParams ap;
  ap.q = rec->q.data();
  ap.k_cache = rec->k.data();
  ap.qo_len = ap.kv_len = T;
  ap.num_qo_heads = Hq;
  ap.num_kv_heads = Hkv;
  ap.head_dim = c.head_dim;
  ap.max_context = rec->max_context;
  ap.scale = 1.0f / std::sqrt(float(c.head_dim));
  ap.block_mass = stat == BlockStat::kMass;
  std::vector<float> full(size_t(T) * Hq * nb);  // [T, Hq, nb]
  ref_attention_block_max(ap, bs, full.data());
  const PrefillGateExample& p0 = pe[0];
  const int rows = nb - p0.first_row;
  for (int h = 0; h < Hq; ++h)
    for (int r = 0; r < rows; ++r) {
      const int qb = p0.first_row + r;
      std::vector<double> want(size_t(nb), 0.0);
      for (int t = qb * bs; t < std::min(T, (qb + 1) * bs); ++t)
        for (int j = 0; j < nb; ++j) want[size_t(j)] = std::max(want[size_t(j)], double(full[(size_t(t) * Hq + h) * nb + j]));
      const double sum = std::accumulate(want.begin(), want.end(), 0.0);
      for (int j = 0; j < nb; ++j) EXPECT_NEAR(p0.gt[(size_t(h) * rows + r) * nb + j], want[size_t(j)] / sum, 1e-5);
    }
  const DecodeGateExample& d0 = de[0];
  const int group = Hq / Hkv;
  for (size_t i = 0; i < d0.pos.size(); ++i)
    for (int hk = 0; hk < Hkv; ++hk) {
      std::vector<double> want(size_t(nb), 0.0);
      for (int j = 0; j < d0.pos[i] / bs; ++j)
        for (int g = 0; g < group; ++g) {
          const double x = full[(size_t(d0.pos[i]) * Hq + hk * group + g) * nb + j];
          want[size_t(j)] = group_pool == GroupPool::kSum ? want[size_t(j)] + x : std::max(want[size_t(j)], x);
        }
      const double sum = std::accumulate(want.begin(), want.end(), 0.0);
      for (int j = 0; j < nb; ++j) EXPECT_NEAR(d0.gt[(i * Hkv + hk) * nb + j], want[size_t(j)] / sum, 1e-5);
    }
  // The decode sample is reproducible and covers the whole second half when not sampled.
  EXPECT_EQ(decode_sample_positions(300, 40, 9), de[0].pos);
  EXPECT_EQ(decode_sample_positions(301, 0, 9).size(), size_t(301 - 150));
}

TEST(TrainExamples, GroundTruthIsNormalisedAndCausal) { check_examples_ground_truth(BlockStat::kMax); }

TEST(TrainExamples, MassGroundTruthIsNormalisedAndCausal) {
  check_examples_ground_truth(BlockStat::kMass);
  // The two differ: a block's mass is at least its max, and more for every block of several keys.
  auto model = load_model(kTinyModel);
  ASSERT_TRUE(model);
  auto pre = init_gates(GateKind::kPrefill, model->config, {}, 1);
  ASSERT_TRUE(pre);
  ExampleOptions eo;
  eo.prefill = &*pre;
  eo.num_threads = 2;
  std::vector<PrefillGateExample> max_ex, mass_ex;
  ASSERT_TRUE(collect_examples(*model, tiny_tokens(*model, 300), eo, &max_ex, nullptr).is_ok());
  eo.ground_truth = BlockStat::kMass;
  ASSERT_TRUE(collect_examples(*model, tiny_tokens(*model, 300), eo, &mass_ex, nullptr).is_ok());
  ASSERT_EQ(max_ex[0].gt.size(), mass_ex[0].gt.size());
  EXPECT_GT(test::max_abs_diff(max_ex[0].gt.data(), mass_ex[0].gt.data(), max_ex[0].gt.size()), 1e-3);
}

// The decode targets with the group's heads summed (--group-pool sum): naive equality above, and they
// differ from the max's (the tiny model's groups hold two heads).
TEST(TrainExamples, GroupSumGroundTruthIsNormalisedAndCausal) {
  check_examples_ground_truth(BlockStat::kMass, GroupPool::kSum);
  auto model = load_model(kTinyModel);
  ASSERT_TRUE(model);
  ASSERT_GT(model->config.num_qo_heads / model->config.num_kv_heads, 1);
  auto dec = init_gates(GateKind::kDecode, model->config, {}, 2);
  ASSERT_TRUE(dec);
  ExampleOptions eo;
  eo.decode = &*dec;
  eo.decode_tokens = 40;
  eo.num_threads = 2;
  eo.ground_truth = BlockStat::kMass;
  std::vector<DecodeGateExample> max_ex, sum_ex;
  ASSERT_TRUE(collect_examples(*model, tiny_tokens(*model, 300), eo, nullptr, &max_ex).is_ok());
  eo.group_pool = GroupPool::kSum;
  ASSERT_TRUE(collect_examples(*model, tiny_tokens(*model, 300), eo, nullptr, &sum_ex).is_ok());
  ASSERT_EQ(max_ex[0].gt.size(), sum_ex[0].gt.size());
  EXPECT_GT(test::max_abs_diff(max_ex[0].gt.data(), sum_ex[0].gt.data(), max_ex[0].gt.size()), 1e-3);
}

// ---------------------------------------------------------------------------------------------
// Data and schedule

// seer_test_NAME inside a directory of this process's own: two test runs at once must not share one, and
// the leaf keeps its fixed name (a corpus directory's name is part of its documents' names, which decide
// the train / eval split the tests were written against).
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("seer_test_" + std::to_string(::getpid())) / ("seer_test_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
    fs::remove(path.parent_path(), ec);  // once empty
  }
  std::string str() const { return path.string(); }
};

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

TEST(TrainData, DocumentsSplitRowsAndOrder) {
  TempDir dir("train_data");
  write_file(dir.path / "b" / "two.txt", "two");
  write_file(dir.path / "a.txt", "one");
  write_file(dir.path / "skip.md", "not text");
  auto docs = list_documents({dir.str()});
  ASSERT_TRUE(docs) << docs.status().message();
  ASSERT_EQ(docs->size(), 2u);
  const std::string base = dir.path.filename().string();
  EXPECT_EQ((*docs)[0].name, base + "/a.txt");
  EXPECT_EQ((*docs)[1].name, base + "/b/two.txt");
  // A file reached twice counts once, at its first place: the same directory twice, or a file inside it.
  auto twice = list_documents({dir.str(), dir.str() + "/", (dir.path / "b" / "two.txt").string()});
  ASSERT_TRUE(twice) << twice.status().message();
  ASSERT_EQ(twice->size(), 2u);
  EXPECT_EQ((*twice)[1].name, base + "/b/two.txt");
  EXPECT_FALSE(list_documents({(dir.path / "missing").string()}));
  fs::create_directories(dir.path / "empty");
  auto empty = list_documents({(dir.path / "empty").string()});
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.status().message().find("no .txt files"), std::string::npos);

  // The split depends on the name and seed only, and holds out about the asked share.
  int held = 0;
  for (int i = 0; i < 2000; ++i) held += is_eval_document("doc" + std::to_string(i), 0.1, 5);
  EXPECT_GT(held, 150);
  EXPECT_LT(held, 250);
  EXPECT_EQ(is_eval_document("x", 0.1, 5), is_eval_document("x", 0.1, 5));
  EXPECT_FALSE(is_eval_document("x", 0.0, 5));

  std::vector<Document> d{{"a", std::vector<int>(250)}, {"b", std::vector<int>(90)}, {"c", std::vector<int>(40)}};
  auto rows = make_rows(d, {100}, 45);
  ASSERT_EQ(rows.size(), 4u);  // a: 100, 100, 50; b: 90; c too short
  EXPECT_EQ(rows[2].begin, 200);
  EXPECT_EQ(rows[2].len, 50);
  EXPECT_EQ(rows[3].doc, 1);
  // Several lengths are taken in turn along a document, the first one shifted by the document's index;
  // the pieces tile the document and a short last piece is kept only from min_row_len up.
  std::vector<Document> m{{"a", std::vector<int>(300)}, {"b", std::vector<int>(300)}};
  auto mixed = make_rows(m, {40, 100}, 30);
  const std::vector<std::array<int, 3>> want = {{0, 0, 40},   {0, 40, 100},  {0, 140, 40},  {0, 180, 100},
                                                {0, 280, 20 /* dropped */},  {1, 0, 100},   {1, 100, 40},
                                                {1, 140, 100}, {1, 240, 40},  {1, 280, 20 /* dropped */}};
  std::vector<std::array<int, 3>> got;
  for (const TrainRow& r : mixed) got.push_back({r.doc, r.begin, r.len});
  std::vector<std::array<int, 3>> kept;
  for (const auto& w : want)
    if (w[2] >= 30) kept.push_back(w);
  EXPECT_EQ(got, kept);

  std::vector<int> o0 = epoch_order(50, 3, 0), o1 = epoch_order(50, 3, 1);
  EXPECT_NE(o0, o1);
  EXPECT_EQ(o0, epoch_order(50, 3, 0));
  std::sort(o0.begin(), o0.end());
  for (int i = 0; i < 50; ++i) EXPECT_EQ(o0[size_t(i)], i);
}

TEST(TrainData, WarmupThenCosine) {
  EXPECT_EQ(learning_rate(0, 100, 1e-3, 1e-5, 20), 0.0);
  EXPECT_NEAR(learning_rate(10, 100, 1e-3, 1e-5, 20), 5e-4, 1e-15);
  EXPECT_NEAR(learning_rate(20, 100, 1e-3, 1e-5, 20), 1e-3, 1e-15);
  EXPECT_NEAR(learning_rate(60, 100, 1e-3, 1e-5, 20), 1e-5 + (1e-3 - 1e-5) * 0.5, 1e-15);
  EXPECT_NEAR(learning_rate(100, 100, 1e-3, 1e-5, 20), 1e-5, 1e-15);
}

// ---------------------------------------------------------------------------------------------
// Whole runs on the tiny model.

struct TinyRun {
  TempDir data{"train_corpus"};
  Result<Model> model = load_model(kTinyModel);
  TinyRun() {
    std::ifstream f(test::source_path("tests/data/tdavid_excerpt.txt"));
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string text = ss.str();
    for (int i = 0; i < 12; ++i)  // 12 documents of ~1200 characters (~600+ tiny-tokenizer tokens)
      write_file(data.path / ("doc" + std::to_string(i) + ".txt"), text.substr(size_t(i) * 1200, 1200));
  }
  TrainOptions options(const std::string& out) const {
    TrainOptions o;
    o.prefill = o.decode = true;
    o.data = {data.str()};
    o.out = out;
    o.steps = 6;
    o.seq_lens = {256};
    o.batch = 2;
    o.lr = 2e-3;
    o.warmup = 1;
    o.eval_fraction = 0.2;
    o.eval_rows = 1;
    o.decode_tokens = 32;
    o.checkpoint_every = 2;
    o.num_threads = 2;
    o.seed = 4;
    o.log = [](const std::string&) {};
    return o;
  }
};

void expect_same_gates(const std::string& a, const std::string& b, const ModelConfig& c) {
  for (const char* kind : {"prefill", "decode"}) {
    auto ga = load_gates(a + "/checkpoint/" + kind, c), gb = load_gates(b + "/checkpoint/" + kind, c);
    ASSERT_TRUE(ga && gb);
    for (size_t l = 0; l < ga->layers.size(); ++l) {
      EXPECT_EQ(ga->layers[l].linear_k, gb->layers[l].linear_k) << kind << " layer " << l;
      EXPECT_EQ(ga->layers[l].linear_q, gb->layers[l].linear_q) << kind << " layer " << l;
      EXPECT_EQ(ga->layers[l].q_norm, gb->layers[l].q_norm) << kind << " layer " << l;
    }
  }
}

TEST(TrainRun, LossFallsAndResumeMatchesUninterrupted) {
  TinyRun run;
  ASSERT_TRUE(run.model) << run.model.status().message();
  TempDir a("train_a"), b("train_b");
  TrainOptions oa = run.options(a.str());
  std::vector<std::string> lines;
  oa.log = [&](const std::string& s) { lines.push_back(s); };
  oa.eval_every = 3;
  auto ra = train_gates(*run.model, oa);
  ASSERT_TRUE(ra) << ra.status().message();
  EXPECT_EQ(ra->steps_done, 6);
  EXPECT_FALSE(ra->stopped);
  // Eval loss on held-out rows falls from the initial gates to the trained ones.
  std::ifstream ev(a.str() + "/eval_loss.tsv");
  std::string header, line;
  std::getline(ev, header);
  std::map<std::string, std::vector<double>> eval;
  while (std::getline(ev, line)) {
    std::istringstream ls(line);
    int step;
    std::string kind;
    double loss;
    ls >> step >> kind >> loss;
    eval[kind].push_back(loss);
  }
  for (const char* kind : {"prefill", "decode"}) {
    ASSERT_EQ(eval[kind].size(), 3u) << kind;  // steps 0, 3 and 6
    for (double l : eval[kind]) EXPECT_TRUE(std::isfinite(l) && l > 0.0);
  }
  // The trained gates fit the training rows better than the initial ones (same seed and options).
  {
    auto pre0 = init_gates(GateKind::kPrefill, run.model->config, oa.prefill_gate, oa.seed);
    auto dec0 = init_gates(GateKind::kDecode, run.model->config, oa.decode_gate, oa.seed + 1);
    auto pre1 = load_gates(a.str() + "/checkpoint/prefill", run.model->config);
    auto dec1 = load_gates(a.str() + "/checkpoint/decode", run.model->config);
    ASSERT_TRUE(pre0 && dec0 && pre1 && dec1);
    double before[2] = {0, 0}, after[2] = {0, 0};
    int used = 0;
    auto docs = list_documents({run.data.str()});
    ASSERT_TRUE(docs);
    for (const auto& f : docs.value()) {
      if (is_eval_document(f.name, oa.eval_fraction, oa.split_seed)) continue;
      std::ifstream in(f.path);
      std::stringstream ss;
      ss << in.rdbuf();
      std::vector<int> tokens = run.model->tokenizer->encode(ss.str(), false);
      if (tokens.size() < 256) continue;
      tokens.resize(256);
      ExampleOptions eo;
      eo.prefill = &*pre0;
      eo.decode = &*dec0;
      eo.num_threads = 2;
      std::vector<PrefillGateExample> pe;
      std::vector<DecodeGateExample> de;
      ASSERT_TRUE(collect_examples(*run.model, tokens, eo, &pe, &de).is_ok());
      for (int l = 0; l < run.model->config.num_layers; ++l) {
        before[0] += prefill_gate_loss(*pre0, l, pe[size_t(l)]);
        after[0] += prefill_gate_loss(*pre1, l, pe[size_t(l)]);
        before[1] += decode_gate_loss(*dec0, l, de[size_t(l)]);
        after[1] += decode_gate_loss(*dec1, l, de[size_t(l)]);
      }
      ++used;
    }
    ASSERT_GE(used, 5);
    EXPECT_LT(after[0], 0.9 * before[0]) << "prefill";
    EXPECT_LT(after[1], 0.9 * before[1]) << "decode";
  }
  bool progress = false;
  for (const auto& l : lines) progress |= l.find("ETA") != std::string::npos && l.find("tok/s") != std::string::npos;
  EXPECT_TRUE(progress);
  // Final gates load with --gates OUT.
  auto bundle = load_gate_bundle(a.str(), run.model->config);
  ASSERT_TRUE(bundle) << bundle.status().message();
  EXPECT_TRUE(bundle->prefill && bundle->decode);

  // Stop after 3 steps (mid checkpoint interval), then resume to 6.
  TrainOptions ob = run.options(b.str());
  ob.eval_every = 3;
  ob.stop_after = 3;
  auto rb = train_gates(*run.model, ob);
  ASSERT_TRUE(rb) << rb.status().message();
  EXPECT_TRUE(rb->stopped);
  EXPECT_EQ(rb->steps_done, 3);
  // Without --resume the existing run is refused, not overwritten.
  ob.stop_after = 0;
  auto refused = train_gates(*run.model, ob);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.status().message().find("--resume"), std::string::npos);
  ob.resume = true;
  auto rc = train_gates(*run.model, ob);
  ASSERT_TRUE(rc) << rc.status().message();
  EXPECT_EQ(rc->steps_done, 6);
  expect_same_gates(a.str(), b.str(), run.model->config);
  // A changed option is named on resume: the row lengths too.
  ob.seq_lens = {128, 256};
  auto lens_changed = train_gates(*run.model, ob);
  ASSERT_FALSE(lens_changed);
  EXPECT_NE(lens_changed.status().message().find("seq_len"), std::string::npos) << lens_changed.status().message();
  ob.seq_lens = {256};
  ob.lr = 3e-3;
  auto changed = train_gates(*run.model, ob);
  ASSERT_FALSE(changed);
  EXPECT_NE(changed.status().message().find("lr"), std::string::npos);
  // The ground truth is checked both ways: set now and not in the checkpoint (stored only when set).
  ob.lr = oa.lr;
  ob.ground_truth = BlockStat::kMass;
  auto gt_changed = train_gates(*run.model, ob);
  ASSERT_FALSE(gt_changed);
  EXPECT_NE(gt_changed.status().message().find("ground_truth"), std::string::npos) << gt_changed.status().message();
}

// A run on the blocks' masses trains, stops and resumes under the same option, and refuses to resume
// without it.
TEST(TrainRun, MassGroundTruthResumes) {
  TinyRun run;
  ASSERT_TRUE(run.model);
  TempDir out("train_mass");
  TrainOptions o = run.options(out.str());
  o.ground_truth = BlockStat::kMass;
  o.steps = 4;
  o.stop_after = 2;
  auto r = train_gates(*run.model, o);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->steps_done, 2);
  o.stop_after = 0;
  o.resume = true;
  o.ground_truth = BlockStat::kMax;
  auto refused = train_gates(*run.model, o);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.status().message().find("ground_truth"), std::string::npos) << refused.status().message();
  o.ground_truth = BlockStat::kMass;
  o.group_pool = GroupPool::kSum;  // nor with the decode targets pooled otherwise
  auto refused_pool = train_gates(*run.model, o);
  ASSERT_FALSE(refused_pool);
  EXPECT_NE(refused_pool.status().message().find("group_pool"), std::string::npos) << refused_pool.status().message();
  o.group_pool = GroupPool::kMax;
  auto resumed = train_gates(*run.model, o);
  ASSERT_TRUE(resumed) << resumed.status().message();
  EXPECT_EQ(resumed->steps_done, 4);
  EXPECT_TRUE(std::isfinite(resumed->last_loss) && resumed->last_loss > 0.0);
}

// --exclude-sink: recorded in both gates' configs, and a resume must keep it.
TEST(TrainRun, SinkExcludedIsRecordedAndResumes) {
  TinyRun run;
  ASSERT_TRUE(run.model);
  TempDir out("train_nosink");
  TrainOptions o = run.options(out.str());
  o.prefill_gate.sink_excluded = o.decode_gate.sink_excluded = true;
  o.steps = 4;
  o.stop_after = 2;
  auto r = train_gates(*run.model, o);
  ASSERT_TRUE(r) << r.status().message();
  for (const char* kind : {"prefill", "decode"}) {
    auto g = load_gates(out.str() + "/checkpoint/" + kind, run.model->config);
    ASSERT_TRUE(g) << g.status().message();
    EXPECT_TRUE(g->config.sink_excluded) << kind;
  }
  o.stop_after = 0;
  o.resume = true;
  o.prefill_gate.sink_excluded = o.decode_gate.sink_excluded = false;
  auto refused = train_gates(*run.model, o);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.status().message().find("exclude_sink"), std::string::npos) << refused.status().message();
  o.prefill_gate.sink_excluded = o.decode_gate.sink_excluded = true;
  auto resumed = train_gates(*run.model, o);
  ASSERT_TRUE(resumed) << resumed.status().message();
  EXPECT_EQ(resumed->steps_done, 4);
  auto fin = load_gates(out.str() + "/decode", run.model->config);
  ASSERT_TRUE(fin) << fin.status().message();
  EXPECT_TRUE(fin->config.sink_excluded);
}

TEST(TrainRun, SeveralRowLengths) {
  TinyRun run;
  ASSERT_TRUE(run.model);
  TempDir out("train_mixed");
  TrainOptions o = run.options(out.str());
  o.seq_lens = {128, 256};
  o.steps = 2;
  std::vector<std::string> lines;
  o.log = [&](const std::string& s) { lines.push_back(s); };
  auto r = train_gates(*run.model, o);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->steps_done, 2);
  bool named = false;
  for (const auto& l : lines) named |= l.find("lengths 128/256 tokens") != std::string::npos;
  EXPECT_TRUE(named);
  std::ifstream st(out.str() + "/checkpoint/state.json");
  const nlohmann::json j = nlohmann::json::parse(st);
  EXPECT_EQ(j["options"]["seq_len"], nlohmann::json({128, 256}));
}

// Runs `o` for 2 of 4 steps and returns it set to resume: a run stopped midway.
TrainOptions stopped_midway(TinyRun& run, TrainOptions o) {
  o.steps = 4;
  o.stop_after = 2;
  auto r = train_gates(*run.model, o);
  EXPECT_TRUE(r) << r.status().message();
  o.stop_after = 0;
  o.resume = true;
  return o;
}

// A crash between a checkpoint's renames, a resume with other gates or another model, rows under two
// blocks, a run inside its own data directory, and gates already in --out.
TEST(TrainRun, CrashesChangesAndLayouts) {
  TinyRun run;
  ASSERT_TRUE(run.model);
  TempDir out("train_crash");
  TrainOptions o = stopped_midway(run, run.options(out.str()));
  const fs::path ckpt = out.path / "checkpoint", old = out.path / "checkpoint.old", tmp = out.path / "checkpoint.tmp";
  // Killed after checkpoint -> checkpoint.old, before checkpoint.tmp -> checkpoint, with tmp whole: the
  // resume takes tmp back, and a second kill in its first save cannot leave the run without one.
  fs::rename(ckpt, old);
  fs::copy(old, tmp, fs::copy_options::recursive);
  std::vector<std::string> lines;
  o.log = [&](const std::string& l) { lines.push_back(l); };
  // Another gate shape or another model is refused, naming what differs.
  TrainOptions other = o;
  other.prefill_gate.hidden_size = 8;
  auto refused = train_gates(*run.model, other);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.status().message().find("--hidden-size"), std::string::npos) << refused.status().message();
  EXPECT_TRUE(fs::exists(ckpt / "state.json"));  // restored before the refusal
  auto bf16 = load_model(test::source_path("tests/data/tiny_hf/llama_bf16"));
  ASSERT_TRUE(bf16) << bf16.status().message();
  auto other_model = train_gates(*bf16, o);
  ASSERT_FALSE(other_model);
  EXPECT_NE(other_model.status().message().find("was made for a model of"), std::string::npos)
      << other_model.status().message();
  auto resumed = train_gates(*run.model, o);
  ASSERT_TRUE(resumed) << resumed.status().message();
  EXPECT_EQ(resumed->steps_done, 4);
  bool restored = false;
  for (const auto& l : lines) restored |= l.find("checkpoint.tmp restored as") != std::string::npos;
  EXPECT_TRUE(restored);
  EXPECT_FALSE(fs::exists(old));
  EXPECT_FALSE(fs::exists(tmp));

  // Killed right after checkpoint -> checkpoint.old, with no whole checkpoint.tmp: old comes back.
  TempDir out2("train_crash_old");
  TrainOptions o2 = stopped_midway(run, run.options(out2.str()));
  fs::rename(out2.path / "checkpoint", out2.path / "checkpoint.old");
  auto from_old = train_gates(*run.model, o2);
  ASSERT_TRUE(from_old) << from_old.status().message();
  EXPECT_EQ(from_old->steps_done, 4);
  EXPECT_TRUE(fs::exists(out2.path / "checkpoint" / "state.json"));

  // Gates of non-default shapes resume (each kind compared on the fields its config stores).
  TempDir out3("train_arch");
  TrainOptions o3 = run.options(out3.str());
  o3.prefill_gate.force_double = true;
  o3.decode_gate.force_double = true;  // as --force-double sets both; a decode gate does not store it
  o3.prefill_gate.hidden_size = o3.decode_gate.hidden_size = 8;
  o3 = stopped_midway(run, o3);
  auto arch = train_gates(*run.model, o3);
  ASSERT_TRUE(arch) << arch.status().message();
  EXPECT_EQ(arch->steps_done, 4);

  // Rows need two gate blocks, and a minimum above every row length gives none.
  TrainOptions shortrows = run.options(out.str() + "/short");
  shortrows.seq_lens = {100};
  auto r = train_gates(*run.model, shortrows);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("--seq-len 100: a training row needs at least 2 gate blocks"), std::string::npos)
      << r.status().message();
  shortrows.seq_lens = {256};
  shortrows.min_row_len = 1;
  r = train_gates(*run.model, shortrows);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("--min-row-len 1"), std::string::npos) << r.status().message();
  shortrows.min_row_len = 512;
  r = train_gates(*run.model, shortrows);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("above the longest --seq-len 256"), std::string::npos) << r.status().message();

  // --out inside the data directory: the run's own eval_documents.txt is not data, so it resumes; and
  // data under --out stays data.
  TrainOptions inside = stopped_midway(run, run.options((run.data.path / "run").string()));
  auto again = train_gates(*run.model, inside);
  ASSERT_TRUE(again) << again.status().message();
  EXPECT_EQ(again->steps_done, 4);

  TempDir holder("train_data_under_out");
  fs::copy(run.data.path, holder.path / "corpus", fs::copy_options::recursive);
  TrainOptions under = run.options(holder.str());
  under.data = {(holder.path / "corpus").string()};
  under.steps = 2;
  auto under_run = train_gates(*run.model, under);
  ASSERT_TRUE(under_run) << under_run.status().message();

  // Gates in --out without a run (init-gates' output) are not overwritten.
  TempDir gates_dir("train_gates_there");
  auto g = init_gates(GateKind::kPrefill, run.model->config, {}, 1);
  ASSERT_TRUE(g);
  ASSERT_TRUE(save_gates((gates_dir.path / "prefill").string(), *g, run.model->config).is_ok());
  auto over = train_gates(*run.model, run.options(gates_dir.str()));
  ASSERT_FALSE(over);
  EXPECT_NE(over.status().message().find("already holds gates"), std::string::npos) << over.status().message();
}

TEST(TrainRun, BadInputIsRefused) {
  TinyRun run;
  ASSERT_TRUE(run.model);
  TempDir out("train_bad");
  TrainOptions o = run.options(out.str() + "/x");
  o.seq_lens = {256, 4096};  // the tiny model's context is 512
  auto r = train_gates(*run.model, o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("--seq-len 4096 is above the model's context"), std::string::npos)
      << r.status().message();
  o = run.options(out.str() + "/y");
  o.data = {out.str() + "/nowhere"};
  r = train_gates(*run.model, o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("nowhere"), std::string::npos);
  TempDir blank("train_blank");
  write_file(blank.path / "empty.txt", "");
  o = run.options(out.str() + "/z");
  o.data = {blank.str()};
  r = train_gates(*run.model, o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("no training text"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace seer
