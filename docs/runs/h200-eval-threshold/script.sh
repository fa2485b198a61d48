#!/usr/bin/env bash
# Call 4 of 4: the shipped gates with threshold selection (upstream's rule) over the whole held-out text:
# prefill sweep of TAU against streaming/random at a matched Top-K density; decode sweep of TAU (gate only).
set -u
export OPENBLAS_CORETYPE=SkylakeX
cp .devcarry/* /tmp/m/ 2>/dev/null
t0=$(date +%s)
M=/tmp/m/model.gguf
cat /tmp/m/model.part.[0-9] > "$M"
[ "$(sha256sum "$M" | awk '{print $1}')" = "$(cat /tmp/m/model.sha256)" ] || { echo "model sha256 mismatch"; ls -la /tmp/m; exit 1; }
rm -rf /tmp/dp && mkdir -p /tmp/dp && tar -C /tmp/dp -xJf /tmp/m/devpack.tar.xz
cublas_dir=$(dirname "$(find / -name 'libcublas.so.13*' -not -path '*/proc/*' 2>/dev/null | head -1)")
libs="/tmp/dp/lib:$cublas_dir:/usr/local/cuda/lib64:/usr/lib/x86_64-linux-gnu"
printf '#!/bin/sh\nexec /tmp/dp/lib/ld-linux-x86-64.so.2 --library-path "%s" /tmp/dp/seer "$@"\n' "$libs" > /tmp/seerw && chmod +x /tmp/seerw
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
G=gates/smollm2-135m-instruct
E=(python3 scripts/eval-gates.py --gates $G --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M")
echo "setup $(( $(date +%s) - t0 )) s"
s=$(date +%s)
timeout 300 "${E[@]}" --phase prefill --windows 64 --policies gate,streaming,random --thresholds 0.002,0.003,0.005,0.0075,0.01,0.015,0.02,0.03 --jsonl $OUT/eval.jsonl > $OUT/prefill.md 2> $OUT/prefill.err
echo "prefill rc=$? $(( $(date +%s) - s )) s"; cat $OUT/prefill.md; tail -3 $OUT/prefill.err
s=$(date +%s)
for tau in 0.003 0.01 0.03; do
  timeout 120 /tmp/seerw ppl /tmp/m/eval.txt -m "$M" -c 8192 --max-windows 8 --json --device cuda --gates $G --policy gate \
    --prefill-len 6144 --decode-sparsity threshold:$tau 2>>$OUT/decode.err | tail -1 > /tmp/r.json
  python3 -c "import json; r=json.load(open('/tmp/r.json')); print('decode threshold:$tau', 'density', round(r['density'],4), 'ppl', round(r['ppl'],3))"
  cat /tmp/r.json >> $OUT/eval.jsonl
done
echo "decode thresholds $(( $(date +%s) - s )) s"
echo "total $(( $(date +%s) - t0 )) s"
