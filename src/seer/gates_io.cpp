// AttnGate configuration, checkpoints and initialisation (SPEC §7, §4 "Initialization").
//
// A gate directory holds config.json (the base model's dims, every seerattn_* key, base_model) and
// one or more *.safetensors files whose tensor names are exactly upstream's state-dict keys,
//   model.layers.{i}.self_attn.attn_gate.{mask_linear_q,mask_linear_k}.weight          (prefill)
//   model.layers.{i}.self_attn.attn_gate.{attngate_linear_q,attngate_linear_k,
//                                          attngate_qnorm,attngate_knorm}.weight     (decode)
// with upstream shapes (see gate_tensor_specs). scripts/convert_upstream_gates.py turns a release
// (attn_gate_weights.pth) into this form. Weights are converted to owned f32 on load.
//
// The kind is read from the keys: seerattn_q_head_pooling_type marks a decode gate (SeerAttention-R),
// otherwise seerattn_gate_type marks a prefill gate.
#include <seer/gates.h>

#include "core/file.h"
#include "io/safetensors.h"
#include "seer/gate_math.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

namespace seer {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

using gate_detail::shape_str;

// Typed access to config.json with errors naming the file and the key.
class Keys {
 public:
  Keys(std::string path, const json& j) : path_(std::move(path)), j_(j) {}
  bool has(const char* k) const { return j_.contains(k) && !j_.at(k).is_null(); }
  Status missing(const char* k) const { return Status::error("{}: missing key '{}'", path_, k); }
  Status bad(const char* k, const char* what) const {
    return Status::error("{}: key '{}' must be {}, got {}", path_, k, what, j_.at(k).dump());
  }
  Result<std::string> str(const char* k, const std::string* dflt) const {
    if (!has(k)) return dflt ? Result<std::string>(*dflt) : Result<std::string>(missing(k));
    if (!j_.at(k).is_string()) return bad(k, "a string");
    return j_.at(k).get<std::string>();
  }
  Result<int64_t> integer(const char* k, const int64_t* dflt) const {
    if (!has(k)) return dflt ? Result<int64_t>(*dflt) : Result<int64_t>(missing(k));
    const json& v = j_.at(k);
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
        std::fabs(v.get<double>()) < 9e15)
      return int64_t(v.get<double>());
    return bad(k, "an integer");
  }
  Result<double> number(const char* k, double dflt) const {
    if (!has(k)) return dflt;
    if (!j_.at(k).is_number()) return bad(k, "a number");
    return j_.at(k).get<double>();
  }
  Result<bool> boolean(const char* k, bool dflt) const {
    if (!has(k)) return dflt;
    if (!j_.at(k).is_boolean()) return bad(k, "a boolean");
    return j_.at(k).get<bool>();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const json& j_;
};

Result<QHeadPooling> parse_q_head_pooling(const std::string& s) {
  if (s == "Qproj") return QHeadPooling::kQproj;
  if (s == "Qavgproj") return QHeadPooling::kQavgproj;
  if (s == "Qavg") return QHeadPooling::kQavg;
  return Status::error("unknown query head pooling '{}' (expected Qproj, Qavgproj or Qavg)", s);
}

Result<GateConfig> parse_config(const Keys& k) {
  GateConfig c;
  const std::string& path = k.path();
  if (k.has("seerattn_q_head_pooling_type")) {
    c.kind = GateKind::kDecode;
  } else if (k.has("seerattn_gate_type")) {
    c.kind = GateKind::kPrefill;
  } else {
    return Status::error(
        "{}: missing key 'seerattn_gate_type' (prefill gate) or 'seerattn_q_head_pooling_type' "
        "(decode gate): not an AttnGate config",
        path);
  }
  if (c.kind == GateKind::kPrefill) {
    SEER_ASSIGN_OR_RETURN(c.gate_type, k.str("seerattn_gate_type", nullptr));
    SEER_RETURN_IF_ERROR(parse_gate_type(c.gate_type, &c.q_pools, &c.k_pools)
                             .with_context(fmt::format("{}: key 'seerattn_gate_type'", path)));
    SEER_ASSIGN_OR_RETURN(c.force_double, k.boolean("seerattn_gate_force_double", false));
    SEER_ASSIGN_OR_RETURN(c.last_block_dense, k.boolean("seerattn_last_block_dense", true));
  } else {
    SEER_ASSIGN_OR_RETURN(std::string qp, k.str("seerattn_q_head_pooling_type", nullptr));
    auto p = parse_q_head_pooling(qp);
    if (!p) return p.status().with_context(fmt::format("{}: key 'seerattn_q_head_pooling_type'", path));
    c.q_head_pooling = *p;
    const std::string kdef = "Kmaxminavg";
    SEER_ASSIGN_OR_RETURN(std::string ks, k.str("seerattn_k_seq_pooling_type", &kdef));
    auto kp = parse_pool_list(ks, 'K');
    if (!kp) return kp.status().with_context(fmt::format("{}: key 'seerattn_k_seq_pooling_type'", path));
    c.k_pools = *kp;
    c.q_pools.clear();
    c.gate_type.clear();
    SEER_ASSIGN_OR_RETURN(c.use_qk_norm, k.boolean("seerattn_use_qk_norm", false));
    SEER_ASSIGN_OR_RETURN(c.use_rope, k.boolean("seerattn_use_rope", true));
    const int64_t zero = 0, budget = 4096;
    SEER_ASSIGN_OR_RETURN(int64_t sl, k.integer("seerattn_start_layer", &zero));
    SEER_ASSIGN_OR_RETURN(int64_t tb, k.integer("seerattn_token_budget", &budget));
    c.start_layer = int(sl);
    c.token_budget = int(tb);
  }
  SEER_ASSIGN_OR_RETURN(c.sink_excluded, k.boolean("seer_gate_sink_excluded", false));
  const int64_t bs_default = 64, dg_default = 128;  // SPEC §7's defaults (upstream's config classes)
  SEER_ASSIGN_OR_RETURN(int64_t bs, k.integer("seerattn_gate_block_size", &bs_default));
  SEER_ASSIGN_OR_RETURN(int64_t dg, k.integer("seerattn_gate_hidden_size", &dg_default));
  if (bs != 64 && bs != 128)
    return Status::error("{}: key 'seerattn_gate_block_size' must be 64 or 128, got {}", path, bs);
  if (dg <= 0 || dg % 2 != 0 || dg > 4096)
    return Status::error("{}: key 'seerattn_gate_hidden_size' must be a positive even integer, got {}",
                         path, dg);
  c.block_size = int(bs);
  c.hidden_size = int(dg);
  const std::string thr = "threshold", empty;
  SEER_ASSIGN_OR_RETURN(c.sparsity_method, k.str("seerattn_sparsity_method", &thr));
  if (c.sparsity_method != "threshold" && c.sparsity_method != "nz_ratio" &&
      c.sparsity_method != "token_budget")
    return Status::error(
        "{}: key 'seerattn_sparsity_method' must be threshold, nz_ratio or token_budget, got '{}'",
        path, c.sparsity_method);
  SEER_ASSIGN_OR_RETURN(c.threshold, k.number("seerattn_threshold", 0.0));
  SEER_ASSIGN_OR_RETURN(c.nz_ratio, k.number("seerattn_nz_ratio", 1.0));
  if (c.kind == GateKind::kPrefill && k.has("seerattn_token_budget")) {
    SEER_ASSIGN_OR_RETURN(int64_t tb, k.integer("seerattn_token_budget", nullptr));
    c.token_budget = int(tb);
  }
  SEER_ASSIGN_OR_RETURN(c.base_model, k.str("base_model", &empty));
  return c;
}

// Base-model dims written in config.json must agree with the model (when present).
Status check_base_dims(const Keys& k, const ModelConfig& m) {
  struct Dim {
    const char* key;
    int model_value;
    const char* what;
  };
  const Dim dims[] = {{"num_hidden_layers", m.num_layers, "layers"},
                      {"num_attention_heads", m.num_qo_heads, "query heads"},
                      {"num_key_value_heads", m.num_kv_heads, "KV heads"},
                      {"head_dim", m.head_dim, "head_dim"}};
  for (const Dim& d : dims) {
    if (!k.has(d.key)) continue;
    SEER_ASSIGN_OR_RETURN(int64_t v, k.integer(d.key, nullptr));
    if (v != d.model_value)
      return Status::error("{}: key '{}' is {} but the model has {} {} (gates made for another model)",
                           k.path(), d.key, v, d.model_value, d.what);
  }
  return Status::ok();
}

// Converts a safetensors tensor to f32.
void to_f32(const SafetensorsTensor& t, float* dst) {
  const int64_t n = t.numel();
  switch (*t.dtype) {
    case DType::kF32: std::memcpy(dst, t.data, size_t(n) * 4); break;
    // (16-bit values by memcpy: safetensors does not align a tensor's data.)
    case DType::kF16:
    case DType::kBF16: {
      const auto* s = static_cast<const uint8_t*>(t.data);
      const bool f16 = *t.dtype == DType::kF16;
      for (int64_t i = 0; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, s + 2 * i, 2);
        dst[i] = f16 ? fp16_to_fp32(v) : bf16_to_fp32(v);
      }
      break;
    }
    default: break;
  }
}

