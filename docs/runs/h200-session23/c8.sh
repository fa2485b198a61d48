#!/usr/bin/env bash
# Call 8 (twenty-third session), model-free: how many projection slices at small batches. HEAD (7fb0356) takes
# slices = clamp(SMs / (B x Hkv), 1, 16): 16 at batch 1 and 2 (8 KV heads), 1 at batch 16. A temporary
# override (SEER_EXP_SLICES, sed into a copy of cuda_gate.cpp; not kept) times the batch-1 and batch-4 steps
# with 16 / 8 / 4 / 2 / 1 slices, twice each, alternating, and runs the decode tests with 4, after the CudaGate
# suite at the default slices.
set -u
t0=$(date +%s)
rm -rf /tmp/x && mkdir -p /tmp/x && cp -r CMakeLists.txt include src tests bench /tmp/x/
python3 - <<'PY'
p='/tmp/x/src/model/cuda_gate.cpp'
s=open(p).read()
old='slices = std::clamp(sms / std::max(1, batch * m.num_kv_heads), 1, cuda::kGateMaxSlices);'
assert old in s
s=s.replace(old, old+'\n      if (const char* e = std::getenv("SEER_EXP_SLICES")) slices = std::atoi(e);')
s=s.replace('#include <algorithm>','#include <algorithm>\n#include <cstdlib>')
open(p,'w').write(s)
PY
cmake -S /tmp/x/tests/cuda -B /tmp/bx -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bx seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g8
timeout 200 /tmp/bx/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/g8/tests.txt 2>&1
echo "default slices: CudaGate tests rc=$? $(grep -cE '^\[       OK' /tmp/g8/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g8/tests.txt | head -5 | tr '\n' ' ')"
SEER_EXP_SLICES=4 timeout 100 /tmp/bx/seer_cuda_tests --gtest_filter='CudaGate.Decode*' > /tmp/g8/tests_4.txt 2>&1
echo "slices 4: decode tests rc=$? $(grep -cE '^\[       OK' /tmp/g8/tests_4.txt) ok"
for r in 1 2; do for S in 16 8 4 2 1; do for B in 1 4; do
  SEER_EXP_SLICES=$S /tmp/bx/bench_cuda_attention --gates 0 $B > /tmp/g8/dgate_s${S}_b${B}_$r.txt 2>&1
done; done; done
echo "benched (t=$(( $(date +%s) - t0 )))"
for B in 1 4; do for S in 16 8 4 2 1; do
  echo "slices=$S"; grep -hE 'mid, int8, graph|mid, graph' /tmp/g8/dgate_s${S}_b${B}_*.txt | cut -c1-100
done; done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g8 && tar czf $OUT/c8.tgz *.txt
