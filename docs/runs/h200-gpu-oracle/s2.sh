#!/usr/bin/env bash
# Calls 5, 6: the decode oracles on the GPU over the 8 windows of the GPU decode table.
# usage: s2.sh TAG POLICIES BUDGETS LIMIT_S
set -u
t0=$(date +%s)
source docs/runs/h200-train-mixed-lengths/common.sh
tag=$1 pol=$2 bud=$3 lim=${4:-560}
timeout $lim python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" --jsonl $OUT/eval.jsonl \
  --gates gates/smollm2-135m-instruct --windows 8 --phase decode --policies $pol --budgets $bud > $OUT/$tag.md 2> $OUT/err-$tag.txt
echo "rc=$? $(( $(date +%s) - t0 )) s"; cat $OUT/$tag.md; tail -n 12 $OUT/err-$tag.txt