// Layer index of an upstream gate tensor name, -1 when it is not one.
int layer_of(const std::string& name) {
  static const std::string pre = "model.layers.";
  if (name.rfind(pre, 0) != 0) return -1;
  size_t i = pre.size();
  int v = 0;
  bool any = false;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) {
    v = v * 10 + (name[i++] - '0');
    any = true;
    if (v > 1000000) return -1;
  }
  return any ? v : -1;
}


// The heads a gate's budget shares split over: a decode gate's KV heads, a prefill gate's query heads.
struct ShareHeads {
  int count;
  const char* key;   // the base-model key that names them
  const char* what;  // in messages
};
ShareHeads share_heads(GateKind kind, const ModelConfig& m) {
  if (kind == GateKind::kDecode) return {m.num_kv_heads, "num_key_value_heads", "KV head"};
  return {m.num_qo_heads, "num_attention_heads", "query head"};
}

// `dir`/budget_shares.json, when present, into gs->budget_shares (mean 1) and budget_calibration.
Status load_budget_shares(const std::string& dir, const ModelConfig& model, GateSet* gs) {
  const std::string path = dir + "/" + kBudgetSharesFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::ok();
  const ShareHeads heads = share_heads(gs->config.kind, model);
  SEER_ASSIGN_OR_RETURN(json j, read_json_file(path));
  Keys k(path, j);
  SEER_RETURN_IF_ERROR(check_base_dims(k, model));
  if (!k.has(heads.key))  // the file names the heads it splits over: a prefill gate's file is not a decode gate's
    return Status::error("{}: key '{}' is missing: the file must name the {}s of this {} gate's shares", path,
                         heads.key, heads.what, gs->config.kind == GateKind::kDecode ? "decode" : "prefill");
  if (!k.has("shares")) return k.missing("shares");
  const json& rows = j.at("shares");
  const std::string want = fmt::format("{} rows (layers) of {} positive numbers ({}s)", model.num_layers,
                                       heads.count, heads.what);
  if (!rows.is_array() || int(rows.size()) != model.num_layers) return k.bad("shares", want.c_str());
  std::vector<double> raw;
  double sum = 0.0;
  for (size_t l = 0; l < rows.size(); ++l) {
    if (!rows[l].is_array() || int(rows[l].size()) != heads.count)
      return Status::error("{}: key 'shares': row {} must hold {} numbers ({}s), got {}", path, l, heads.count,
                           heads.what, rows[l].dump());
    for (size_t h = 0; h < rows[l].size(); ++h) {
      // A share is a ratio to the mean (calibrated ones span ~0.2-6): past [1e-6, 1e6] it is no
      // calibration, and a float would round it to 0 or inf.
      const json& v = rows[l][h];
      if (!v.is_number() || !(v.get<double>() >= 1e-6 && v.get<double>() <= 1e6))
        return Status::error("{}: key 'shares': layer {}, {} {}: must be a number in [1e-6, 1e6], got {}", path, l,
                             heads.what, h, v.dump());
      raw.push_back(v.get<double>());
      sum += v.get<double>();
    }
  }
  std::vector<float> s(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) s[i] = float(raw[i] * double(raw.size()) / sum);  // mean 1, in double
  gs->budget_shares = std::move(s);
  gs->budget_calibration = j.contains("calibration") ? j.at("calibration").dump() : std::string();
  return Status::ok();
}

}  // namespace

