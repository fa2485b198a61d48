#!/usr/bin/env bash
# (calls 1-3 carry the model parts as in ../h200-train-mixed-lengths/; common.sh is there too)
# Quest in decode over the 8 windows of the GPU decode table (budgets 2048/1024/512), next to the gate at 2048
# for a same-call check (earlier call: gate +2.97%, dense 33.815).
set -u
t0=$(date +%s)
source out/common.sh
S=gates/smollm2-135m-instruct
timeout 500 python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" --jsonl $OUT/eval.jsonl \
  --gates $S --ctx 8192 --windows 8 --phase decode --policies quest,gate --budgets 2048,1024,512 > $OUT/decode.md 2> $OUT/err.txt
echo "rc=$? $(( $(date +%s) - t0 )) s"; cat $OUT/decode.md; tail -n 12 $OUT/err.txt
