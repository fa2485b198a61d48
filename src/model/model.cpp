// Model plumbing shared by the loaders: owned aligned buffers, shape validation of every weight
// against the config, format dispatch (directory = Hugging Face, file = GGUF) and the default path.
// Layouts (seer/model.h): matrices [out_features, in_features] row-major, 1-D tensors rows = 1.
#include <seer/model.h>
#include <seer/tokenizer.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace seer {

std::string_view arch_name(Arch a) {
  switch (a) {
    case Arch::kLlama: return "llama";
    case Arch::kQwen2: return "qwen2";
    case Arch::kQwen3: return "qwen3";
  }
  return "?";
}

Model::Model() = default;
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

void* Model::alloc(size_t bytes) {
  constexpr size_t kAlign = 64;
  const size_t rounded = bytes == 0 ? kAlign : (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  SEER_ASSERT(p != nullptr);
  storage.emplace_back(p, [](void* q) { std::free(q); });
  return p;
}

namespace {

Status check_weight(const std::string& name, const Weight& w, int64_t rows, int64_t cols,
                    bool must_be_f32) {
  if (w.empty()) return Status::error("missing tensor '{}' (expected shape [rows, cols] = [{}, {}])", name, rows, cols);
  if (w.rows != rows || w.cols != cols) {
    return Status::error("tensor '{}': expected shape [rows, cols] = [{}, {}], got [{}, {}]", name, rows, cols, w.rows, w.cols);
  }
  if (must_be_f32 && w.dtype != DType::kF32) {
    return Status::error("tensor '{}': expected dtype F32, got {}", name, dtype_name(w.dtype));
  }
  if (w.cols % dtype_block_elems(w.dtype) != 0) {
    return Status::error("tensor '{}': row length {} is not a multiple of the {} block size", name,
                         w.cols, dtype_name(w.dtype));
  }
  return Status::ok();
}

}  // namespace

Status validate_weights(const Model& m) {
  const ModelConfig& c = m.config;
  const std::string ctx = m.path.empty() ? std::string("model") : m.path;
  auto fail = [&](const Status& s) { return s.with_context(ctx); };
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.intermediate_size <= 0 || c.num_layers <= 0 ||
      c.num_qo_heads <= 0 || c.num_kv_heads <= 0 || c.head_dim <= 0) {
    return Status::error(
        "{}: invalid config: vocab {}, hidden {}, intermediate {}, layers {}, heads {}/{}, head_dim {}",
        ctx, c.vocab_size, c.hidden_size, c.intermediate_size, c.num_layers, c.num_qo_heads,
        c.num_kv_heads, c.head_dim);
  }
  if (c.num_qo_heads % c.num_kv_heads != 0) {
    return Status::error("{}: num_qo_heads {} is not a multiple of num_kv_heads {}", ctx,
                         c.num_qo_heads, c.num_kv_heads);
  }
  if (c.head_dim % 2 != 0) return Status::error("{}: head_dim {} is odd (RoPE needs pairs)", ctx, c.head_dim);

  const int64_t h = c.hidden_size, ff = c.intermediate_size, v = c.vocab_size;
  const int64_t q_dim = int64_t(c.num_qo_heads) * c.head_dim;
  const int64_t kv_dim = int64_t(c.num_kv_heads) * c.head_dim;
  const ModelWeights& w = m.weights;
  Status s = check_weight("token_embd.weight", w.tok_embd, v, h, false);
  if (s.is_ok()) s = check_weight("output_norm.weight", w.out_norm, 1, h, true);
  if (s.is_ok()) s = check_weight("output.weight", w.output, v, h, false);
  if (!s.is_ok()) return fail(s);
  if (int64_t(w.layers.size()) != c.num_layers) {
    return Status::error("{}: expected {} layers of weights, got {}", ctx, c.num_layers, w.layers.size());
  }
  for (int i = 0; i < c.num_layers; ++i) {
    const LayerWeights& l = w.layers[size_t(i)];
    auto n = [i](const char* t) { return fmt::format("blk.{}.{}", i, t); };
    struct Check {
      std::string name;
      const Weight* w;
      int64_t rows, cols;
      bool f32;
    };
    std::vector<Check> checks = {
        {n("attn_norm.weight"), &l.attn_norm, 1, h, true},
        {n("attn_q.weight"), &l.wq, q_dim, h, false},
        {n("attn_k.weight"), &l.wk, kv_dim, h, false},
        {n("attn_v.weight"), &l.wv, kv_dim, h, false},
        {n("attn_output.weight"), &l.wo, h, q_dim, false},
        {n("ffn_norm.weight"), &l.ffn_norm, 1, h, true},
        {n("ffn_gate.weight"), &l.w_gate, ff, h, false},
        {n("ffn_up.weight"), &l.w_up, ff, h, false},
        {n("ffn_down.weight"), &l.w_down, h, ff, false},
    };
    if (c.qkv_bias) {
      checks.push_back({n("attn_q.bias"), &l.bq, 1, q_dim, true});
      checks.push_back({n("attn_k.bias"), &l.bk, 1, kv_dim, true});
      checks.push_back({n("attn_v.bias"), &l.bv, 1, kv_dim, true});
    }
    if (c.qk_norm) {
      checks.push_back({n("attn_q_norm.weight"), &l.q_norm, 1, c.head_dim, true});
      checks.push_back({n("attn_k_norm.weight"), &l.k_norm, 1, c.head_dim, true});
    }
    for (const Check& k : checks) {
      Status cs = check_weight(k.name, *k.w, k.rows, k.cols, k.f32);
      if (!cs.is_ok()) return fail(cs);
    }
  }
  return Status::ok();
}

Result<Model> load_model(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return Status::error("{}: cannot load model: {}", path, std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) return load_hf_model(path);
  return load_gguf_model(path);
}

std::string default_model_path() {
  std::string home;
  if (const char* s = std::getenv("SEER_HOME"); s != nullptr && *s != '\0') {
    home = s;
  } else if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    home = std::string(h) + "/.cache/seer";
  } else {
    home = ".cache/seer";
  }
  return home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

}  // namespace seer