Status save_budget_shares(const std::string& dir, GateKind kind, const std::vector<float>& shares,
                          const std::vector<double>& kept, const ModelConfig& model, const std::string& calibration_json) {
  const ShareHeads heads = share_heads(kind, model);
  const size_t H = size_t(heads.count), n = size_t(model.num_layers) * H;
  if (shares.size() != n || (!kept.empty() && kept.size() != n))
    return Status::error("save_budget_shares: {} shares and {} kept fractions for {} layers x {} {}s",
                         shares.size(), kept.size(), model.num_layers, H, heads.what);
  // One row per layer, so that the file reads as a table.
  auto rows = [&](auto value) {
    std::string t = "[\n";
    for (size_t l = 0; l < size_t(model.num_layers); ++l) {
      t += "  [";
      for (size_t h = 0; h < H; ++h) t += fmt::format("{}{:.6f}", h ? ", " : "", double(value(l * H + h)));
      t += l + 1 < size_t(model.num_layers) ? "],\n" : "]\n";
    }
    return t + " ]";
  };
  std::string out = "{\n";
  out += fmt::format(" \"num_hidden_layers\": {},\n \"{}\": {},\n", model.num_layers, heads.key, H);
  if (!calibration_json.empty()) {
    const json c = json::parse(calibration_json, nullptr, /*allow_exceptions=*/false);
    if (c.is_discarded() || !c.is_object()) return Status::error("save_budget_shares: the calibration is not a JSON object");
    out += " \"calibration\": " + c.dump() + ",\n";
  }
  out += " \"shares\": " + rows([&](size_t i) { return shares[i]; });
  if (!kept.empty()) out += ",\n \"kept\": " + rows([&](size_t i) { return kept[i]; });
  out += "\n}\n";
  return write_file_atomic(dir + "/" + kBudgetSharesFile, out);
}

