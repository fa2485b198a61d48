#!/usr/bin/env bash
# Call 5: train both gates from scratch on rows of 1k/2k/4k/8k tokens taken in turn (run 3's schedule
# otherwise), then a first look at the new gates at 1k and 8k.
set -u
t0=$(date +%s)
source out/common.sh
R=/tmp/run-mixed
rm -rf $R
timeout 480 /tmp/seerw train-gates -m "$M" --data /tmp/corpus/tdavid /tmp/corpus/web /tmp/corpus/kjv --kind both \
  --out $R --device cuda --seq-len 1024,2048,4096,8192 --batch 4 --steps 280 --eval-rows 4 --eval-every 70 \
  --checkpoint-every 40 --cache-mb 90000 > $OUT/train.log 2>&1
echo "train rc=$? $(( $(date +%s) - t0 )) s"; grep -E "^data|rows" $OUT/train.log | head -3; tail -n 4 $OUT/train.log
cp $R/loss.tsv $R/eval_loss.tsv $OUT/ 2>/dev/null
tar czf $OUT/gates.tgz -C $R prefill decode eval_documents.txt 2>/dev/null
left=$(( 580 - ($(date +%s) - t0) ))
echo "eval with $left s left"
E=(python3 scripts/eval-gates.py --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" --phase prefill --policies gate)
timeout $left "${E[@]}" --gates $R --ctx 1024 --windows 64 --densities 0.5,0.2 --jsonl $OUT/eval.jsonl 2>&1 | tail -n 5
echo "t=$(( $(date +%s) - t0 ))"
