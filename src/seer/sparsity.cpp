// Sparsity methods and density accounting; see seer/sparsity.h (SPEC §3).
//
// Layouts: prefill scores [num_heads, num_rows, num_blocks], decode scores [num_heads, num_blocks].
// Per row the work is O(num_blocks log num_blocks) (a partial sort for Top-K), negligible next to
// attention, so the selection runs on the calling thread.
#include <seer/sparsity.h>

#include <algorithm>
#include <functional>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>

namespace seer {

namespace {

// Parses the whole of `s` as a finite double.
bool parse_double(const std::string& s, double* out) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

bool parse_int(const std::string& s, long long* out) {
  if (s.empty() || !(std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-')) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

// "kind:value" -> (kind, value, has_value).
void split_spec(const std::string& text, std::string* kind, std::string* value, bool* has_value) {
  const size_t colon = text.find(':');
  *has_value = colon != std::string::npos;
  *kind = text.substr(0, colon);
  *value = *has_value ? text.substr(colon + 1) : std::string();
}

std::string format_value(double v) { return fmt::format("{}", v); }

// Marks the Top-k of s[0..n) in keep[0..n): descending score, NaN last, ties to the lower index.
void top_k(const float* s, int n, int k, std::vector<char>& keep) {
  if (k >= n) {
    std::fill(keep.begin(), keep.begin() + n, char(1));
    return;
  }
  if (k <= 0) return;
  // The k-th largest value by nth_element on plain floats (NaN as -inf, so it ranks last), then
  // everything above it, then the ties at it by ascending index: the same set as sorting by
  // (score desc, index asc), in O(n) without an indirect comparator.
  thread_local std::vector<float> vals;
  vals.resize(size_t(n));
  for (int j = 0; j < n; ++j) vals[size_t(j)] = std::isnan(s[j]) ? -INFINITY : s[j];
  std::nth_element(vals.begin(), vals.begin() + (k - 1), vals.end(), std::greater<float>());
  const float thr = vals[size_t(k - 1)];
  int need = k;
  for (int j = 0; j < n; ++j) {
    const float v = std::isnan(s[j]) ? -INFINITY : s[j];
    if (v > thr) keep[size_t(j)] = 1, --need;
  }
  for (int j = 0; j < n && need > 0; ++j) {
    const float v = std::isnan(s[j]) ? -INFINITY : s[j];
    if (v == thr) keep[size_t(j)] = 1, --need;
  }
}

// Marks prob > tau, prob = softmax(s[0..n)) for logits, s itself for probabilities. Softmax in
// double, max-subtracted; NaN entries take no part and never pass.
void threshold(const float* s, int n, double tau, bool are_probs, std::vector<char>& keep) {
  if (are_probs) {
    for (int j = 0; j < n; ++j)
      if (!std::isnan(s[j]) && double(s[j]) > tau) keep[size_t(j)] = 1;
    return;
  }
  double mx = -INFINITY;
  for (int j = 0; j < n; ++j)
    if (!std::isnan(s[j])) mx = std::max(mx, double(s[j]));
  if (!std::isfinite(mx)) {
    // All NaN / -inf: nothing passes. A +inf entry alone takes the whole mass.
    if (mx > 0)
      for (int j = 0; j < n; ++j)
        if (s[j] == INFINITY) keep[size_t(j)] = 1;
    return;
  }
  double sum = 0.0;
  for (int j = 0; j < n; ++j)
    if (!std::isnan(s[j])) sum += std::exp(double(s[j]) - mx);
  for (int j = 0; j < n; ++j)
    if (!std::isnan(s[j]) && std::exp(double(s[j]) - mx) / sum > tau) keep[size_t(j)] = 1;
}

// Marks the fewest highest-weighted entries holding a share P of the row's weight (mass:P, see
// sparsity.h; the GPU's gate_select_kernel follows the same definition step by step).
void top_mass(const float* s, int n, double p, bool are_probs, std::vector<char>& keep) {
  thread_local std::vector<float> w, vals;
  w.assign(size_t(n), 0.0f);
  if (are_probs) {
    for (int j = 0; j < n; ++j) {
      if (s[j] == INFINITY) keep[size_t(j)] = 1;  // (the sink of a gate trained without it)
      else if (s[j] > 0.0f) w[size_t(j)] = s[j];   // (NaN compares false)
    }
  } else {
    double mx = -INFINITY;
    for (int j = 0; j < n; ++j)
      if (!std::isnan(s[j])) mx = std::max(mx, double(s[j]));
    if (!std::isfinite(mx)) {  // as threshold: a +inf entry alone takes the whole mass
      if (mx > 0)
        for (int j = 0; j < n; ++j)
          if (s[j] == INFINITY) keep[size_t(j)] = 1;
      return;
    }
    for (int j = 0; j < n; ++j)
      if (!std::isnan(s[j])) w[size_t(j)] = float(std::exp(double(s[j]) - mx));
  }
  const auto mass_from = [&](float c) {  // Σ_{w_j >= c} w_j, index order
    double m = 0.0;
    for (int j = 0; j < n; ++j)
      if (w[size_t(j)] >= c) m += w[size_t(j)];
    return m;
  };
  vals.clear();
  for (int j = 0; j < n; ++j)
    if (w[size_t(j)] > 0.0f) vals.push_back(w[size_t(j)]);
  if (vals.empty()) return;
  std::sort(vals.begin(), vals.end());
  vals.erase(std::unique(vals.begin(), vals.end()), vals.end());
  const double target = p * mass_from(vals.front());
  size_t lo = 0, hi = vals.size() - 1;  // the largest value whose mass reaches the target
  while (lo < hi) {
    const size_t mid = lo + (hi - lo + 1) / 2;
    if (mass_from(vals[mid]) >= target) lo = mid;
    else hi = mid - 1;
  }
  for (int j = 0; j < n; ++j)
    if (w[size_t(j)] >= vals[lo]) keep[size_t(j)] = 1;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Parsing

Result<PrefillSparsity> PrefillSparsity::parse(const std::string& text) {
  const std::string flag = fmt::format("--prefill-sparsity '{}'", text);
  std::string spec = text;
  PrefillSparsity sp;
  // Suffixes, each at most once, in any order: ",nosink" (no sink rule) and ",lastdense" (SPEC §3.1's
  // last_block_dense, upstream's setting for LongBench and RULER, where the question ends the prompt).
  bool nosink = false, lastdense = false;
  const auto strip = [&](const std::string& sfx, bool* seen) {
    if (*seen || spec.size() < sfx.size() || spec.compare(spec.size() - sfx.size(), sfx.size(), sfx) != 0) return false;
    spec.resize(spec.size() - sfx.size());
    return *seen = true;
  };
  while (strip(",nosink", &nosink) || strip(",lastdense", &lastdense)) {
  }
  sp.keep_sink = !nosink;
  sp.last_block_dense = lastdense;
  if (const size_t comma = spec.find(','); comma != std::string::npos)
    return Status::error("{}: unknown suffix '{}' (the suffixes are ',nosink' and ',lastdense', each once, at the end)",
                         flag, spec.substr(comma));
  std::string kind, value;
  bool has_value = false;
  split_spec(spec, &kind, &value, &has_value);
  if (kind == "dense") {
    if (has_value) return Status::error("{}: 'dense' takes no value", flag);
    if (!sp.keep_sink || sp.last_block_dense)
      return Status::error("{}: dense keeps every block; ',nosink' and ',lastdense' are for threshold, density and mass",
                           flag);
    return sp;
  }
  if (kind != "threshold" && kind != "density" && kind != "mass")
    return Status::error(
        "{}: unknown method '{}' (expected dense, threshold:τ, density:ρ or mass:P, optionally with ,nosink)", flag,
        kind);
  double v = 0.0;
  if (!has_value || !parse_double(value, &v))
    return Status::error("{}: {} needs a number after ':' (got '{}')", flag, kind, value);
  if (kind == "threshold") {
    if (!(v >= 0.0 && v < 1.0)) return Status::error("{}: threshold must be in [0, 1)", flag);
    sp.kind = Kind::kThreshold;
  } else if (kind == "mass") {
    if (!(v > 0.0 && v <= 1.0)) return Status::error("{}: mass must be in (0, 1]", flag);
    sp.kind = Kind::kMass;
  } else {
    if (!(v > 0.0 && v <= 1.0)) return Status::error("{}: density must be in (0, 1]", flag);
    sp.kind = Kind::kDensity;
  }
  sp.value = v;
  return sp;
}

std::string PrefillSparsity::to_string() const {
  const std::string sink = std::string(keep_sink ? "" : ",nosink") + (last_block_dense ? ",lastdense" : "");
  switch (kind) {
    case Kind::kDense: return "dense";
    case Kind::kThreshold: return "threshold:" + format_value(value) + sink;
    case Kind::kDensity: return "density:" + format_value(value) + sink;
    case Kind::kMass: return "mass:" + format_value(value) + sink;
  }
  return "dense";
}

Result<DecodeSparsity> DecodeSparsity::parse(const std::string& text) {
  const std::string flag = fmt::format("--decode-sparsity '{}'", text);
  if (text.find(",nosink") != std::string::npos)
    return Status::error("{}: ',nosink' is a prefill option; a decode step always keeps block 0 (SPEC §2.3)", flag);
  std::string kind, value;
  bool has_value = false;
  split_spec(text, &kind, &value, &has_value);
  DecodeSparsity sp;
  if (kind == "dense") {
    if (has_value) return Status::error("{}: 'dense' takes no value", flag);
    return sp;
  }
  if (kind == "budget") {
    long long n = 0;
    if (!has_value || !parse_int(value, &n))
      return Status::error("{}: budget needs a whole number of tokens after ':' (got '{}')", flag, value);
    if (n < 1 || n > (1LL << 30)) return Status::error("{}: budget must be in [1, 2^30] tokens", flag);
    sp.kind = Kind::kBudget;
    sp.value = double(n);
    return sp;
  }
  if (kind == "threshold") {
    double v = 0.0;
    if (!has_value || !parse_double(value, &v))
      return Status::error("{}: threshold needs a number after ':' (got '{}')", flag, value);
    if (!(v >= 0.0 && v < 1.0)) return Status::error("{}: threshold must be in [0, 1)", flag);
    sp.kind = Kind::kThreshold;
    sp.value = v;
    return sp;
  }
  if (kind == "mass") {
    double v = 0.0;
    if (!has_value || !parse_double(value, &v))
      return Status::error("{}: mass needs a number after ':' (got '{}')", flag, value);
    if (!(v > 0.0 && v <= 1.0)) return Status::error("{}: mass must be in (0, 1]", flag);
    sp.kind = Kind::kMass;
    sp.value = v;
    return sp;
  }
  return Status::error("{}: unknown method '{}' (expected dense, budget:N, threshold:τ or mass:P)", flag, kind);
}

std::string DecodeSparsity::to_string() const {
  switch (kind) {
    case Kind::kDense: return "dense";
    case Kind::kBudget: return fmt::format("budget:{}", int64_t(value));
    case Kind::kThreshold: return "threshold:" + format_value(value);
    case Kind::kMass: return "mass:" + format_value(value);
  }
  return "dense";
}

int density_top_k(double density, int num_blocks) {
  const double t = 1.0 - std::sqrt(std::max(0.0, 1.0 - density));
  return std::max(1, int(t * double(num_blocks)));
}

// ---------------------------------------------------------------------------------------------
// Selection

Status select_prefill(const PrefillSparsity& sp, const PrefillSelectArgs& a, const float* scores,
                      BlockSelection* sel, BlockCounts* counts, BlockCounts* head_counts) {
  if (a.num_heads <= 0 || a.num_rows <= 0 || a.first_q_block < 0 || a.block_size <= 0 ||
      a.num_blocks < a.first_q_block + a.num_rows)
    return Status::error("select_prefill: bad shape (heads {}, rows {} from block {}, {} key blocks, block {})",
                         a.num_heads, a.num_rows, a.first_q_block, a.num_blocks, a.block_size);
  if (sp.kind == PrefillSparsity::Kind::kDense) {
    sel->set_dense(a.num_heads, false, a.first_q_block, a.num_rows, a.block_size);
    if (counts) {
      BlockCounts c;
      c.selected = c.dense = sel->num_selected();
      *counts += c;
    }
    return Status::ok();
  }
  if (!scores) return Status::error("select_prefill: {} needs scores", sp.to_string());
  sel->block_size = a.block_size;
  sel->num_heads = a.num_heads;
  sel->per_kv_head = false;
  sel->first_q_block = a.first_q_block;
  sel->num_rows = a.num_rows;
  sel->offsets.assign(size_t(a.num_heads) * a.num_rows + 1, 0);
  sel->indices.clear();

  const int nb = a.num_blocks;
  const bool by_density = sp.kind == PrefillSparsity::Kind::kDensity;
  int k = by_density ? density_top_k(sp.value, nb) : 0;  // (head_blocks: set per head below)
  std::vector<char> keep(static_cast<size_t>(nb));
  std::vector<float> sink_row;  // a Top-K row with block 0 ranked first (keep_sink)
  // The method on one row: Top-K (the sink in one of its k slots), the threshold or mass:P alone;
  // the sink rule's block those leave out is added by the caller, as forced.
  const auto method = [&](const float* s, int n, std::vector<char>& out) {
    if (sp.kind == PrefillSparsity::Kind::kMass) {
      top_mass(s, n, sp.value, a.scores_are_probs, out);
    } else if (!by_density) {
      threshold(s, n, sp.value, a.scores_are_probs, out);
    } else if (sp.keep_sink && k >= 2 && k < n) {  // one slot: the gate's own pick
      sink_row.assign(s, s + n);
      sink_row[0] = std::numeric_limits<float>::infinity();
      top_k(sink_row.data(), n, k, out);
    } else {
      top_k(s, n, k, out);
    }
  };
  BlockCounts c;
  for (int h = 0; h < a.num_heads; ++h) {
    if (by_density && a.head_blocks) k = std::max(1, a.head_blocks[h]);
    const BlockCounts c0 = c;
    const int64_t selected0 = int64_t(sel->indices.size());
    for (int r = 0; r < a.num_rows; ++r) {
      const int qb = a.first_q_block + r;
      const int n = qb + 1;  // causal blocks of the row
      const float* s = scores + (size_t(h) * a.num_rows + r) * nb;
      std::fill(keep.begin(), keep.begin() + n, char(0));
      if (sp.last_block_dense && qb >= nb - 2) {
        // Count as forced what the method itself would not have picked.
        std::vector<char> picked(static_cast<size_t>(n), 0);
        method(s, n, picked);
        for (int j = 0; j < n; ++j) c.forced += picked[size_t(j)] ? 0 : 1;
        std::fill(keep.begin(), keep.begin() + n, char(1));
      } else {
        method(s, n, keep);
        if (!by_density && sp.keep_sink && !keep[0]) {
          keep[0] = 1;  // a threshold's row without the sink
          c.forced += 1;
        }
        if (std::find(keep.begin(), keep.begin() + n, char(1)) == keep.begin() + n) {
          keep[size_t(qb)] = 1;  // no empty row: the diagonal block
          c.forced += 1;
        }
      }
      for (int j = 0; j < n; ++j)
        if (keep[size_t(j)]) sel->indices.push_back(j);
      sel->offsets[size_t(h) * a.num_rows + r + 1] = int32_t(sel->indices.size());
      c.dense += n;
    }
    if (head_counts) {
      head_counts[h].selected += int64_t(sel->indices.size()) - selected0;
      head_counts[h].dense += c.dense - c0.dense;
      head_counts[h].forced += c.forced - c0.forced;
    }
  }
  c.selected = sel->num_selected();
  if (counts) *counts += c;
  return Status::ok();
}

Status select_decode(const DecodeSparsity& sp, const DecodeSelectArgs& a, const float* scores,
                     BlockSelection* sel, BlockCounts* counts, BlockCounts* head_counts) {
  if (a.num_heads <= 0 || a.num_blocks <= 0 || a.block_size <= 0)
    return Status::error("select_decode: bad shape (heads {}, {} blocks, block {})", a.num_heads,
                         a.num_blocks, a.block_size);
  const int nb = a.num_blocks;
  if (sp.kind == DecodeSparsity::Kind::kDense) {
    sel->set_dense(a.num_heads, true, nb - 1, 1, a.block_size);
    if (counts) {
      BlockCounts c;
      c.selected = c.dense = sel->num_selected();
      *counts += c;
    }
    if (head_counts)
      for (int h = 0; h < a.num_heads; ++h) {
        head_counts[h].selected += nb;
        head_counts[h].dense += nb;
      }
    return Status::ok();
  }
  if (!scores) return Status::error("select_decode: {} needs scores", sp.to_string());
  sel->block_size = a.block_size;
  sel->num_heads = a.num_heads;
  sel->per_kv_head = true;
  sel->first_q_block = nb - 1;
  sel->num_rows = 1;
  sel->offsets.assign(size_t(a.num_heads) + 1, 0);
  sel->indices.clear();
  std::vector<char> keep(static_cast<size_t>(nb));
  BlockCounts c;
  const int64_t k = sp.kind == DecodeSparsity::Kind::kBudget ? int64_t(sp.value) / a.block_size : 0;
  for (int h = 0; h < a.num_heads; ++h) {
    const float* s = scores + size_t(h) * nb;
    std::fill(keep.begin(), keep.end(), char(0));
    const int64_t forced0 = c.forced, selected0 = int64_t(sel->indices.size());
    if (sp.kind == DecodeSparsity::Kind::kBudget)
      top_k(s, nb, int(std::min<int64_t>(a.head_blocks ? a.head_blocks[h] : k, nb)), keep);
    else if (sp.kind == DecodeSparsity::Kind::kMass)
      top_mass(s, nb, sp.value, a.scores_are_probs, keep);
    else
      threshold(s, nb, sp.value, a.scores_are_probs, keep);
    // SPEC §2.3: the sink block (kernel flag upstream) and the current block (gate) are always on.
    for (int j : {0, nb - 1})
      if (!keep[size_t(j)]) {
        keep[size_t(j)] = 1;
        c.forced += 1;
      }
    for (int j = 0; j < nb; ++j)
      if (keep[size_t(j)]) sel->indices.push_back(j);
    sel->offsets[size_t(h) + 1] = int32_t(sel->indices.size());
    c.dense += nb;
    if (head_counts) {
      head_counts[h].selected += int64_t(sel->indices.size()) - selected0;
      head_counts[h].dense += nb;
      head_counts[h].forced += c.forced - forced0;
    }
  }
  c.selected = sel->num_selected();
  if (counts) *counts += c;
  return Status::ok();
}

std::vector<int> share_budget(const std::vector<float>& shares, int64_t blocks_per_head) {
  const size_t n = shares.size();
  std::vector<int> out(n, 0);
  double sum = 0.0;
  for (float s : shares) sum += double(s);
  if (n == 0 || blocks_per_head <= 0 || !(sum > 0.0)) {
    std::fill(out.begin(), out.end(), int(std::max<int64_t>(0, blocks_per_head)));
    return out;
  }
  const int64_t total = blocks_per_head * int64_t(n);
  std::vector<double> frac(n);
  int64_t given = 0;
  for (size_t i = 0; i < n; ++i) {
    const double exact = double(total) * double(shares[i]) / sum;
    out[i] = int(std::floor(exact));
    frac[i] = exact - std::floor(exact);
    given += out[i];
  }
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return frac[a] > frac[b]; });
  for (size_t r = 0; given < total; ++r, ++given) out[order[r % n]] += 1;
  for (size_t i = 0; i < n; ++i)
    if (out[i] < 1) {
      const size_t big = size_t(std::max_element(out.begin(), out.end()) - out.begin());  // first largest
      if (out[big] <= 1) break;  // (blocks_per_head >= 1: cannot happen)
      out[big] -= 1;
      out[i] = 1;
    }
  return out;
}

std::vector<int> layer_budget_blocks(const std::vector<float>& shares, int num_kv_heads, int start_layer,
                                     int64_t blocks_per_head) {
  const size_t first = std::min(shares.size(), size_t(std::max(0, start_layer)) * size_t(std::max(0, num_kv_heads)));
  std::vector<int> out(first, int(std::max<int64_t>(0, blocks_per_head)));
  const std::vector<int> sparse = share_budget(std::vector<float>(shares.begin() + first, shares.end()), blocks_per_head);
  out.insert(out.end(), sparse.begin(), sparse.end());
  return out;
}

std::vector<int> prefill_budget_blocks(const std::vector<float>& shares, int num_heads, int start_layer, int k,
                                       int first_q_block, int num_blocks) {
  const size_t first = std::min(shares.size(), size_t(std::max(0, start_layer)) * size_t(std::max(0, num_heads)));
  std::vector<int> out(shares.size(), k);
  const size_t n = shares.size() - first;
  const int a = std::max(0, first_q_block), b = std::max(a, num_blocks);
  if (n == 0 || k < 1 || b <= a) return out;
  // Blocks Top-K of k picks over the rows: Σ min(k, qb + 1), qb in [a, b).
  const auto picked = [&](int64_t kk) {
    const int64_t m = std::min<int64_t>(b, std::max<int64_t>(a, kk));  // rows qb < kk keep all qb + 1
    return (m - a) * (a + 1 + m) / 2 + (b - m) * kk;
  };
  const int lo_k = std::min(k, kPrefillShareFloor), hi_k = std::max(b, lo_k);  // a row holds at most b blocks
  double sum = 0.0;
  for (size_t i = first; i < shares.size(); ++i) sum += double(shares[i]);
  std::vector<double> x(n);  // each head's exact share of the uniform total of k a head
  double x_min = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < n; ++i) {
    x[i] = sum > 0.0 ? double(k) * double(n) * double(shares[first + i]) / sum : double(k);
    x_min = std::min(x_min, x[i]);
  }
  const int64_t target = int64_t(n) * picked(k);
  const auto count_at = [&](double c, size_t i) {
    return int(std::clamp<double>(std::floor(c * x[i] + 0.5), lo_k, hi_k));  // (nearest: floors would favour the large)
  };
  const auto total_at = [&](double c) {
    int64_t t = 0;
    for (size_t i = 0; i < n; ++i) t += picked(count_at(c, i));
    return t;
  };
  // The largest scale c with total_at(c) <= target (total_at(0) = n * picked(lo_k) <= target).
  double lo = 0.0, hi = double(hi_k) / std::max(x_min, 1e-30) + 1.0;
  for (int it = 0; it < 100 && hi - lo > 1e-12 * hi; ++it) {
    const double mid = 0.5 * (lo + hi);
    (total_at(mid) <= target ? lo : hi) = mid;
  }
  std::vector<int> kk(n);
  int64_t left = target;
  for (size_t i = 0; i < n; ++i) left -= picked(kk[i] = count_at(lo, i));
  // What the rounding left: one more block for the heads nearest to rounding up (ties: the lower index)
  // while it fits.
  const auto frac = [&](size_t i) { return lo * x[i] + 0.5 - std::floor(lo * x[i] + 0.5); };
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return frac(i) > frac(j); });
  for (size_t i : order) {
    if (kk[i] >= hi_k) continue;
    const int64_t inc = picked(kk[i] + 1) - picked(kk[i]);
    if (inc <= left) {
      kk[i] += 1;
      left -= inc;
    }
  }
  std::copy(kk.begin(), kk.end(), out.begin() + std::ptrdiff_t(first));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Accounting

void DensityStats::reset(int num_layers) { layers_.assign(size_t(std::max(0, num_layers)), LayerDensity{}); }

void DensityStats::grow(int layer) {
  if (layer >= int(layers_.size())) layers_.resize(size_t(layer) + 1);
}

void DensityStats::add_prefill(int layer, const BlockCounts& c) {
  SEER_ASSERT(layer >= 0);
  grow(layer);
  layers_[size_t(layer)].prefill += c;
}

void DensityStats::add_decode(int layer, const BlockCounts& c) {
  SEER_ASSERT(layer >= 0);
  grow(layer);
  layers_[size_t(layer)].decode += c;
}

namespace {
void add_heads(std::vector<BlockCounts>& d, const BlockCounts* heads, int num_heads) {
  if (int(d.size()) < num_heads) d.resize(size_t(num_heads));
  for (int h = 0; h < num_heads; ++h) d[size_t(h)] += heads[h];
}
}  // namespace

void DensityStats::add_prefill_heads(int layer, const BlockCounts* heads, int num_heads) {
  SEER_ASSERT(layer >= 0);
  grow(layer);
  add_heads(layers_[size_t(layer)].prefill_heads, heads, num_heads);
}

void DensityStats::add_decode_heads(int layer, const BlockCounts* heads, int num_heads) {
  SEER_ASSERT(layer >= 0);
  grow(layer);
  add_heads(layers_[size_t(layer)].decode_heads, heads, num_heads);
}

BlockCounts DensityStats::prefill_total(int first_layer) const {
  BlockCounts t;
  for (size_t l = size_t(std::max(0, first_layer)); l < layers_.size(); ++l) t += layers_[l].prefill;
  return t;
}

BlockCounts DensityStats::decode_total(int first_layer) const {
  BlockCounts t;
  for (size_t l = size_t(std::max(0, first_layer)); l < layers_.size(); ++l) t += layers_[l].decode;
  return t;
}

namespace {
std::string counts_json(const BlockCounts& c) {
  return fmt::format(R"({{"selected": {}, "dense": {}, "forced": {}, "density": {:.6f}}})", c.selected,
                     c.dense, c.forced, c.density());
}
}  // namespace

std::string DensityStats::to_json() const {
  std::string s = fmt::format(R"({{"prefill": {}, "decode": {}, "layers": [)", counts_json(prefill_total()),
                              counts_json(decode_total()));
  for (size_t l = 0; l < layers_.size(); ++l) {
    if (l) s += ", ";
    s += fmt::format(R"({{"layer": {}, "prefill": {}, "decode": {})", l, counts_json(layers_[l].prefill),
                     counts_json(layers_[l].decode));
    for (const auto& [key, heads] : {std::pair{"prefill_heads", &layers_[l].prefill_heads},
                                     std::pair{"decode_heads", &layers_[l].decode_heads}}) {
      if (heads->empty()) continue;
      s += fmt::format(R"(, "{}": [)", key);
      for (size_t h = 0; h < heads->size(); ++h) s += fmt::format("{}{:.6f}", h ? ", " : "", (*heads)[h].density());
      s += "]";
    }
    s += "}";
  }
  s += "]}";
  return s;
}

}  // namespace seer
