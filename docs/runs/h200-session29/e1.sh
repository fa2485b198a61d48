#!/usr/bin/env bash
# Prepared in the twenty-ninth session (no device was lent), for the next GPU session: after the model's parts,
# eval.txt and the devpack are in /tmp/m (docs/runs/h200-session22/up.sh) and the devpack holds this tree's seer.
# The shipped decode gates over the 8 held-out windows (8k, dense prefill of 6144 tokens, the last 2048
# teacher-forced), as TRAINING.md's GPU decode rows: budgets 2048 / 1024 / 512 split by the gates' budget shares
# (the default since this session) and with --uniform-budget (SeerAttention-R's rule), both with the decode gate's
# query folded into the model's Q product (the default since the twenty-eighth session); and 1024 with
# --gate-query-unfolded, the arithmetic of the rows measured before the fold.
set -u
t0=$(date +%s)
source docs/runs/h200-train-mixed-lengths/common.sh 2>/dev/null
G=gates/smollm2-135m-instruct
run() { /tmp/seerw ppl /tmp/m/eval.txt -c 8192 --max-windows 8 --json -m "$M" --device cuda --prefill-len 6144 "$@"; }
run --policy dense > $OUT/dense.json 2> $OUT/dense.err
dense=$(python3 -c "import json; print(json.load(open('$OUT/dense.json'))['ppl'])")
echo "dense $dense (t=$(( $(date +%s) - t0 )))"
row() {  # row NAME ARGS...
  local name=$1; shift
  run --gates $G --policy gate "$@" > $OUT/$name.json 2> $OUT/$name.err
  python3 -c "
import json; r=json.load(open('$OUT/$name.json')); d=r.get('density_detail',{}).get('decode',{}).get('density', r['density'])
print('$name: ppl %.4f (%+.3f%% vs dense) decode density %.4f' % (r['ppl'], 100*(r['ppl']/$dense-1), d))"
}
for b in 2048 1024 512; do
  row shares_$b --decode-sparsity budget:$b
  row uniform_$b --decode-sparsity budget:$b --uniform-budget
  echo "(t=$(( $(date +%s) - t0 )))"
done
row uniform_1024_unfolded --decode-sparsity budget:1024 --uniform-budget --gate-query-unfolded
row shares_1024_unfolded --decode-sparsity budget:1024 --gate-query-unfolded
echo "total (t=$(( $(date +%s) - t0 )))"
