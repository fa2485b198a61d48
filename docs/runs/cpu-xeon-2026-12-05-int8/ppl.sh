#!/usr/bin/env bash
# Perplexity with int8 activations (the default since deb3889) against --f32-matmul: four 8k windows of the held-out
# text (/tmp/eval.txt, made by scripts/eval-gates.py make-eval-text), one thread per run, the two variants side by side.
#   prefill: each window in one prefill (dense)
#   decode:  a 6144-token dense prefill, then the last 2048 tokens teacher-forced through the decode path,
#            dense and with the shipped gates at budget 1024
# usage: ppl.sh OUTDIR
set -u
out=$1
mkdir -p "$out"
common=(/tmp/eval.txt -c 8192 --max-windows 4 --json -t 1)
gate=(--gates gates/smollm2-135m-instruct --policy gate --prefill-len 6144 --decode-sparsity budget:1024)
for v in int8 f32; do
  f=(); [ $v = f32 ] && f=(--f32-matmul)
  build/seer ppl "${common[@]}" "${f[@]}" > "$out/prefill-$v.json" 2> /dev/null &
done; wait
for v in int8 f32; do
  f=(); [ $v = f32 ] && f=(--f32-matmul)
  build/seer ppl "${common[@]}" "${f[@]}" --prefill-len 6144 > "$out/decode-dense-$v.json" 2> /dev/null &
done; wait
for v in int8 f32; do
  f=(); [ $v = f32 ] && f=(--f32-matmul)
  build/seer ppl "${common[@]}" "${f[@]}" "${gate[@]}" > "$out/decode-gate1024-$v.json" 2> /dev/null &
done; wait
for f in "$out"/*.json; do
  printf '%s ppl %s density %s seconds %s\n' "$(basename "$f" .json)" \
    "$(grep -o '"ppl":[0-9.]*' "$f" | cut -d: -f2)" "$(grep -o '"density":[0-9.]*' "$f" | head -1 | cut -d: -f2)" \
    "$(grep -o '"seconds":[0-9.]*' "$f" | cut -d: -f2)"
done