Result<GateSet> load_gates(const std::string& dir, const ModelConfig& model) {
  const std::string cfg_path = dir + "/config.json";
  std::error_code ec;
  if (!fs::exists(cfg_path, ec)) return Status::error("{}: cannot open (gate directory needs config.json)", cfg_path);
  SEER_ASSIGN_OR_RETURN(json j, read_json_file(cfg_path));
  Keys keys(cfg_path, j);

  GateSet gs;
  SEER_ASSIGN_OR_RETURN(gs.config, parse_config(keys));
  SEER_RETURN_IF_ERROR(check_base_dims(keys, model));
  SEER_RETURN_IF_ERROR(validate_gate_config(gs.config, model).with_context(cfg_path));
  gs.model = model;
  gs.dir = dir;
  SEER_RETURN_IF_ERROR(load_budget_shares(dir, model, &gs));

  // Every *.safetensors file of the directory, in name order.
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") files.push_back(e.path().string());
  if (ec) return Status::error("{}: cannot list directory: {}", dir, ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty())
    return Status::error("{}: no *.safetensors file with gate weights (convert an upstream "
                         "attn_gate_weights.pth with scripts/convert_upstream_gates.py)",
                         dir);
  std::vector<std::shared_ptr<SafetensorsFile>> opened;
  std::map<std::string, std::pair<const SafetensorsFile*, const SafetensorsTensor*>> by_name;
  for (const std::string& f : files) {
    SEER_ASSIGN_OR_RETURN(auto sf, SafetensorsFile::open(f));
    for (const SafetensorsTensor& t : sf->tensors()) {
      if (t.name.find("attn_gate") == std::string::npos) continue;
      auto [it, fresh] = by_name.emplace(t.name, std::make_pair(sf.get(), &t));
      if (!fresh)
        return Status::error("{}: tensor '{}' is also in {}", f, t.name, it->second.first->path());
    }
    opened.push_back(std::move(sf));
  }

  const std::string variant =
      gs.config.kind == GateKind::kPrefill
          ? fmt::format("prefill gate {}{}", gs.config.gate_type,
                        gs.config.prefill_two_linear(model.head_dim) ? " (two linears)" : " (K linear only)")
          : fmt::format("decode gate {}{}", q_head_pooling_name(gs.config.q_head_pooling),
                        gs.config.use_qk_norm ? " with qk-norm" : "");
  gs.layers.resize(size_t(model.num_layers));
  for (int l = 0; l < model.num_layers; ++l) {
    for (const GateTensorSpec& s : gate_tensor_specs(gs.config, model, l)) {
      auto it = by_name.find(s.name);
      if (it == by_name.end())
        return Status::error("{}: missing tensor '{}' (shape {}, needed by the {}, model with {} layers)",
                             dir, s.name, shape_str(s.shape), variant, model.num_layers);
      const SafetensorsFile* f = it->second.first;
      const SafetensorsTensor& t = *it->second.second;
      if (!t.dtype)
        return Status::error("{}: tensor '{}': dtype {} is not supported (F32, F16 or BF16)", f->path(),
                             s.name, t.dtype_name);
      if (t.shape != s.shape)
        return Status::error(
            "{}: tensor '{}': shape {} but expected {} for the {} on a model with {}/{} heads, "
            "head_dim {}, gate hidden size {}",
            f->path(), s.name, shape_str(t.shape), shape_str(s.shape), variant, model.num_qo_heads,
            model.num_kv_heads, model.head_dim, gs.config.hidden_size);
      auto& dst = gs.layers[size_t(l)].get(s.role);
      dst.resize(size_t(s.numel()));
      to_f32(t, dst.data());
      // A NaN or an infinity in a weight makes every score it touches NaN, which ranks last: the gate
      // would select silently wrong blocks.
      if (auto bad = std::find_if(dst.begin(), dst.end(), [](float v) { return !std::isfinite(v); }); bad != dst.end())
        return Status::error("{}: tensor '{}': element {} is {} (weights must be finite)", f->path(), s.name,
                             bad - dst.begin(), *bad);
      by_name.erase(it);
    }
  }
  // Whatever is left was not asked for: more layers than the model, or another gate variant.
  for (const auto& [name, ft] : by_name) {
    const int l = layer_of(name);
    if (l >= model.num_layers)
      return Status::error("{}: tensor '{}' belongs to layer {} but the model has {} layers (layer "
                           "count mismatch)",
                           ft.first->path(), name, l, model.num_layers);
    return Status::error("{}: unexpected tensor '{}' for the {} (config.json and weights disagree)",
                         ft.first->path(), name, variant);
  }
  return gs;
}

