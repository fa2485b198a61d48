#!/usr/bin/env bash
# Call 1 (twenty-third session), model-free. HEAD (bea1207, built from a copy with HEAD's gate sources) and
# the variant: (a) the decode selection made by the scores kernel (the last CTA of a row selects it; no
# selection kernel), (b) the decode step's projections over tiles of 8 sequences (each weight read once per
# tile instead of once per sequence; one warp finishes each sequence). v3: the variant with the scores
# kernel bounded to 3 CTAs per SM (80 registers). HEAD's CudaGate suite (its last two commits had not run on
# a GPU), the variant's whole CUDA suite, memcheck/racecheck, the decode gate rows, and Nsight Compute's
# per-kernel times of the batch-16 step.
set -u
t0=$(date +%s)
D=docs/runs/h200-session23
rm -rf /tmp/h /tmp/v3 && mkdir -p /tmp/h /tmp/v3 && cp -r CMakeLists.txt include src tests bench /tmp/h/ && cp -r CMakeLists.txt include src tests bench /tmp/v3/
for f in src/kernels/cuda/gate.cu src/kernels/cuda/gate.cuh src/model/cuda_gate.cpp tests/cuda/test_cuda_gate.cpp; do cp $D/head/$(basename $f) /tmp/h/$f; done
sed -i 's/__global__ void __launch_bounds__(256) gate_decode_scores_kernel/__global__ void __launch_bounds__(256, 3) gate_decode_scores_kernel/' /tmp/v3/src/kernels/cuda/gate.cu
grep -c "__launch_bounds__(256, 3) gate_decode_scores_kernel" /tmp/v3/src/kernels/cuda/gate.cu
for v in h v v3; do
  src=.; [ $v != v ] && src=/tmp/$v
  cmake -S $src/tests/cuda -B /tmp/b$v -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg$v.log 2>&1 &&
    ninja -C /tmp/b$v seer_cuda_tests bench_cuda_attention > /tmp/build$v.log 2>&1 || { echo "build $v failed"; grep -E "error" -A3 /tmp/build$v.log | head -20; exit 1; }
done
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g1
timeout 200 /tmp/bh/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/g1/tests_h.txt 2>&1 &
hp=$!
timeout 300 /tmp/bv/seer_cuda_tests > /tmp/g1/tests_v.txt 2>&1
echo "variant: all CUDA tests rc=$? $(grep -cE '^\[       OK' /tmp/g1/tests_v.txt) ok $(grep -E '^\[  FAILED' /tmp/g1/tests_v.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
wait $hp
echo "HEAD: CudaGate tests rc=$? $(grep -cE '^\[       OK' /tmp/g1/tests_h.txt) ok $(grep -E '^\[  FAILED' /tmp/g1/tests_h.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
grep -B2 -A8 "Failure" /tmp/g1/tests_v.txt | head -40
grep -E "DecodeSelectionInTheScores|DecodeScoresMatch|DecodeInt8" /tmp/g1/tests_v.txt
for r in 1 2; do for v in h v v3; do /tmp/b$v/bench_cuda_attention --gates 0 > /tmp/g1/dgate_${v}_$r.txt 2>&1; done; done
echo "benched (t=$(( $(date +%s) - t0 )))"
for v in h v v3; do echo "== $v"; grep -hE "^gate|^decode" /tmp/g1/dgate_${v}_*.txt | grep -E "graph|Qproj mid|mid, int8 " | cut -c1-112; done
timeout 60 ncu --clock-control none --kernel-name regex:"gate_decode" --launch-skip 46 --launch-count 92 \
  --metrics gpu__time_duration.sum --csv /tmp/bv/bench_cuda_attention --gates 0 16 > /tmp/g1/ncu_v.csv 2>/dev/null
python3 - <<'PY'
import csv, statistics, collections
r=[x for x in csv.DictReader(l for l in open('/tmp/g1/ncu_v.csv') if l.startswith('"'))]
for name, rows in (('mass:0.9', r[:46]), ('int8 budget', r[46:92])):
    d=collections.defaultdict(list)
    for x in rows: d[x['Kernel Name'].split('(')[0].split('<')[0][-34:]].append(float(x['Metric Value'].replace(',','')))
    for k,v in d.items(): print('ncu v B16', name, k, len(v), 'median', statistics.median(v), rows[0]['Metric Unit'])
PY
timeout 150 compute-sanitizer --tool memcheck /tmp/bv/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelectionInTheScoresKernel:CudaGate.DecodeScoresMatchCpuCache:CudaGate.DecodeInt8CacheMatchesCpu' > /tmp/g1/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g1/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
timeout 100 compute-sanitizer --tool racecheck /tmp/bv/seer_cuda_tests --gtest_filter='CudaGate.DecodeScoresMatchCpuCache' > /tmp/g1/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' /tmp/g1/racecheck.txt) (t=$(( $(date +%s) - t0 )))"
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g1 && tar czf $OUT/c1.tgz *.txt *.csv
