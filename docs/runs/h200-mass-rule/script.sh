#!/usr/bin/env bash
# Call D: the shipped gates over the 31 held-out windows with mass:P (top-p) and with threshold:TAU, each matched
# against streaming at the Top-K density at or above the gate's; then the gate's own Top-K at 0.1 for reference.
set -u
t0=$(date +%s)
source out/common.sh
G=gates/smollm2-135m-instruct
E=(python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" --jsonl $OUT/eval-mass.jsonl)
timeout 420 "${E[@]}" --gates $G --windows 64 --phase prefill --policies gate,streaming --densities 0.1 \
  --thresholds 0.01,0.02,0.03 --masses 0.5,0.65,0.8,0.9,0.95 > $OUT/prefill-mass.md 2> $OUT/err-mass.txt
echo "== masses rc=$? $(( $(date +%s) - t0 )) s"; grep -E "^\|" $OUT/prefill-mass.md
tail -3 $OUT/err-mass.txt

# Second call (prefill-mass-2.md), the same machine:
#   source out/common.sh; python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" \
#     --jsonl $OUT/eval-mass2.jsonl --gates gates/smollm2-135m-instruct --windows 64 --phase prefill \
#     --policies gate,streaming --densities 0.12,0.15 --thresholds 0.015,0.025,0.04 --masses 0.55,0.6,0.7,0.75
# CPU row (docs/runs/cpu-mass-rule/gate-0.8.json, this machine's 2 cores, 622 s):
#   build/seer ppl /tmp/eval.txt -c 8192 --max-windows 4 -t 2 --json --gates gates/smollm2-135m-instruct --prefill-sparsity mass:0.8