Status save_gates(const std::string& dir, const GateSet& gs, const ModelConfig& model, DType dtype) {
  if (dtype != DType::kF32 && dtype != DType::kBF16)
    return Status::error("save_gates: dtype {} not supported (F32 or BF16)", dtype_name(dtype));
  SEER_RETURN_IF_ERROR(validate_gates(gs, model));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::error("{}: cannot create directory: {}", dir, ec.message());

  const GateConfig& c = gs.config;
  json cfg;
  cfg["num_hidden_layers"] = model.num_layers;
  cfg["num_attention_heads"] = model.num_qo_heads;
  cfg["num_key_value_heads"] = model.num_kv_heads;
  cfg["head_dim"] = model.head_dim;
  cfg["hidden_size"] = model.hidden_size;
  cfg["rope_theta"] = model.rope_theta;
  cfg["base_model"] = c.base_model;
  cfg["seerattn_gate_block_size"] = c.block_size;
  cfg["seerattn_gate_hidden_size"] = c.hidden_size;
  cfg["seerattn_sparsity_method"] = c.sparsity_method;
  cfg["seerattn_threshold"] = c.threshold;
  cfg["seerattn_token_budget"] = c.token_budget;
  if (c.sink_excluded) cfg["seer_gate_sink_excluded"] = true;  // only when set: upstream's keys otherwise
  if (c.kind == GateKind::kPrefill) {
    cfg["seerattn_gate_type"] = pool_list_name(c.q_pools, 'Q') + "_" + pool_list_name(c.k_pools, 'K');
    cfg["seerattn_gate_force_double"] = c.force_double;
    cfg["seerattn_nz_ratio"] = c.nz_ratio;
    cfg["seerattn_last_block_dense"] = c.last_block_dense;
  } else {
    cfg["seerattn_q_head_pooling_type"] = std::string(q_head_pooling_name(c.q_head_pooling));
    cfg["seerattn_k_seq_pooling_type"] = pool_list_name(c.k_pools, 'K');
    cfg["seerattn_use_qk_norm"] = c.use_qk_norm;
    cfg["seerattn_use_rope"] = c.use_rope;
    cfg["seerattn_start_layer"] = c.start_layer;
  }

  // safetensors: u64 header length, JSON header (padded to 8 bytes), data.
  json header = json::object();
  std::string data;
  const size_t esize = dtype == DType::kF32 ? 4 : 2;
  for (int l = 0; l < model.num_layers; ++l)
    for (const GateTensorSpec& s : gate_tensor_specs(c, model, l)) {
      const auto& v = gs.layers[size_t(l)].get(s.role);
      const size_t begin = data.size();
      data.resize(begin + v.size() * esize);
      char* dst = data.data() + begin;
      if (dtype == DType::kF32) {
        std::memcpy(dst, v.data(), v.size() * 4);
      } else {
        for (size_t i = 0; i < v.size(); ++i) {
          const uint16_t b = fp32_to_bf16(v[i]);
          std::memcpy(dst + 2 * i, &b, 2);
        }
      }
      header[s.name] = {{"dtype", dtype == DType::kF32 ? "F32" : "BF16"},
                        {"shape", s.shape},
                        {"data_offsets", {begin, data.size()}}};
    }
  header["__metadata__"] = {{"format", "pt"}, {"producer", "seer"}};
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  std::string file(8, '\0');
  const uint64_t hn = h.size();
  for (int i = 0; i < 8; ++i) file[size_t(i)] = char((hn >> (8 * i)) & 0xff);
  file += h;
  file += data;
  SEER_RETURN_IF_ERROR(write_file_atomic(dir + "/gates.safetensors", file));
  SEER_RETURN_IF_ERROR(write_file_atomic(dir + "/config.json", cfg.dump(2) + "\n"));
  // The shares belong to these weights: written with them, and a stale file (shares calibrated for
  // gates this save replaces) removed.
  if (!gs.budget_shares.empty())
    return save_budget_shares(dir, gs.config.kind, gs.budget_shares, {}, model, gs.budget_calibration);
  fs::remove(dir + "/" + kBudgetSharesFile, ec);
  return Status::ok();
}

}  // namespace seer
