#!/usr/bin/env bash
# Call (twentieth session): the prefill selection's softmax rules (threshold, mass) at R = 16 (rows of 129..512
# blocks: 8k..32k tokens) spill under __launch_bounds__(256, 4) (64 registers: 56 bytes stores, 244 loads).
# Variants of the launch bounds for the kTopK = false instantiation, each built in its own copy of the tree:
#   v4: as committed (4 CTAs per SM); v3: 3 CTAs (85 registers); v2: 2 CTAs (128 registers).
# For each, the CudaGate selection tests and bench_cuda_attention --gates at 8k and 32k (the select rows).
set -u
t0=$(date +%s)
mkdir -p /tmp/g3
for v in 4 3 2; do
  rm -rf /tmp/v$v && mkdir -p /tmp/v$v && cp -r src include tests bench CMakeLists.txt /tmp/v$v/
  sed -i "s/__launch_bounds__(kSelectWarps \* 32, R > 16 ? 1 : 4) gate_select_kernel/__launch_bounds__(kSelectWarps * 32, R > 16 ? 1 : (kTopK ? 4 : $v)) gate_select_kernel/" /tmp/v$v/src/kernels/cuda/gate.cu
  grep -c "kTopK ? 4 : $v" /tmp/v$v/src/kernels/cuda/gate.cu
  (cmake -S /tmp/v$v/tests/cuda -B /tmp/bv$v -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/g3/cfg$v.log 2>&1 && ninja -C /tmp/bv$v seer_cuda_tests bench_cuda_attention > /tmp/g3/build$v.log 2>&1; echo "v$v built rc=$? (t=$(( $(date +%s) - t0 )))") &
done
wait
for v in 4 3 2; do echo "v$v: $(grep "spilled.*gate_select_kernelILi16ELb0" /tmp/g3/build$v.log | head -1 | grep -o "[0-9]* bytes spill stores, [0-9]* bytes spill loads")"; done
for v in 3 2; do  # (v4 is the committed kernel, tested in c1)
  (timeout 120 /tmp/bv$v/seer_cuda_tests --gtest_filter='CudaGate.*Selection*' > /tmp/g3/tests$v.txt 2>&1
   echo "v$v selection tests rc=$? $(grep -cE '^\[       OK' /tmp/g3/tests$v.txt) ok (t=$(( $(date +%s) - t0 )))") &
done
wait
for r in 1 2; do for v in 4 3 2; do for T in 8192 32768; do
  /tmp/bv$v/bench_cuda_attention --gates $T > /tmp/g3/b${v}_${T}_$r.txt 2>&1
  grep -E "^select" /tmp/g3/b${v}_${T}_$r.txt | sed "s/^/v$v r$r /" | cut -c1-100
done; done; done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g3 && tar czf $OUT/c2.tgz *.txt *.log
