#!/usr/bin/env bash
# Call 2 (twenty-third session), model-free. Call 1's variant lost (batch 16 int8 graph step 29.5 -> 39.3 us;
# its projection kernel 21 us under Nsight Compute against HEAD's 12.5). Three builds, to tell its two parts
# apart: F3 = the selection in the scores kernel (3 CTAs per SM) with HEAD's projection kernel
# (var/F_gate.cu, var/F_cuda_gate.cpp); P = the tiled projection rewritten so that every load of a step is
# in flight at once (the finishing by all threads, then a warp per sequence) with HEAD's separate selection
# kernel (var/P_cuda_gate.cpp); V3 = both (the tree, 3 CTAs per SM). The CudaGate suite on V3, the decode
# tests on F3 and P, the decode gate rows twice per build, Nsight Compute per kernel at batch 16.
set -u
t0=$(date +%s)
D=docs/runs/h200-session23
for v in F3 P V3; do rm -rf /tmp/$v && mkdir -p /tmp/$v && cp -r CMakeLists.txt include src tests bench /tmp/$v/; done
cp $D/var/F_gate.cu /tmp/F3/src/kernels/cuda/gate.cu && cp $D/var/F_cuda_gate.cpp /tmp/F3/src/model/cuda_gate.cpp
cp $D/var/P_cuda_gate.cpp /tmp/P/src/model/cuda_gate.cpp
sed -i 's/__global__ void __launch_bounds__(256) gate_decode_scores_kernel/__global__ void __launch_bounds__(256, 3) gate_decode_scores_kernel/' /tmp/V3/src/kernels/cuda/gate.cu
grep -c "__launch_bounds__(256, 3) gate_decode_scores_kernel" /tmp/V3/src/kernels/cuda/gate.cu /tmp/F3/src/kernels/cuda/gate.cu
for v in F3 P V3; do
  cmake -S /tmp/$v/tests/cuda -B /tmp/b$v -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg$v.log 2>&1 &&
    ninja -C /tmp/b$v seer_cuda_tests bench_cuda_attention > /tmp/build$v.log 2>&1 || { echo "build $v failed"; grep -E "error" -A3 /tmp/build$v.log | head -20; exit 1; }
done
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g2
timeout 200 /tmp/bV3/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/g2/tests_V3.txt 2>&1
echo "V3: CudaGate tests rc=$? $(grep -cE '^\[       OK' /tmp/g2/tests_V3.txt) ok $(grep -E '^\[  FAILED' /tmp/g2/tests_V3.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
for v in F3 P; do
  timeout 100 /tmp/b$v/seer_cuda_tests --gtest_filter='CudaGate.Decode*' > /tmp/g2/tests_$v.txt 2>&1
  echo "$v: CudaGate.Decode* rc=$? $(grep -cE '^\[       OK' /tmp/g2/tests_$v.txt) ok $(grep -E '^\[  FAILED' /tmp/g2/tests_$v.txt | head -5 | tr '\n' ' ')"
done
grep -B2 -A8 "Failure" /tmp/g2/tests_*.txt | head -30
for r in 1 2; do for v in F3 P V3; do /tmp/b$v/bench_cuda_attention --gates 0 > /tmp/g2/dgate_${v}_$r.txt 2>&1; done; done
echo "benched (t=$(( $(date +%s) - t0 )))"
for v in F3 P V3; do echo "== $v"; grep -hE "^gate|^decode" /tmp/g2/dgate_${v}_*.txt | grep -E "graph" | cut -c1-112; done
for v in F3 P V3; do
  timeout 60 ncu --clock-control none --kernel-name regex:"gate_" --launch-skip 0 --launch-count 300 \
    --metrics gpu__time_duration.sum --csv /tmp/b$v/bench_cuda_attention --gates 0 16 > /tmp/g2/ncu_$v.csv 2>/dev/null
  python3 - $v <<'PY'
import csv, statistics, collections, sys
r=[x for x in csv.DictReader(l for l in open('/tmp/g2/ncu_%s.csv' % sys.argv[1]) if l.startswith('"'))]
d=collections.defaultdict(list)
for x in r:
    n=x["Kernel Name"].split("(")[0]
    if 'decode' in n: d[n[-70:]].append(float(x['Metric Value'].replace(',','')))
for k,v in d.items(): print('ncu', sys.argv[1], 'B16', k, len(v), 'median', statistics.median(v), 'min', min(v))
PY
done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g2 && tar czf $OUT/c2.tgz *.txt *.csv
