// Gate training loop: data, AdamW, schedule, checkpoints, resume. See seer/train.h.
#include <seer/gate_train.h>
#include <seer/policies.h>
#include <seer/tokenizer.h>
#include <seer/train.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "core/file.h"
#include "core/thread_pool.h"
#include "core/timer.h"
#include "model/cuda_forward.h"
#include "train/train_internal.h"

namespace seer {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Data

Result<std::vector<DocumentFile>> list_documents(const std::vector<std::string>& paths, const std::string& skip) {
  if (paths.empty()) return Status::error("no --data path given");
  std::error_code skip_ec;
  const fs::path skip_file = skip.empty() ? fs::path() : fs::weakly_canonical(skip, skip_ec);
  const auto skipped = [&](const fs::path& p) {
    if (skip_file.empty() || skip_ec) return false;
    std::error_code ec;
    const fs::path c = fs::weakly_canonical(p, ec);
    return !ec && c == skip_file;
  };
  std::vector<DocumentFile> docs;
  std::set<fs::path> seen;  // a file named twice (the same directory twice, or a file inside a given one) counts once
  auto add = [&](const DocumentFile& d) {
    std::error_code ec;
    const fs::path key = fs::weakly_canonical(d.path, ec);
    if (seen.insert(ec ? fs::path(d.path) : key).second) docs.push_back(d);
  };
  for (const std::string& p : paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    if (ec || !fs::exists(st)) return Status::error("{}: no such file or directory (--data)", p);
    if (fs::is_regular_file(st)) {
      add({p, fs::path(p).filename().string()});
      continue;
    }
    if (!fs::is_directory(st)) return Status::error("{}: not a file or directory (--data)", p);
    std::vector<DocumentFile> found;
    // Names start with the directory's own name ("web/01-Genesis.txt"), so that two inputs with the
    // same file names (web/, kjv/) stay apart.
    fs::path dir_path = fs::path(p).lexically_normal();
    if (dir_path.filename().empty()) dir_path = dir_path.parent_path();
    const fs::path base = dir_path.filename();
    for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file() && it->path().extension() == ".txt" && !skipped(it->path()))
        found.push_back({it->path().string(), (base / fs::relative(it->path(), p)).string()});
    if (ec) return Status::error("{}: cannot list: {}", p, ec.message());
    if (found.empty()) return Status::error("{}: no .txt files in this directory (--data)", p);
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    for (const DocumentFile& d : found) add(d);
  }
  return docs;
}

namespace {
uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}
}  // namespace

bool is_eval_document(const std::string& name, double eval_fraction, uint64_t seed) {
  uint64_t state = fnv1a(name) ^ (seed * 0x9e3779b97f4a7c15ULL);
  const double u = double(splitmix64_next(state) >> 11) / double(1ULL << 53);
  return u < eval_fraction;
}

std::vector<TrainRow> make_rows(const std::vector<Document>& docs, const std::vector<int>& seq_lens, int min_row_len) {
  std::vector<TrainRow> rows;
  const size_t nl = seq_lens.size();
  for (int d = 0; d < int(docs.size()); ++d) {
    const int n = int(docs[size_t(d)].tokens.size());
    size_t i = size_t(d) % nl;
    for (int b = 0; b < n;) {
      const int len = std::min(seq_lens[i++ % nl], n - b);
      if (len >= min_row_len) rows.push_back({d, b, len});
      b += len;
    }
  }
  return rows;
}

std::vector<int> epoch_order(int n, uint64_t seed, int epoch) {
  std::vector<int> order(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) order[size_t(i)] = i;
  uint64_t state = seed ^ (0xa5a5a5a5ULL + uint64_t(uint32_t(epoch)) * 0x9e3779b97f4a7c15ULL);
  for (int i = n - 1; i > 0; --i) std::swap(order[size_t(i)], order[size_t(splitmix64_next(state) % uint64_t(i + 1))]);
  return order;
}

