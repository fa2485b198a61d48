#!/usr/bin/env bash
# Call 4 of 4: the CUDA tests (the K-cache mirror for oracle / quest first), memcheck of the new test; then
# oracle and quest on the GPU over 4 held-out windows, next to the gate and streaming.
set -u
export OPENBLAS_CORETYPE=SkylakeX
cp .devcarry/* /tmp/m/ 2>/dev/null
t0=$(date +%s)
B=/tmp/b
cmake -S tests/cuda -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/configure.log 2>&1 || { tail -20 $OUT/configure.log; exit 1; }
ninja -C $B > $OUT/build.log 2>&1 || { grep -E "error" -A3 $OUT/build.log | head -40; exit 1; }
echo "build ok $(( $(date +%s) - t0 )) s"
timeout 100 $B/seer_cuda_tests --gtest_filter='CudaModel.*' > $OUT/model_tests.log 2>&1; echo "CudaModel tests rc=$? $(grep -E 'PASSED|FAILED' $OUT/model_tests.log | tail -2 | tr '\n' ' ') t=$(( $(date +%s) - t0 ))"
grep -E "KvCache" $OUT/model_tests.log | grep -E "OK|FAILED"; grep -E "Failure" -A6 $OUT/model_tests.log | head -20
timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 $B/seer_cuda_tests --gtest_filter='CudaModel.KvCache*' > $OUT/memcheck.log 2>&1
echo "memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/memcheck.log | tail -1) t=$(( $(date +%s) - t0 ))"
M=/tmp/m/model.gguf
cat /tmp/m/model.part.[0-9] > "$M"
[ "$(sha256sum "$M" | awk '{print $1}')" = "$(cat /tmp/m/model.sha256)" ] || { echo "model sha256 mismatch"; ls -la /tmp/m; exit 1; }
rm -rf /tmp/dp && mkdir -p /tmp/dp && tar -C /tmp/dp -xJf /tmp/m/devpack.tar.xz
cublas_dir=$(dirname "$(find / -name 'libcublas.so.13*' -not -path '*/proc/*' 2>/dev/null | head -1)")
libs="/tmp/dp/lib:$cublas_dir:/usr/local/cuda/lib64:/usr/lib/x86_64-linux-gnu"
printf '#!/bin/sh\nexec /tmp/dp/lib/ld-linux-x86-64.so.2 --library-path "%s" /tmp/dp/seer "$@"\n' "$libs" > /tmp/seerw && chmod +x /tmp/seerw
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
G=gates/smollm2-135m-instruct
left=$(( 235 - ($(date +%s) - t0) ))
echo "eval with $left s left"
timeout $left python3 scripts/eval-gates.py --gates $G --text /tmp/m/eval.txt --seer /tmp/seerw --device cuda -m "$M" \
  --phase prefill --windows 4 --policies gate,oracle,quest,streaming --jsonl $OUT/eval.jsonl > $OUT/prefill.md 2> $OUT/prefill.err
echo "prefill rc=$? t=$(( $(date +%s) - t0 ))"; cat $OUT/prefill.md; cat $OUT/prefill.err | tail -14
tar czf $OUT/logs.tgz -C $OUT configure.log build.log model_tests.log memcheck.log 2>/dev/null; rm -f $OUT/configure.log $OUT/build.log $OUT/model_tests.log $OUT/memcheck.log
echo "total $(( $(date +%s) - t0 )) s"

# The second call (the machine still warm, same files): quest over all 31 windows, with the gate's
# Top-K and threshold rows:
#   python3 scripts/eval-gates.py --gates gates/smollm2-135m-instruct --text /tmp/m/eval.txt --seer /tmp/seerw \
#     --device cuda -m /tmp/m/model.gguf --phase prefill --windows 64 --policies gate,quest --densities 0.5,0.2,0.1 \
#     --thresholds 0.003,0.0075,0.01,0.02 --jsonl $OUT/eval.jsonl
