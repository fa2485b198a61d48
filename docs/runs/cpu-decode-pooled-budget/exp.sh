#!/usr/bin/env bash
# The decode budget pooled over a layer's KV heads (SEER_EXP_POOLED=1, the switch in pooled_budget_not_kept.diff)
# against the per-head budget, on the four CPU windows, two runs side by side (-t 1 each).
cd /work/main
S=build-cuda/seer
G=gates/smollm2-135m-instruct
out=docs/runs/cpu-decode-pooled-budget/exp.jsonl
run() { local tag=$1; shift; env $tag $S ppl .devcarry/eval.txt -c 8192 --max-windows 4 --json -t 1 --gates $G "$@" 2>/dev/null | tail -1 | sed "s/^{/{\"tag\":\"$tag $*\",/" >> $out; }
for pol in "$@"; do
  run SEER_EXP_POOLED=0 --policy $pol --prefill-len 6144 --decode-sparsity budget:512 &
  run SEER_EXP_POOLED=1 --policy $pol --prefill-len 6144 --decode-sparsity budget:512 &
  wait
done
