#!/usr/bin/env bash
# Call 1 (twenty-fourth session), model-free. The tree: the decode step kernel issues bulk L2 prefetches
# (cp.async.bulk.prefetch.L2) of its row's compressed entries, so that HBM streams them while the projections
# run; SEER_EXP_PF=0 (a temporary switch) turns it off in the same build. The CudaGate suite with it on, the
# decode gate rows three times each way, alternating; then the twenty-third session's call 8 (projection slices
# at batch 1 and 4, a temporary override sed into a copy of cuda_gate.cpp), once.
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
mkdir -p /tmp/g1
timeout 200 /tmp/bx/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/g1/tests.txt 2>&1
echo "CudaGate tests rc=$? $(grep -cE '^\[       OK' /tmp/g1/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g1/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
for r in 1 2 3; do for pf in 1 0; do
  SEER_EXP_PF=$pf /tmp/bx/bench_cuda_attention --gates 0 > /tmp/g1/dgate_pf${pf}_$r.txt 2>&1
done; done
echo "benched (t=$(( $(date +%s) - t0 )))"
for pf in 1 0; do echo "prefetch=$pf"; grep -hE 'graph' /tmp/g1/dgate_pf${pf}_*.txt | cut -c1-100 | sort -s -k2,3; done
for S in 16 8 4 2 1; do for B in 1 4; do
  SEER_EXP_SLICES=$S /tmp/bx/bench_cuda_attention --gates 0 $B > /tmp/g1/dgate_s${S}_b${B}.txt 2>&1
done; done
for B in 1 4; do for S in 16 8 4 2 1; do
  echo "B=$B slices=$S $(grep -hE 'mid, int8, graph' /tmp/g1/dgate_s${S}_b${B}.txt | cut -c1-100)"
done; done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g1 && tar czf $OUT/c1.tgz *.txt
