#!/usr/bin/env bash
# Eval call (twenty-second session; carries model.part.3 and the devpack): the shipped decode gates with the
# bf16 K-compression cache (the default) and with --gate-cache-int8, side by side at budgets 2048 / 1024 / 512
# and mass:0.9, over the 8 held-out windows (8k, dense prefill of 6144 tokens, the last 2048 teacher-forced).
set -u
t0=$(date +%s)
source docs/runs/h200-train-mixed-lengths/common.sh 2>/dev/null
G=gates/smollm2-135m-instruct
run() { /tmp/seerw ppl /tmp/m/eval.txt -c 8192 --max-windows 8 --json -m "$M" --device cuda --prefill-len 6144 "$@"; }
run --policy dense > $OUT/dense.json 2> $OUT/dense.err
dense=$(python3 -c "import json; print(json.load(open('$OUT/dense.json'))['ppl'])")
echo "dense $dense (t=$(( $(date +%s) - t0 )))"
for rule in budget:2048 budget:1024 budget:512 mass:0.9; do
  for cache in bf16 int8; do
    extra=(); [ $cache = int8 ] && extra=(--gate-cache-int8)
    f=$OUT/${rule/:/_}_$cache
    run --gates $G --policy gate --decode-sparsity $rule "${extra[@]}" > $f.json 2> $f.err
    python3 -c "
import json; r=json.load(open('$f.json')); d=r.get('density_detail',{}).get('decode',{}).get('density', r['density'])
print('$rule $cache: ppl %.4f (%+.3f%% vs dense) decode density %.4f' % (r['ppl'], 100*(r['ppl']/$dense-1), d))"
  done
  echo "(t=$(( $(date +%s) - t0 )))"
done
