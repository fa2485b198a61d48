#!/usr/bin/env bash
# Eval calls (twentieth session; the first carries model.part.3 and the devpack): the shipped gates' decode rows over
# the 8 windows of the GPU decode table under the fixed budgets, the threshold rule and the mass rule (now on the
# GPU), for the rules' figures at the budgets' densities. eval-gates' --resume takes rows already run from the
# session's jsonl in /tmp, so a second call continues where the first stopped.
# usage: e1.sh LIMIT_S
set -u
t0=$(date +%s)
source docs/runs/h200-train-mixed-lengths/common.sh
cp /tmp/m/eval.jsonl $OUT/ 2>/dev/null
timeout $1 python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" \
  --jsonl /tmp/m/eval.jsonl --resume --gates gates/smollm2-135m-instruct --windows 8 --phase decode --policies gate \
  --budgets 2048,1024,512 --decode-thresholds 0.035,0.03,0.015,0.012,0.006,0.005 \
  --decode-masses 0.55,0.6,0.75,0.8,0.9,0.93 > $OUT/decode.md 2> $OUT/err.txt
echo "eval rc=$? (t=$(( $(date +%s) - t0 )))"; cat $OUT/decode.md; tail -n 5 $OUT/err.txt
cp /tmp/m/eval.jsonl $OUT/
