#!/usr/bin/env bash
# Call 4 of 4: the shipped gates' quality over the whole held-out text on the GPU (token_nll on the device),
# prefill over every 8k window (31), decode over 8. (The training comparison of the same call is in ../h200-train-qk-threads.)
set -u
export OPENBLAS_CORETYPE=SkylakeX
cp .devcarry/* /tmp/m/ 2>/dev/null
t0=$(date +%s)
M=/tmp/m/model.gguf
cat /tmp/m/model.part.[0-9] > "$M"
[ "$(sha256sum "$M" | awk '{print $1}')" = "$(cat /tmp/m/model.sha256)" ] || { echo "model sha256 mismatch"; ls -la /tmp/m; exit 1; }
rm -rf /tmp/dp /tmp/corpus && mkdir -p /tmp/dp /tmp/corpus && tar -C /tmp/dp -xJf /tmp/m/devpack.tar.xz
cublas_dir=$(dirname "$(find / -name 'libcublas.so.13*' -not -path '*/proc/*' 2>/dev/null | head -1)")
libs="/tmp/dp/lib:$cublas_dir:/usr/local/cuda/lib64:/usr/lib/x86_64-linux-gnu"
printf '#!/bin/sh\nexec /tmp/dp/lib/ld-linux-x86-64.so.2 --library-path "%s" /tmp/dp/seer "$@"\n' "$libs" > /tmp/seerw && chmod +x /tmp/seerw
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
G=gates/smollm2-135m-instruct
E=(python3 scripts/eval-gates.py --gates $G --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M")
echo "setup $(( $(date +%s) - t0 )) s"
s=$(date +%s)
timeout 200 "${E[@]}" --phase prefill --windows 64 --policies gate,streaming,random --jsonl $OUT/eval.jsonl > $OUT/prefill.md 2> $OUT/prefill.err
echo "prefill rc=$? $(( $(date +%s) - s )) s"; cat $OUT/prefill.md; tail -3 $OUT/prefill.err
left=$(( 575 - ($(date +%s) - t0) ))
echo "decode with ${left} s left"
s=$(date +%s)
timeout $left "${E[@]}" --phase decode --windows 8 --policies gate,streaming,random --jsonl $OUT/eval.jsonl > $OUT/decode.md 2> $OUT/decode.err
echo "decode rc=$? $(( $(date +%s) - s )) s"; cat $OUT/decode.md; tail -3 $OUT/decode.err
echo "total $(( $(date +%s) - t0 )) s"
