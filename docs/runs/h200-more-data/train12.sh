#!/usr/bin/env bash
# Stages 1 and 2 of the shipped gates' schedule (docs/TRAINING.md) on the corpus with the two commentaries
# (prepare-corpus.py --more: tdavid web kjv mhcc scofield), runs D1 and D2.
set -u
t0=$(date +%s)
source docs/runs/h200-train-mixed-lengths/common.sh  # (as run: an identical copy in this directory)
DATA=(/tmp/corpus/tdavid /tmp/corpus/web /tmp/corpus/kjv /tmp/corpus/mhcc /tmp/corpus/scofield)
ls /tmp/corpus | tr '\n' ' '; echo
stage() {  # name, timeout, extra flags...
  local name=$1 lim=$2; shift 2; local R=/tmp/run-$name s=$(date +%s)
  timeout $lim /tmp/seerw train-gates -m "$M" --data "${DATA[@]}" --kind both --out $R --device cuda --seq-len 8192 \
    --batch 4 --steps 280 --eval-rows 2 --checkpoint-every 40 --cache-mb 110000 --ground-truth mass --exclude-sink \
    "$@" > $OUT/train-$name.log 2>&1
  echo "train $name rc=$? $(( $(date +%s) - s )) s"; grep -E "data:" $OUT/train-$name.log | head -1; tail -n 2 $OUT/train-$name.log
  cp $R/loss.tsv $OUT/loss-$name.tsv; cp $R/eval_loss.tsv $OUT/eval_loss-$name.tsv
  tar czf $OUT/gates-$name.tgz -C $R prefill decode eval_documents.txt 2>/dev/null
}
stage D1 300 --eval-every 70
stage D2 $(( 590 - ($(date +%s) - t0) )) --init /tmp/run-D1 -s 1 --lr 5e-4 --eval-every 140
echo "total $(( $(date +%s) - t0 )) s"
