#!/usr/bin/env bash
cd /work/main
S=/tmp/fresh/build/seer
G=gates/smollm2-135m-instruct
out=/tmp/exp_local.jsonl
run() { local tag=$1; shift; env $tag $S ppl /tmp/eval.txt -c 8192 --max-windows 4 --json -t 2 --gates $G "$@" 2>/dev/null | tail -1 | sed "s/^{/{\"tag\":\"$tag $*\",/" >> $out; }
run SEER_EXP_LOCAL=0 --policy dense --prefill-len 6144
for b in 512 1024; do for w in 1 2 4; do run SEER_EXP_LOCAL=$w --policy gate --prefill-len 6144 --decode-sparsity budget:$b; done; done
run SEER_EXP_LOCAL=0 --policy gate --prefill-len 6144 --decode-sparsity budget:1024
echo done >> $out
