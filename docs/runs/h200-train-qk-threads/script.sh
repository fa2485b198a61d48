#!/usr/bin/env bash
# 2026-12-02, H200: train-gates --device cuda, 30 steps x 4 rows of 8k, two binaries in one device call:
# seer-old (the commit before: each layer's q/k converted bf16 -> fp32 on one thread) and seer (converted on
# the session's threads). Model, corpus and binaries carried as scripts/gpu-e2e.sh describes.
export OPENBLAS_CORETYPE=SkylakeX
M=/tmp/m/model.gguf
cublas_dir=$(dirname "$(find / -name 'libcublas.so.13*' -not -path '*/proc/*' 2>/dev/null | head -1)")
libs="/tmp/dp/lib:$cublas_dir:/usr/local/cuda/lib64:/usr/lib/x86_64-linux-gnu"
args=(-m "$M" --data /tmp/corpus/tdavid /tmp/corpus/web /tmp/corpus/kjv --kind both --device cuda --seq-len 8192
      --batch 4 --steps 30 --eval-rows 0 --checkpoint-every 1000)
for bin in seer-old seer; do
  rm -rf /tmp/r-$bin
  /tmp/dp/lib/ld-linux-x86-64.so.2 --library-path "$libs" /tmp/dp/$bin train-gates "${args[@]}" --out /tmp/r-$bin > $OUT/short-$bin.log 2>&1
done
for b in seer-old seer; do cut -f1-6 /tmp/r-$b/loss.tsv > /tmp/$b.cols; done
cmp /tmp/seer-old.cols /tmp/seer.cols && echo identical
cp /tmp/r-seer/loss.tsv $OUT/short-loss.tsv
