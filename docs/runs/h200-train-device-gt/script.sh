#!/usr/bin/env bash
# Call 4 of 4: train-gates --device cuda, before (seer-old: full block maxima to the host) and after
# (ground truth reduced on the device), same args; then run 3's full command with the new binary.
set -u
export OPENBLAS_CORETYPE=SkylakeX  # run through an explicit ld.so, seer must not re-exec itself (/proc/self/exe)
cp .devcarry/* /tmp/m/ 2>/dev/null
t0=$(date +%s)
M=/tmp/m/model.gguf
cat /tmp/m/model.part.[0-9] > "$M"
[ "$(sha256sum "$M" | awk '{print $1}')" = "$(cat /tmp/m/model.sha256)" ] || { echo "model sha256 mismatch"; ls -la /tmp/m; exit 1; }
rm -rf /tmp/dp /tmp/corpus && mkdir -p /tmp/dp /tmp/corpus && tar -C /tmp/dp -xJf /tmp/m/devpack.tar.xz && tar -C /tmp/corpus -xJf /tmp/m/corpus.tar.xz
cublas_dir=$(dirname "$(find / -name 'libcublas.so.13*' -not -path '*/proc/*' 2>/dev/null | head -1)")
libs="/tmp/dp/lib:$cublas_dir:/usr/local/cuda/lib64:/usr/lib/x86_64-linux-gnu"
run() { local bin=$1; shift; /tmp/dp/lib/ld-linux-x86-64.so.2 --library-path "$libs" /tmp/dp/$bin "$@"; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
echo "setup $(( $(date +%s) - t0 )) s"
args=(-m "$M" --data /tmp/corpus/tdavid /tmp/corpus/web /tmp/corpus/kjv --kind both --device cuda --seq-len 8192 --batch 4
      --steps 30 --eval-rows 0 --checkpoint-every 1000)
for bin in seer-old seer; do
  s=$(date +%s)
  run $bin train-gates "${args[@]}" --out /tmp/r-$bin > $OUT/short-$bin.log 2>&1; rc=$?
  echo "$bin: rc=$rc $(( $(date +%s) - s )) s: $(grep -E 'step +30/' $OUT/short-$bin.log | sed 's/.*prefill loss/prefill loss/')"
done
for b in seer-old seer; do cut -f1-6 /tmp/r-$b/loss.tsv > /tmp/$b.cols; done; cmp /tmp/seer-old.cols /tmp/seer.cols && echo "loss.tsv identical (step, kind, loss, lr, grad norm, tokens)"; cp /tmp/r-seer/loss.tsv $OUT/short-loss.tsv
for bin in seer-old seer; do tail -1 $OUT/short-$bin.log; done
left=$(( 570 - ($(date +%s) - t0) ))
echo "full run with ${left} s left"
s=$(date +%s)
timeout $left /tmp/dp/lib/ld-linux-x86-64.so.2 --library-path "$libs" /tmp/dp/seer train-gates -m "$M" \
  --data /tmp/corpus/tdavid /tmp/corpus/web /tmp/corpus/kjv --kind both --out /tmp/run-full --device cuda \
  --seq-len 8192 --batch 4 --steps 280 --eval-rows 2 --eval-every 70 --checkpoint-every 40 --cache-mb 90000 > $OUT/train.log 2>&1
echo "fullrun: rc=$? in $(( $(date +%s) - s )) s"
tail -3 $OUT/train.log
cp /tmp/run-full/loss.tsv /tmp/run-full/eval_loss.tsv $OUT/ 2>/dev/null
echo "total $(( $(date +%s) - t0 )) s"
