// Perplexity over non-overlapping windows; see seer/perplexity.h.
#include <seer/perplexity.h>

#include <algorithm>
#include <cmath>

#include "core/timer.h"

namespace seer {

double token_nll(const float* logits, int vocab, int target) {
  double mx = logits[0];
  for (int i = 1; i < vocab; ++i) mx = std::max(mx, double(logits[i]));
  double sum = 0.0;
  for (int i = 0; i < vocab; ++i) sum += std::exp(double(logits[i]) - mx);
  return std::log(sum) + mx - double(logits[target]);
}

Status PerplexityOptions::check() const {
  if (ctx < 2) return Status::error("--ctx {} is too small (at least 2)", ctx);
  if (prefill_len < 0 || (prefill_len > 0 && prefill_len >= ctx))
    return Status::error("--prefill-len {} must be in [1, --ctx {})", prefill_len, ctx);
  return Status::ok();
}

Result<PerplexityResult> perplexity(Session& session, const std::vector<int>& tokens,
                                    const PerplexityOptions& opts) {
  SEER_RETURN_IF_ERROR(opts.check());
  if (opts.ctx > session.max_context())
    return Status::error("--ctx {} exceeds the session's context of {} tokens", opts.ctx, session.max_context());
  const int bos = opts.bos_id;
  const int text_per_window = bos >= 0 ? opts.ctx - 1 : opts.ctx;
  const int64_t n = int64_t(tokens.size());
  // Without BOS a window's first token is only context; with it, BOS predicts the first text token.
  if (n < (bos >= 0 ? 1 : 2))
    return Status::error("the text has {} tokens; perplexity needs at least {}", n, bos >= 0 ? "1 (with BOS)" : "2");
  int windows = int(n / text_per_window);
  int window_len = text_per_window;
  if (windows == 0) {
    windows = 1;
    window_len = int(n);
  }
  // A text shorter than one window gives one short window; --prefill-len must still leave decode steps in it.
  if (opts.prefill_len > 0 && opts.prefill_len >= window_len + (bos >= 0 ? 1 : 0))
    return Status::error("--prefill-len {} leaves no decode step: the text gives one window of {} tokens (--ctx {})",
                         opts.prefill_len, window_len + (bos >= 0 ? 1 : 0), opts.ctx);
  if (opts.max_windows > 0) windows = std::min(windows, opts.max_windows);

  PerplexityResult r;
  r.ctx = opts.ctx;
  r.window = window_len + (bos >= 0 ? 1 : 0);
  double nll_sum = 0.0;
  const double t0 = now_seconds();
  std::vector<int> win;
  for (int w = 0; w < windows; ++w) {
    win.clear();
    if (bos >= 0) win.push_back(bos);
    win.insert(win.end(), tokens.begin() + int64_t(w) * text_per_window,
               tokens.begin() + int64_t(w) * text_per_window + window_len);
    session.reset();
    const size_t split = opts.prefill_len > 0 ? size_t(opts.prefill_len) : win.size();
    const std::span<const int> all(win);
    if (split >= win.size()) {  // position i predicts win[i + 1]
      SEER_ASSIGN_OR_RETURN(const double nll, session.forward_nll(all, 0, all.subspan(1)));
      nll_sum += nll;
      r.tokens += int64_t(win.size()) - 1;
    } else {  // the prefill's last position predicts win[split], then one token at a time
      SEER_ASSIGN_OR_RETURN(double nll, session.forward_nll(all.first(split), int(split) - 1, all.subspan(split, 1)));
      nll_sum += nll;
      ++r.tokens;
      for (size_t i = split; i + 1 < win.size(); ++i) {
        SEER_ASSIGN_OR_RETURN(nll, session.forward_nll(all.subspan(i, 1), 0, all.subspan(i + 1, 1)));
        nll_sum += nll;
        ++r.tokens;
      }
    }
    ++r.windows;
    if (opts.progress) {
      const double el = now_seconds() - t0;
      opts.progress(r.windows, windows, std::exp(nll_sum / double(r.tokens)), double(r.tokens) / el);
    }
  }
  session.reset();
  r.nll = nll_sum / double(r.tokens);
  r.ppl = std::exp(r.nll);
  r.seconds = now_seconds() - t0;
  return r;
}

}  // namespace seer