double learning_rate(int step, int steps, double lr, double min_lr, int warmup) {
  if (step < warmup) return lr * double(step) / double(std::max(1, warmup));
  const double progress = double(step - warmup) / double(std::max(1, steps - warmup));
  return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

// ---------------------------------------------------------------------------------------------
// Trainer

namespace {

struct GateState {
  GateKind kind;
  GateSet w, m, v;  // weights and AdamW moments (same shapes)
  double min_lr = 0.0;
  std::string name() const { return std::string(gate_kind_name(kind)); }
};

constexpr GateTensorRole kRoles[] = {GateTensorRole::kLinearQ, GateTensorRole::kLinearK,
                                     GateTensorRole::kQNorm, GateTensorRole::kKNorm};

GateSet zeros_like(const GateSet& g) {
  GateSet z = g;
  for (auto& l : z.layers)
    for (GateTensorRole r : kRoles) std::fill(l.get(r).begin(), l.get(r).end(), 0.0f);
  return z;
}

std::string fmt_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const int64_t t = int64_t(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, t / 60 % 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}


class Trainer {
 public:
  Trainer(const Model& model, const TrainOptions& o) : model_(model), o_(o), pool_(o.num_threads) {}
  Result<TrainResult> run();

 private:
  void log(const std::string& line) const {
    if (o_.log)
      o_.log(line);
    else
      fmt::print(stderr, "{}\n", line);
  }
  Status check_options() const;
  Status load_data();
  Status init_or_resume();
  Status save_checkpoint();
  json options_json() const;
  // Examples of row `id` (train rows first, then eval rows), cached while memory allows.
  Result<std::shared_ptr<const RowExamples>> examples(int id);
  // Loss of a row per gate (scaled, summed over layers); adds grad_scale * d/dW into grads.
  std::vector<double> row_loss(const RowExamples& ex, std::vector<GateSet>* grads, double grad_scale);

  const Model& model_;
  TrainOptions o_;
  std::unique_ptr<Session> gpu_session_;  // Device::kCuda: the frozen model on the GPU
  ThreadPool pool_;
  std::vector<GateState> gates_;
  std::vector<Document> train_docs_, eval_docs_;
  std::vector<std::string> eval_names_;
  std::vector<TrainRow> rows_, eval_rows_;
  int64_t train_tokens_ = 0;
  std::string fingerprint_;
  std::vector<std::shared_ptr<const RowExamples>> cache_;
  int64_t cache_bytes_ = 0;
  int step_ = 0;
  json history_ = json::array();
  json evals_ = json::array();
  int64_t tokens_forward_ = 0;
  double forward_seconds_ = 0.0;  // frozen forwards in this process
  int forwards_ = 0;
};

Status Trainer::check_options() const {
  const ModelConfig& c = model_.config;
  if (!o_.prefill && !o_.decode) return Status::error("nothing to train: choose --kind prefill, decode or both");
  if (o_.out.empty()) return Status::error("--out is required");
  if (o_.device == Device::kCuda) SEER_RETURN_IF_ERROR(CudaForward::available());
  if (o_.steps < 1) return Status::error("--steps {}: must be at least 1", o_.steps);
  if (o_.batch < 1) return Status::error("--batch {}: must be at least 1", o_.batch);
  if (o_.seq_lens.empty()) return Status::error("--seq-len: give at least one row length");
  for (int len : o_.seq_lens) {
    if (len < 1) return Status::error("--seq-len {}: must be positive", len);
    if (c.max_position > 0 && len > c.max_position)
      return Status::error("--seq-len {} is above the model's context of {} tokens ({})", len, c.max_position,
                           model_.path);
  }
  if (!(o_.lr > 0.0)) return Status::error("--lr {}: must be positive", o_.lr);
  if (o_.warmup < 0) return Status::error("--warmup {}: must be >= 0", o_.warmup);
  if (!(o_.eval_fraction >= 0.0 && o_.eval_fraction < 1.0))
    return Status::error("--eval-fraction {}: must be in [0, 1)", o_.eval_fraction);
  if (o_.checkpoint_every < 1) return Status::error("--checkpoint-every {}: must be at least 1", o_.checkpoint_every);
  if (!model_.tokenizer) return Status::error("{}: the model has no tokenizer", model_.path);
  return Status::ok();
}

Status Trainer::load_data() {
  SEER_ASSIGN_OR_RETURN(std::vector<DocumentFile> files, list_documents(o_.data, o_.out + "/eval_documents.txt"));
  const Tokenizer& tok = *model_.tokenizer;
  uint64_t fp = 1469598103934665603ULL;
  const double t0 = now_seconds();
  int64_t eval_tokens = 0;
  for (const DocumentFile& f : files) {
    if (o_.should_stop && o_.should_stop()) return Status::ok();  // run() reports the stop
    std::ifstream in(f.path, std::ios::binary);
    if (!in) return Status::error("{}: cannot read", f.path);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    if (text.find('\0') != std::string::npos)  // a model or archive named by mistake
      return Status::error("{}: not a text file (it holds NUL bytes) (--data)", f.path);
    Document doc{f.name, tok.encode(text, /*parse_special=*/false)};
    fp = fnv1a(f.name, fp);
    for (int t : doc.tokens) fp = (fp ^ uint64_t(uint32_t(t))) * 1099511628211ULL;
    if (doc.tokens.empty()) continue;
    if (is_eval_document(f.name, o_.eval_fraction, o_.split_seed)) {
      eval_tokens += int64_t(doc.tokens.size());
      eval_names_.push_back(doc.name);
      eval_docs_.push_back(std::move(doc));
    } else {
      train_tokens_ += int64_t(doc.tokens.size());
      train_docs_.push_back(std::move(doc));
    }
  }
  fingerprint_ = fmt::format("{:016x}", fp);
  if (train_tokens_ == 0)
    return Status::error("the corpus ({}) has no training text: {} documents, all empty or held out",
                         fmt::join(o_.data, ", "), files.size());
  const int bs = gates_.front().w.config.block_size;
  const int shortest = *std::min_element(o_.seq_lens.begin(), o_.seq_lens.end());
  // A row needs two gate blocks: the decode targets are strictly previous blocks, and the prefill
  // targets drop the first quarter of the query-block rows.
  if (shortest < 2 * bs)
    return Status::error("--seq-len {}: a training row needs at least 2 gate blocks ({} tokens)", shortest, 2 * bs);
  if (o_.min_row_len > 0 && o_.min_row_len < 2 * bs)
    return Status::error("--min-row-len {}: a training row needs at least 2 gate blocks ({} tokens)", o_.min_row_len,
                         2 * bs);
  const int longest = *std::max_element(o_.seq_lens.begin(), o_.seq_lens.end());
  if (o_.min_row_len > longest)
    return Status::error("--min-row-len {} is above the longest --seq-len {}: no row is that long", o_.min_row_len,
                         longest);
  const int min_len = o_.min_row_len > 0 ? o_.min_row_len : std::min(std::max(4 * bs, shortest / 8), shortest);
  rows_ = make_rows(train_docs_, o_.seq_lens, min_len);
  if (rows_.empty())
    return Status::error("no training row of at least {} tokens: the {} training documents are too short "
                         "(lower --min-row-len, or add longer documents)", min_len, train_docs_.size());
  const int all_rows = int(rows_.size());
  if (o_.max_rows > 0 && o_.max_rows < all_rows) {
    std::vector<int> pick = epoch_order(all_rows, o_.seed ^ 0x6d61782d726f7773ULL, 0);
    pick.resize(size_t(o_.max_rows));
    std::sort(pick.begin(), pick.end());
    std::vector<TrainRow> kept;
    for (int i : pick) kept.push_back(rows_[size_t(i)]);
    rows_ = std::move(kept);
  }
  std::vector<TrainRow> ev = make_rows(eval_docs_, o_.seq_lens, min_len);
  for (int i = 0; i < int(ev.size()) && i < o_.eval_rows; ++i) eval_rows_.push_back(ev[size_t(i)]);
  if (o_.eval_every > 0 && eval_rows_.empty())
    log(fmt::format("warning: --eval-every {}, but no held-out row of at least {} tokens: no eval loss will be "
                    "recorded", o_.eval_every, min_len));
  cache_.assign(rows_.size() + eval_rows_.size(), nullptr);
  log(fmt::format("data: {} documents ({} train, {} eval), {} train tokens, {} eval tokens, tokenised in {:.1f} s; "
                  "{} training rows (lengths {} tokens){}, {} eval rows",
                  files.size(), train_docs_.size(), eval_docs_.size(), train_tokens_, eval_tokens,
                  now_seconds() - t0, rows_.size(), fmt::join(o_.seq_lens, "/"),
                  int(rows_.size()) < all_rows ? fmt::format(" (a sample of {})", all_rows) : "",
                  eval_rows_.size()));
  return Status::ok();
}

namespace {
// What a checkpoint must match beyond the layer count: a model of other dimensions, RoPE or embeddings
// would train the stored gates on other attention.
std::string model_shape(const ModelConfig& c) {
  return fmt::format("{} layers {} hidden {} ffn {} heads {}/{} head_dim {} vocab {} rope theta {} scaling {} x{} {}",
                     arch_name(c.arch), c.num_layers, c.hidden_size, c.intermediate_size, c.num_qo_heads,
                     c.num_kv_heads, c.head_dim, c.vocab_size, c.rope_theta, int(c.rope_scaling.type),
                     c.rope_scaling.factor, c.tied_embeddings ? "tied" : "untied");
}
// A gate's architecture, as the options that make it give it (--gate-type, --q-pooling, --hidden-size, ...):
// the fields its kind's config stores.
std::string gate_arch(const GateConfig& g) {
  if (g.kind == GateKind::kPrefill)
    return fmt::format("block {} hidden {} type {} force-double {}", g.block_size, g.hidden_size, g.gate_type,
                       g.force_double);
  std::string pools;
  for (PoolType p : g.k_pools) pools += std::to_string(int(p));
  return fmt::format("block {} hidden {} k-pools {} q-pooling {} qk-norm {} rope {}", g.block_size, g.hidden_size, pools,
                     int(g.q_head_pooling), g.use_qk_norm, g.use_rope);
}
}  // namespace

json Trainer::options_json() const {
  json j;
  j["prefill"] = o_.prefill;
  j["decode"] = o_.decode;
  j["steps"] = o_.steps;
  // One length is stored as a number, as before several lengths existed (older checkpoints resume).
  j["seq_len"] = o_.seq_lens.size() == 1 ? json(o_.seq_lens[0]) : json(o_.seq_lens);
  j["batch"] = o_.batch;
  j["lr"] = o_.lr;
  j["min_lr_prefill"] = o_.min_lr_prefill;
  j["min_lr_decode"] = o_.min_lr_decode;
  j["warmup"] = o_.warmup;
  j["weight_decay"] = o_.weight_decay;
  j["clip"] = o_.clip;
  j["loss_scale"] = o_.loss_scale;
  j["seed"] = o_.seed;
  j["split_seed"] = o_.split_seed;
  j["init"] = o_.init;
  j["eval_fraction"] = o_.eval_fraction;
  j["min_row_len"] = o_.min_row_len;
  j["max_rows"] = o_.max_rows;
  j["decode_tokens"] = o_.decode_tokens;
  j["eval_rows"] = o_.eval_rows;
  // Stored only when it is not SPEC's block max, so that older checkpoints (without the key) resume.
  if (o_.ground_truth == BlockStat::kMass) j["ground_truth"] = "mass";
  if (o_.group_pool == GroupPool::kSum) j["group_pool"] = "sum";  // likewise
  if (o_.prefill_gate.sink_excluded || o_.decode_gate.sink_excluded) j["exclude_sink"] = true;  // likewise
  return j;
}

Status Trainer::init_or_resume() {
  const std::string ckpt = o_.out + "/checkpoint", tmp = o_.out + "/checkpoint.tmp", old = o_.out + "/checkpoint.old";
  std::error_code ec;
  // A crash between save_checkpoint's two renames leaves no checkpoint/: put the newest whole one back
  // first (tmp/ is whole once its state.json exists, written last), so that the next save, which drops
  // checkpoint.old, never leaves the run without one.
  if (!fs::exists(ckpt)) {
    const std::string from = fs::exists(tmp + "/state.json") ? tmp : fs::exists(old + "/state.json") ? old : "";
    if (!from.empty()) {
      fs::rename(from, ckpt, ec);
      if (ec) return Status::error("{}: cannot rename to {}: {}", from, ckpt, ec.message());
      log(fmt::format("{} restored as {} (a run stopped while it saved)", from, ckpt));
    }
  }
  const std::string dir = ckpt;
  const bool have = fs::exists(dir + "/state.json");
  if (have && !o_.resume)
    return Status::error("{} already holds a training run (step checkpoint in {}): pass --resume to continue "
                         "it, or choose another --out", o_.out, dir);
  if (!have && o_.resume) return Status::error("--resume: {} has no checkpoint to resume from", o_.out);
  if (!have)  // gates without a run (init-gates, or a run's checkpoint removed) are not overwritten
    for (const char* sub : {"", "/prefill", "/decode"})
      if (fs::exists(o_.out + sub + "/config.json"))
        return Status::error("{} already holds gates ({}): choose another --out", o_.out, o_.out + sub + "/config.json");
  fs::create_directories(o_.out, ec);
  if (ec) return Status::error("{}: cannot create: {}", o_.out, ec.message());
  // Found now, not at the first checkpoint after minutes of training.
  SEER_RETURN_IF_ERROR(write_file_atomic(o_.out + "/.write-test", "").with_context("--out"));
  fs::remove(o_.out + "/.write-test", ec);

  if (!have) {
    GateBundle start;
    if (!o_.init.empty()) {
      SEER_ASSIGN_OR_RETURN(start, load_gate_bundle(o_.init, model_.config, "--init"));
    }
    for (auto& g : gates_) {
      const GateOptions& go = g.kind == GateKind::kPrefill ? o_.prefill_gate : o_.decode_gate;
      if (!o_.init.empty()) {
        const auto& from = g.kind == GateKind::kPrefill ? start.prefill : start.decode;
        if (!from) return Status::error("--init {}: has no {} gate", o_.init, g.name());
        if (from->config.block_size != go.block_size)
          return Status::error("--init {}: the {} gate has block size {}, the run uses {}", o_.init, g.name(),
                               from->config.block_size, go.block_size);
        g.w = *from;
        g.w.config.sink_excluded = go.sink_excluded;  // the run's loss decides, not the starting gates'
        g.w.budget_shares.clear();  // calibrated for the starting weights, not for the ones trained here
        g.w.budget_calibration.clear();
      } else {
        SEER_ASSIGN_OR_RETURN(g.w, init_gates(g.kind, model_.config, go,
                                              o_.seed + (g.kind == GateKind::kPrefill ? 0 : 1)));
      }
      g.m = zeros_like(g.w);
      g.v = zeros_like(g.w);
    }
    return Status::ok();
  }
  std::ifstream in(dir + "/state.json");
  json st;
  try {
    in >> st;
  } catch (const std::exception& e) {
    return Status::error("{}/state.json: not valid JSON: {}", dir, e.what());
  }
  // Every option either side holds (one stored only when set, ground_truth, is null on the other).
  const json now = options_json();
  json was = st["options"].is_object() ? st["options"] : json::object();
  json keys = now;
  keys.update(was);
  const auto show = [](const json& v) { return v.is_null() ? std::string("unset") : v.dump(); };
  const auto flag = [](const std::string& key) {  // the command-line option a stored key comes from
    if (key == "prefill" || key == "decode") return std::string("--kind");
    if (key == "min_lr_prefill" || key == "min_lr_decode") return std::string("--min-lr");
    if (key == "loss_scale") return std::string("the loss scale (a constant of this build)");
    std::string f = "--" + key;
    std::replace(f.begin(), f.end(), '_', '-');
    return f;
  };
  const auto same = [](const std::string& key, const json& a, const json& b) {
    if (key != "init" || !a.is_string() || !b.is_string()) return a == b;
    std::error_code e1, e2;  // ./run and run are one --init
    return fs::weakly_canonical(a.get<std::string>(), e1) == fs::weakly_canonical(b.get<std::string>(), e2);
  };
  for (auto it = keys.begin(); it != keys.end(); ++it)
    if (!same(it.key(), now.value(it.key(), json()), was.value(it.key(), json())))
      return Status::error("--resume: {} ({}) is {} now but {} in {}/state.json; resume with the same options",
                           flag(it.key()), it.key(), show(now.value(it.key(), json())), show(was.value(it.key(), json())),
                           dir);
  if (st.value("data_fingerprint", "") != fingerprint_)
    return Status::error("--resume: the data under {} differs from the checkpoint's (fingerprint {} vs {})",
                         fmt::join(o_.data, ", "), fingerprint_, st.value("data_fingerprint", ""));
  if (st.value("model_layers", -1) != model_.config.num_layers)
    return Status::error("--resume: {} was made for a model with {} layers, {} has {}", dir,
                         st.value("model_layers", -1), model_.path, model_.config.num_layers);
  if (st.contains("model_shape") && st["model_shape"] != model_shape(model_.config))  // (older checkpoints lack it)
    return Status::error("--resume: {} was made for a model of {}, {} is one of {}", dir, show(st["model_shape"]),
                         model_.path, model_shape(model_.config));
  for (auto& g : gates_) {
    const std::string base = dir + "/" + g.name();
    SEER_ASSIGN_OR_RETURN(g.w, load_gates(base, model_.config));
    // The stored gates against those the options give now (with --init the architecture is --init's, and
    // only the block size is an option).
    const GateOptions& go = g.kind == GateKind::kPrefill ? o_.prefill_gate : o_.decode_gate;
    GateConfig fresh = g.w.config;
    if (o_.init.empty()) {
      SEER_ASSIGN_OR_RETURN(fresh, gate_config(g.kind, model_.config, go));
    } else {
      fresh.block_size = go.block_size;
    }
    if (gate_arch(fresh) != gate_arch(g.w.config))
      return Status::error("--resume: the {} gate in {} is {}, the options now give {}; resume with the same "
                           "--block-size, --gate-type, --q-pooling, --hidden-size, --no-qk-norm, --force-double",
                           g.name(), dir, gate_arch(g.w.config), gate_arch(fresh));
    SEER_ASSIGN_OR_RETURN(g.m, load_gates(base + ".adam_m", model_.config));
    SEER_ASSIGN_OR_RETURN(g.v, load_gates(base + ".adam_v", model_.config));
  }
  step_ = st.at("step").get<int>();
  history_ = st.value("history", json::array());
  evals_ = st.value("evals", json::array());
  log(fmt::format("resuming from {} at step {}/{}", dir, step_, o_.steps));
  return Status::ok();
}

Status Trainer::save_checkpoint() {
  const std::string ckpt = o_.out + "/checkpoint", tmp = o_.out + "/checkpoint.tmp", old = o_.out + "/checkpoint.old";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  for (const auto& g : gates_) {
    const std::string base = tmp + "/" + g.name();
    SEER_RETURN_IF_ERROR(save_gates(base, g.w, model_.config, DType::kF32));
    SEER_RETURN_IF_ERROR(save_gates(base + ".adam_m", g.m, model_.config, DType::kF32));
    SEER_RETURN_IF_ERROR(save_gates(base + ".adam_v", g.v, model_.config, DType::kF32));
  }
  json st;
  st["version"] = 1;
  st["step"] = step_;
  st["options"] = options_json();
  st["model"] = model_.name;
  st["model_layers"] = model_.config.num_layers;
  st["model_shape"] = model_shape(model_.config);
  st["data"] = o_.data;
  st["data_fingerprint"] = fingerprint_;
  st["train_documents"] = int(train_docs_.size());
  st["train_tokens"] = train_tokens_;
  st["train_rows"] = int(rows_.size());
  st["eval_documents"] = eval_names_;
  st["history"] = history_;
  st["evals"] = evals_;
  SEER_RETURN_IF_ERROR(write_file_atomic(tmp + "/state.json", st.dump(1)));
  // Swap in: checkpoint -> checkpoint.old, tmp -> checkpoint, drop old. A crash in between leaves
  // checkpoint.old, which init_or_resume() picks up.
  fs::remove_all(old, ec);
  if (fs::exists(ckpt)) {
    fs::rename(ckpt, old, ec);
    if (ec) return Status::error("{}: cannot rename to {}: {}", ckpt, old, ec.message());
  }
  fs::rename(tmp, ckpt, ec);
  if (ec) return Status::error("{}: cannot rename to {}: {}", tmp, ckpt, ec.message());
  fs::remove_all(old, ec);
  // The current gates, ready for --gates OUT, and the loss log.
  for (const auto& g : gates_) SEER_RETURN_IF_ERROR(save_gates(o_.out + "/" + g.name(), g.w, model_.config, DType::kBF16));
  std::string tsv = "step\tkind\tloss\tlr\tgrad_norm\ttokens\tseconds\n";
  for (const json& h : history_)
    for (const auto& g : gates_)
      tsv += fmt::format("{}\t{}\t{:.6f}\t{:.3e}\t{:.4f}\t{}\t{:.1f}\n", h["step"].get<int>(), g.name(),
                         h["loss_" + g.name()].get<double>(), h["lr_" + g.name()].get<double>(),
                         h["grad_norm_" + g.name()].get<double>(), h["tokens"].get<int64_t>(),
                         h["seconds"].get<double>());
  SEER_RETURN_IF_ERROR(write_file_atomic(o_.out + "/loss.tsv", tsv));
  std::string etsv = "step\tkind\teval_loss\n";
  for (const json& e : evals_)
    for (const auto& g : gates_)
      etsv += fmt::format("{}\t{}\t{:.6f}\n", e["step"].get<int>(), g.name(), e["loss_" + g.name()].get<double>());
  SEER_RETURN_IF_ERROR(write_file_atomic(o_.out + "/eval_loss.tsv", etsv));
  std::string names;
  for (const auto& n : eval_names_) names += n + "\n";
  return write_file_atomic(o_.out + "/eval_documents.txt", names);
}

Result<std::shared_ptr<const RowExamples>> Trainer::examples(int id) {
  if (cache_[size_t(id)]) return cache_[size_t(id)];
  const bool eval = id >= int(rows_.size());
  const TrainRow& r = eval ? eval_rows_[size_t(id) - rows_.size()] : rows_[size_t(id)];
  const Document& doc = eval ? eval_docs_[size_t(r.doc)] : train_docs_[size_t(r.doc)];
  std::vector<int> tokens(doc.tokens.begin() + r.begin, doc.tokens.begin() + r.begin + r.len);
  ExampleOptions eo;
  for (const auto& g : gates_) (g.kind == GateKind::kPrefill ? eo.prefill : eo.decode) = &g.w;
  eo.decode_tokens = o_.decode_tokens;
  eo.ground_truth = o_.ground_truth;
  eo.group_pool = o_.group_pool;
  uint64_t s = o_.seed ^ (uint64_t(id + 1) * 0xd1342543de82ef95ULL);
  eo.sample_seed = splitmix64_next(s);
  eo.num_threads = o_.num_threads;
  eo.device = o_.device;
  if (o_.device == Device::kCuda) {  // one GPU session for the run: the weights are uploaded once
    if (!gpu_session_) {
      SessionOptions so;
      so.max_context = *std::max_element(o_.seq_lens.begin(), o_.seq_lens.end());
      so.num_threads = o_.num_threads;
      so.device = Device::kCuda;
      SEER_ASSIGN_OR_RETURN(gpu_session_, Session::create(model_, so));
    }
    eo.session = gpu_session_.get();
  }
  auto ex = std::make_shared<RowExamples>();
  const double t0 = now_seconds();
  SEER_RETURN_IF_ERROR(collect_examples(model_, tokens, eo, &ex->prefill, &ex->decode));
  forward_seconds_ += now_seconds() - t0;
  ++forwards_;
  tokens_forward_ += r.len;
  const int64_t b = ex->bytes();
  if (cache_bytes_ + b <= o_.cache_mb * (int64_t(1) << 20)) {
    cache_[size_t(id)] = ex;
    cache_bytes_ += b;
  }
  return std::shared_ptr<const RowExamples>(ex);
}

std::vector<double> Trainer::row_loss(const RowExamples& ex, std::vector<GateSet>* grads, double grad_scale) {
  const int L = model_.config.num_layers;
  std::vector<double> per(gates_.size() * size_t(L), 0.0);  // [gate, layer]
  pool_.parallel_for(int64_t(gates_.size()) * L, [&](int64_t i, int) {
    const size_t gi = size_t(i / L);
    const int l = int(i % L);
    const GateState& g = gates_[gi];
    GateLayerWeights* gl = grads ? &(*grads)[gi].layers[size_t(l)] : nullptr;
    const double s = grad_scale * o_.loss_scale;
    per[size_t(i)] = o_.loss_scale * (g.kind == GateKind::kPrefill
                                          ? prefill_gate_loss(g.w, l, ex.prefill[size_t(l)], gl, s)
                                          : decode_gate_loss(g.w, l, ex.decode[size_t(l)], gl, s));
  });
  std::vector<double> loss(gates_.size(), 0.0);
  for (size_t gi = 0; gi < gates_.size(); ++gi)
    for (int l = 0; l < L; ++l) loss[gi] += per[gi * size_t(L) + size_t(l)];
  return loss;
}

Result<TrainResult> Trainer::run() {
  SEER_RETURN_IF_ERROR(check_options());
  if (o_.prefill) gates_.push_back({GateKind::kPrefill, {}, {}, {}, o_.min_lr_prefill});
  if (o_.decode) gates_.push_back({GateKind::kDecode, {}, {}, {}, o_.min_lr_decode});
  // Block sizes must agree (one forward serves both gates).
  if (o_.prefill && o_.decode && o_.prefill_gate.block_size != o_.decode_gate.block_size)
    return Status::error("prefill and decode gates must share a block size ({} vs {})",
                         o_.prefill_gate.block_size, o_.decode_gate.block_size);
  for (auto& g : gates_) g.w.config.block_size = (g.kind == GateKind::kPrefill ? o_.prefill_gate : o_.decode_gate).block_size;
  SEER_RETURN_IF_ERROR(load_data());
  TrainResult res;
  if (o_.should_stop && o_.should_stop()) {  // interrupted while the corpus was read: nothing written yet
    log("stopped while reading the data; nothing was written");
    res.stopped = true;
    return res;
  }
  SEER_RETURN_IF_ERROR(init_or_resume());

  const double t_start = now_seconds();
  const double prior_seconds = history_.empty() ? 0.0 : history_.back()["seconds"].get<double>();
  int64_t prior_tokens = history_.empty() ? 0 : history_.back()["tokens"].get<int64_t>();
  const int n_rows = int(rows_.size());
  auto eval_loss = [&]() -> Result<std::vector<double>> {
    std::vector<double> tot(gates_.size(), 0.0);
    for (int e = 0; e < int(eval_rows_.size()); ++e) {
      SEER_ASSIGN_OR_RETURN(auto ex, examples(n_rows + e));
      std::vector<double> l = row_loss(*ex, nullptr, 0.0);
      for (size_t gi = 0; gi < gates_.size(); ++gi) tot[gi] += l[gi] / double(eval_rows_.size());
    }
    return tot;
  };
  auto record_eval = [&]() -> Status {
    if (eval_rows_.empty()) return Status::ok();
    SEER_ASSIGN_OR_RETURN(std::vector<double> el, eval_loss());
    json e;
    e["step"] = step_;
    std::string line = fmt::format("eval  step {:>5}", step_);
    for (size_t gi = 0; gi < gates_.size(); ++gi) {
      e["loss_" + gates_[gi].name()] = el[gi];
      line += fmt::format("  {} {:.5f}", gates_[gi].name(), el[gi]);
    }
    if (!evals_.empty() && evals_.back()["step"].get<int>() == step_) evals_.erase(evals_.size() - 1);
    evals_.push_back(e);
    res.eval_loss = el.front();
    log(line);
    return Status::ok();
  };
  if (step_ == 0 && o_.eval_every > 0) SEER_RETURN_IF_ERROR(record_eval());

  std::vector<GateSet> grads;
  for (const auto& g : gates_) grads.push_back(zeros_like(g.w));
  const int start_step = step_;
  std::vector<int> order;  // row order of epoch `order_epoch`
  int order_epoch = -1;
  while (step_ < o_.steps) {
    const double t0 = now_seconds();
    for (auto& gr : grads)
      for (auto& l : gr.layers)
        for (GateTensorRole r : kRoles) std::fill(l.get(r).begin(), l.get(r).end(), 0.0f);
    std::vector<double> loss(gates_.size(), 0.0);
    int64_t step_tokens = 0;
    for (int b = 0; b < o_.batch; ++b) {
      const int64_t k = int64_t(step_) * o_.batch + b;  // position in the endless epoch sequence
      const int epoch = int(k / n_rows), idx = int(k % n_rows);
      if (epoch != order_epoch) {  // one permutation per epoch, not one per row
        order = epoch_order(n_rows, o_.seed, epoch);
        order_epoch = epoch;
      }
      const int row = order[size_t(idx)];
      SEER_ASSIGN_OR_RETURN(auto ex, examples(row));
      step_tokens += rows_[size_t(row)].len;
      std::vector<double> l = row_loss(*ex, &grads, 1.0 / o_.batch);
      for (size_t gi = 0; gi < gates_.size(); ++gi) loss[gi] += l[gi] / o_.batch;
    }
    json h;
    h["step"] = step_ + 1;
    std::string line = fmt::format("step {:>5}/{}", step_ + 1, o_.steps);
    for (size_t gi = 0; gi < gates_.size(); ++gi) {
      GateState& g = gates_[gi];
      // Global L2 norm over this gate's tensors, then clip.
      double sq = 0.0;
      for (auto& l : grads[gi].layers)
        for (GateTensorRole r : kRoles)
          for (float x : l.get(r)) sq += double(x) * x;
      const double norm = std::sqrt(sq);
      const double clip = (o_.clip > 0.0 && norm > o_.clip) ? o_.clip / (norm + 1e-6) : 1.0;
      const double lr = learning_rate(step_, o_.steps, o_.lr, g.min_lr, o_.warmup);
      const double b1 = 0.9, b2 = 0.999, eps = 1e-8, t = step_ + 1;
      const double c1 = 1.0 - std::pow(b1, t), c2 = 1.0 - std::pow(b2, t);
      for (size_t l = 0; l < g.w.layers.size(); ++l)
        for (GateTensorRole r : kRoles) {
          std::vector<float>& w = g.w.layers[l].get(r);
          std::vector<float>& m = g.m.layers[l].get(r);
          std::vector<float>& v = g.v.layers[l].get(r);
          const std::vector<float>& gr = grads[gi].layers[l].get(r);
          for (size_t e = 0; e < w.size(); ++e) {
            const double gd = double(gr[e]) * clip;
            double p = double(w[e]) * (1.0 - lr * o_.weight_decay);
            const double me = b1 * m[e] + (1.0 - b1) * gd, ve = b2 * v[e] + (1.0 - b2) * gd * gd;
            p -= lr * (me / c1) / (std::sqrt(ve / c2) + eps);
            w[e] = float(p);
            m[e] = float(me);
            v[e] = float(ve);
          }
        }
      h["loss_" + g.name()] = loss[gi];
      h["lr_" + g.name()] = lr;
      h["grad_norm_" + g.name()] = norm;
      line += fmt::format("  {} loss {:.5f} |g| {:.3f}", g.name(), loss[gi], norm);
      res.last_loss = loss[gi];
    }
    ++step_;
    const double now = now_seconds(), elapsed = now - t_start;
    prior_tokens += step_tokens;
    h["tokens"] = prior_tokens;
    h["seconds"] = prior_seconds + elapsed;
    history_.push_back(h);
    // ETA: rows not yet cached cost a frozen forward each; the rest of a step is the gate math.
    int uncached = 0;
    for (int i = 0; i < n_rows; ++i) uncached += !cache_[size_t(i)];
    const int64_t visits_left = int64_t(o_.steps - step_) * o_.batch;
    const double fwd = forwards_ > 0 ? forward_seconds_ / forwards_ : 0.0;
    const double math = (elapsed - forward_seconds_) / double(step_ - start_step);
    const double eta = double(std::min<int64_t>(uncached, visits_left)) * fwd + math * (o_.steps - step_);
    line += fmt::format("  lr {:.2e}  {:.0f} tok/s  {:.1f} s/step  elapsed {}  ETA {}",
                        h["lr_" + gates_[0].name()].get<double>(), double(step_tokens) / (now - t0), now - t0,
                        fmt_duration(prior_seconds + elapsed), fmt_duration(eta));
    log(line);
    if (o_.eval_every > 0 && step_ % o_.eval_every == 0 && step_ < o_.steps) SEER_RETURN_IF_ERROR(record_eval());
    const bool stop = (o_.should_stop && o_.should_stop()) || (o_.stop_after > 0 && step_ - start_step >= o_.stop_after);
    if (step_ % o_.checkpoint_every == 0 || step_ == o_.steps || stop) SEER_RETURN_IF_ERROR(save_checkpoint());
    if (stop && step_ < o_.steps) {
      res.stopped = true;
      log(fmt::format("stopped at step {}; checkpoint in {}/checkpoint (continue with --resume)", step_, o_.out));
      break;
    }
  }
  if (!res.stopped) {
    SEER_RETURN_IF_ERROR(record_eval());
    SEER_RETURN_IF_ERROR(save_checkpoint());
  }
  res.steps_done = step_;
  res.seconds = now_seconds() - t_start;
  res.tokens = tokens_forward_;
  return res;
}

}  // namespace

Result<TrainResult> train_gates(const Model& model, const TrainOptions& opts) {
  Trainer t(model, opts);
  return t.run();
}

}  // namespace seer
