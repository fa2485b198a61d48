// Perplexity over non-overlapping windows.
//
// Protocol: the token stream is cut into floor(N / ctx) windows of `ctx` tokens (one shorter window
// if N < ctx; a partial tail is dropped). Every window starts from an empty KV cache.
//  * bos_id < 0: the window is ctx text tokens; tokens 1..ctx-1 are scored (token 0 has no context).
//  * bos_id >= 0: the window is BOS + ctx-1 text tokens; all ctx-1 text tokens are scored.
// nll is the mean negative log-likelihood (natural log) per scored token; ppl = exp(nll).
//
// Teacher-forced decode (prefill_len > 0): the first prefill_len tokens of each window run as one
// prefill (dense or sparse, as the session's policy says), then the remaining tokens are fed one at a
// time through the decode path; only the tokens after the prefill are scored (the prefill's last
// logits predict token prefill_len). This measures decode-time sparsity without sampling.
#pragma once

#include <seer/engine.h>
#include <seer/status.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace seer {

struct PerplexityOptions {
  int ctx = 512;
  int bos_id = -1;
  int max_windows = 0;  // 0: all
  int prefill_len = 0;  // > 0: teacher-forced decode after a prefill of this many window tokens
  // Called after each window: windows done, total windows, running ppl, scored tokens per second.
  std::function<void(int, int, double, double)> progress;
  // ctx >= 2 and prefill_len in {0} or [1, ctx): what perplexity() checks first, for callers that
  // want the error before they load a model.
  Status check() const;
};

struct PerplexityResult {
  double ppl = 0.0;
  double nll = 0.0;
  int64_t tokens = 0;  // scored tokens
  int windows = 0;
  int ctx = 0;
  int window = 0;  // tokens per window, BOS included: ctx, or fewer when the whole text is shorter
  double seconds = 0.0;
};

Result<PerplexityResult> perplexity(Session& session, const std::vector<int>& tokens,
                                    const PerplexityOptions& opts);

// -log softmax(logits)[target], computed in double.
double token_nll(const float* logits, int vocab, int target);

}  // namespace seer
