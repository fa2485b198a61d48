// AttnGate configuration vocabulary (SPEC §1.2, §2.1, §7): names, pool lists, the tensors a
// configuration needs and their checks, fresh gates. No file access: loading and saving live in
// gates_io.cpp.
#include <seer/gates.h>

#include "seer/gate_math.h"

#include <random>
#include <string>
#include <vector>

namespace seer {
namespace {

constexpr const char* kPoolNames[] = {"max", "min", "avg"};
using gate_detail::shape_str;

std::string tensor_base(int layer) { return fmt::format("model.layers.{}.self_attn.attn_gate.", layer); }

}  // namespace

std::string_view gate_kind_name(GateKind k) { return k == GateKind::kPrefill ? "prefill" : "decode"; }

std::string_view q_head_pooling_name(QHeadPooling p) {
  switch (p) {
    case QHeadPooling::kQproj: return "Qproj";
    case QHeadPooling::kQavgproj: return "Qavgproj";
    case QHeadPooling::kQavg: return "Qavg";
  }
  return "?";
}

Result<std::vector<PoolType>> parse_pool_list(const std::string& s, char prefix) {
  auto fail = [&] {
    return Status::error(
        "unknown pooling '{}' (expected '{}' followed by max, min, avg in that order, e.g. '{}maxminavg')",
        s, prefix, prefix);
  };
  if (s.empty() || s[0] != prefix) return fail();
  std::vector<PoolType> out;
  size_t i = 1;
  int next = 0;  // pools must follow the fixed order max, min, avg (SPEC §1.2)
  while (i < s.size()) {
    int found = -1;
    for (int p = next; p < 3; ++p)
      if (s.compare(i, 3, kPoolNames[p]) == 0) {
        found = p;
        break;
      }
    if (found < 0) return fail();
    out.push_back(PoolType(found));
    next = found + 1;
    i += 3;
  }
  if (out.empty()) return fail();
  return out;
}

Status parse_gate_type(const std::string& s, std::vector<PoolType>* q_pools,
                       std::vector<PoolType>* k_pools) {
  const size_t us = s.find('_');
  auto fail = [&] {
    return Status::error(
        "unknown gate type '{}' (expected Q<pools>_K<pools>, pools from max, min, avg in that "
        "order, e.g. 'Qavg_Kmaxminavg')",
        s);
  };
  if (us == std::string::npos) return fail();
  auto q = parse_pool_list(s.substr(0, us), 'Q');
  auto k = parse_pool_list(s.substr(us + 1), 'K');
  if (!q || !k) return fail();
  *q_pools = *q;
  *k_pools = *k;
  return Status::ok();
}

std::string pool_list_name(const std::vector<PoolType>& pools, char prefix) {
  std::string s(1, prefix);
  for (PoolType p : pools) s += kPoolNames[int(p)];
  return s;
}

int64_t GateTensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<float>& GateLayerWeights::get(GateTensorRole r) {
  switch (r) {
    case GateTensorRole::kLinearQ: return linear_q;
    case GateTensorRole::kLinearK: return linear_k;
    case GateTensorRole::kQNorm: return q_norm;
    case GateTensorRole::kKNorm: return k_norm;
  }
  return linear_k;
}
const std::vector<float>& GateLayerWeights::get(GateTensorRole r) const {
  return const_cast<GateLayerWeights*>(this)->get(r);
}

std::vector<GateTensorSpec> gate_tensor_specs(const GateConfig& c, const ModelConfig& m, int layer) {
  const int64_t Hq = m.num_qo_heads, Hkv = m.num_kv_heads, d = m.head_dim, dg = c.hidden_size;
  const int64_t g = Hkv > 0 ? Hq / Hkv : 0;
  const int64_t kin = int64_t(c.k_pools.size()) * d;
  const std::string base = tensor_base(layer);
  std::vector<GateTensorSpec> specs;
  if (c.kind == GateKind::kPrefill) {
    if (c.prefill_two_linear(m.head_dim)) {
      specs.push_back({GateTensorRole::kLinearQ, base + "mask_linear_q.weight",
                       {Hq, int64_t(c.q_pools.size()) * d, dg}});
      specs.push_back({GateTensorRole::kLinearK, base + "mask_linear_k.weight", {Hkv, kin, dg}});
    } else {
      specs.push_back({GateTensorRole::kLinearK, base + "mask_linear_k.weight", {Hq, kin, dg}});
    }
  } else {
    if (c.q_head_pooling == QHeadPooling::kQproj)
      specs.push_back({GateTensorRole::kLinearQ, base + "attngate_linear_q.weight", {Hkv, g, d, dg}});
    else if (c.q_head_pooling == QHeadPooling::kQavgproj)
      specs.push_back({GateTensorRole::kLinearQ, base + "attngate_linear_q.weight", {Hkv, d, dg}});
    specs.push_back({GateTensorRole::kLinearK, base + "attngate_linear_k.weight", {Hkv, kin, dg}});
    if (c.use_qk_norm) {
      specs.push_back({GateTensorRole::kQNorm, base + "attngate_qnorm.weight", {dg}});
      specs.push_back({GateTensorRole::kKNorm, base + "attngate_knorm.weight", {dg}});
    }
  }
  return specs;
}

Status validate_gate_config(const GateConfig& c, const ModelConfig& m) {
  if (c.block_size != 64 && c.block_size != 128)
    return Status::error("gate block size must be 64 or 128, got {}", c.block_size);
  if (c.hidden_size <= 0 || c.hidden_size % 2 != 0)
    return Status::error("gate hidden size must be a positive even integer, got {}", c.hidden_size);
  if (m.num_kv_heads <= 0 || m.num_qo_heads % m.num_kv_heads != 0 || m.head_dim <= 0)
    return Status::error("model heads {}/{} (head_dim {}) are not a valid GQA layout", m.num_qo_heads,
                         m.num_kv_heads, m.head_dim);
  if (c.k_pools.empty()) return Status::error("gate has no K pooling");
  if (c.kind == GateKind::kPrefill) {
    if (c.q_pools.empty()) return Status::error("prefill gate has no Q pooling");
  } else if (c.q_head_pooling == QHeadPooling::kQavg && c.hidden_size != m.head_dim) {
    return Status::error("decode gate 'Qavg' has no Q linear, so the gate hidden size ({}) must equal "
                         "head_dim ({})",
                         c.hidden_size, m.head_dim);
  }
  return Status::ok();
}

Status validate_gates(const GateSet& gs, const ModelConfig& m) {
  SEER_RETURN_IF_ERROR(validate_gate_config(gs.config, m));
  if (int(gs.layers.size()) != m.num_layers)
    return Status::error("gates have {} layers but the model has {}", gs.layers.size(), m.num_layers);
  for (int l = 0; l < m.num_layers; ++l)
    for (const GateTensorSpec& s : gate_tensor_specs(gs.config, m, l)) {
      const auto& v = gs.layers[size_t(l)].get(s.role);
      if (int64_t(v.size()) != s.numel())
        return Status::error("gate tensor '{}' has {} elements, expected {} (shape {})", s.name,
                             v.size(), s.numel(), shape_str(s.shape));
    }
  return Status::ok();
}

Result<GateConfig> gate_config(GateKind kind, const ModelConfig& model, const GateOptions& o) {
  GateConfig c;
  c.kind = kind;
  c.block_size = o.block_size;
  c.hidden_size = o.hidden_size > 0 ? o.hidden_size : model.head_dim;
  c.sink_excluded = o.sink_excluded;
  c.base_model = o.base_model;
  if (kind == GateKind::kPrefill) {
    c.force_double = o.force_double;  // (a decode gate's config does not store it)
    c.gate_type = o.gate_type;
    SEER_RETURN_IF_ERROR(parse_gate_type(o.gate_type, &c.q_pools, &c.k_pools));
  } else {
    c.gate_type.clear();
    c.q_pools.clear();
    SEER_ASSIGN_OR_RETURN(c.k_pools, parse_pool_list(o.k_seq_pooling_type, 'K'));
    c.q_head_pooling = o.q_head_pooling;
    c.use_qk_norm = o.use_qk_norm;
    c.use_rope = o.use_rope;
    c.sparsity_method = "token_budget";
  }
  SEER_RETURN_IF_ERROR(validate_gate_config(c, model));
  return c;
}

Result<GateSet> init_gates(GateKind kind, const ModelConfig& model, const GateOptions& o,
                           uint64_t seed) {
  GateSet gs;
  SEER_ASSIGN_OR_RETURN(gs.config, gate_config(kind, model, o));
  const GateConfig& c = gs.config;
  gs.model = model;
  gs.layers.resize(size_t(model.num_layers));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (int l = 0; l < model.num_layers; ++l)
    for (const GateTensorSpec& s : gate_tensor_specs(c, model, l)) {
      auto& v = gs.layers[size_t(l)].get(s.role);
      v.resize(size_t(s.numel()));
      const bool norm = s.role == GateTensorRole::kQNorm || s.role == GateTensorRole::kKNorm;
      for (auto& x : v) x = norm ? 1.0f : normal(rng);
    }
  return gs;
}

}  // namespace seer
