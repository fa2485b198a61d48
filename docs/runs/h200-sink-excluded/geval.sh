#!/usr/bin/env bash
# The shipped gates (--exclude-sink, stage 2) over the 31 held-out windows: prefill thresholds matched against
# streaming; then the README's main command on the GPU (generation with both gates).
set -u
t0=$(date +%s)
source out/common.sh
G=gates/smollm2-135m-instruct
E=(python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" --jsonl $OUT/eval-th.jsonl)
timeout 300 "${E[@]}" --gates $G --windows 64 --phase prefill --policies gate,streaming --densities 0.5 \
  --thresholds 0.003,0.0075,0.012,0.015,0.025,0.03 > $OUT/prefill-th.md 2> $OUT/err-th.txt
echo "== thresholds rc=$? $(( $(date +%s) - t0 )) s"; grep -E "^\|" $OUT/prefill-th.md
{ cat tests/data/tdavid_excerpt.txt; printf '\nIn three sentences: what does this commentary say about the man who is blessed?\n'; } > /tmp/prompt.txt
timeout 60 /tmp/seerw generate -m "$M" --device cuda --chat -f /tmp/prompt.txt -n 128 --temp 0.7 --seed 42 \
  --gates $G --prefill-sparsity threshold:0.01 --decode-sparsity budget:1024 > $OUT/generate.txt 2>&1
echo "== generate rc=$? $(( $(date +%s) - t0 )) s"; tail -n 12 $OUT/generate.txt
