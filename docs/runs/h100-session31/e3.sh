#!/usr/bin/env bash
# Prepared in the thirty-first session, for the next GPU session: after the model's parts, eval.txt and the devpack
# are in /tmp/m (docs/runs/h200-session22/up.sh; the devpack of this tree). The shipped gates' decode speed on the GPU
# with the budget shares (the default) against --uniform-budget: `seer generate --device cuda` on a ~5,000-token prompt
# of held-out text, 1,024 tokens greedy (with budget:1024, 8k context), three alternated rounds each; the tok/s of
# prompt and generation from its last line. Dense in the same call as the reference.
set -u
t0=$(date +%s)
source docs/runs/h200-train-mixed-lengths/common.sh 2>/dev/null
G=gates/smollm2-135m-instruct
python3 - <<'PY'
t = open('/tmp/m/eval.txt', encoding='utf-8').read()
open('/tmp/prompt.txt', 'w', encoding='utf-8').write(t[:24000])   # ~5,000 tokens
PY
gen() { /tmp/seerw generate -m "$M" --device cuda -f /tmp/prompt.txt -n 1024 --temp 0 -c 8192 "$@" 2>&1 >/dev/null | grep -E "tok/s|density"; }
for r in 1 2 3; do
  echo "== round $r"
  echo "shares:  $(gen --gates $G --prefill-sparsity density:0.2 --decode-sparsity budget:1024 | tr '\n' ' ')"
  echo "uniform: $(gen --gates $G --prefill-sparsity density:0.2 --decode-sparsity budget:1024 --uniform-budget | tr '\n' ' ')"
  echo "dense:   $(gen | tr '\n' ' ')"
done
echo "total (t=$(( $(date +%s) - t0 )))"
