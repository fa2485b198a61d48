#!/usr/bin/env bash
# The decode gate's block probabilities blended with the previous step's (SEER_EXP_SMOOTH, the switch in
# smoothed_gate_not_kept.diff), on the four CPU windows, budget 512, two runs side by side (-t 1 each).
# usage: exp.sh SPEC SPEC   (e.g. ema:0.5 max:0.8)
cd /work/main
S=build-cuda/seer
G=gates/smollm2-135m-instruct
out=docs/runs/cpu-decode-smoothed-gate/exp.jsonl
run() { local tag=$1; shift; env $tag $S ppl .devcarry/eval.txt -c 8192 --max-windows 4 --json -t 1 --gates $G "$@" 2>/dev/null | tail -1 | sed "s/^{/{\"tag\":\"$tag $*\",/" >> $out; }
for spec in "$@"; do run SEER_EXP_SMOOTH=$spec --policy gate --prefill-len 6144 --decode-sparsity budget:512 & done
wait
