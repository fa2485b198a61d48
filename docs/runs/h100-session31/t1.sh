#!/usr/bin/env bash
# Call 7 (thirty-first session): gates with hidden size dg 128 (the shipped gates have 64), stage 1 of the shipped
# schedule (TRAINING.md, *The shipped gates*) from N(0, 0.02), then the decode rows (8 windows, uniform budgets)
# and the prefill Top-K rows (31 windows, uniform k) against the shipped gates' figures of this session's calls.
set -u
t0=$(date +%s)
el() { echo $(( $(date +%s) - t0 )); }
source docs/runs/h200-train-mixed-lengths/common.sh
D=/tmp/corpus
timeout 400 /tmp/seerw train-gates -m "$M" --data $D/tdavid $D/web $D/kjv --kind both --out /tmp/r128 --device cuda \
  --seq-len 8192 --batch 4 --steps 280 --eval-rows 2 --eval-every 70 --checkpoint-every 40 --cache-mb 100000 \
  --ground-truth mass --exclude-sink --hidden-size 128 > $OUT/train.log 2>&1
echo "train rc=$? (t=$(el))"; grep -iE "eval" $OUT/train.log | tail -5; tail -2 $OUT/train.log
mkdir -p $OUT/r128 && cp -r /tmp/r128/prefill /tmp/r128/decode /tmp/r128/*.tsv $OUT/r128/ 2>/dev/null; ls /tmp/r128
G=/tmp/r128
run() { /tmp/seerw ppl /tmp/m/eval.txt -c 8192 --json -m "$M" --device cuda "$@"; }
for b in 1024 512 2048; do
  [ $(el) -lt 540 ] || break
  run --max-windows 8 --prefill-len 6144 --gates $G --policy gate --uniform-budget --decode-sparsity budget:$b > $OUT/d$b.json 2>$OUT/d$b.err
  python3 -c "import json; r=json.load(open('$OUT/d$b.json')); print('decode $b ppl %.4f (%+.3f%% vs 33.81528)' % (r['ppl'], 100*(r['ppl']/33.81528165066893-1)))"
done
for d in 0.1 0.2; do
  [ $(el) -lt 570 ] || break
  run --max-windows 64 --gates $G --policy gate --uniform-budget --prefill-sparsity density:$d > $OUT/p$d.json 2>$OUT/p$d.err
  python3 -c "import json; r=json.load(open('$OUT/p$d.json')); print('prefill $d ppl %.4f (%+.3f%% vs 32.8369)' % (r['ppl'], 100*(r['ppl']/32.83690405290447-1)))"
done
echo "total (t=$(el))"
