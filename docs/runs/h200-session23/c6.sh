#!/usr/bin/env bash
# Call 6 (twenty-third session), model-free: HEAD's decode step kernel with its dependent reads overlapped
# (the tree): the first weight rows prefetched to L1 while x is staged; the new key, the block's statistics and
# both RoPE tables read or made at the kernel's start; with one slice (batch 16 x 8 KV heads) the projections'
# sums kept in shared memory instead of a write and an L2 read. Against HEAD (h: head/gate.cu, carried, HEAD
# d0db970's file) in the same call: the CudaGate suite on the tree, memcheck and racecheck, the decode gate rows
# three times each (alternating), the step kernel alone under Nsight Compute at batch 1 and 16.
set -u
t0=$(date +%s)
D=docs/runs/h200-session23
rm -rf /tmp/h && mkdir -p /tmp/h && cp -r CMakeLists.txt include src tests bench /tmp/h/ && cp $D/head/gate.cu /tmp/h/src/kernels/cuda/gate.cu
for v in h T; do
  src=.; [ $v = h ] && src=/tmp/h
  cmake -S $src/tests/cuda -B /tmp/b$v -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg$v.log 2>&1 &&
    ninja -C /tmp/b$v seer_cuda_tests bench_cuda_attention > /tmp/build$v.log 2>&1 || { echo "build $v failed"; grep -E "error" -A3 /tmp/build$v.log | head -20; exit 1; }
done
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g6
timeout 200 /tmp/bT/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/g6/tests_T.txt 2>&1
echo "T: CudaGate tests rc=$? $(grep -cE '^\[       OK' /tmp/g6/tests_T.txt) ok $(grep -E '^\[  FAILED' /tmp/g6/tests_T.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
grep -B2 -A8 "Failure" /tmp/g6/tests_T.txt | head -30
timeout 120 compute-sanitizer --tool memcheck /tmp/bT/seer_cuda_tests --gtest_filter='CudaGate.DecodeScoresMatchCpuCache:CudaGate.DecodeInt8CacheMatchesCpu' > /tmp/g6/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g6/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
timeout 100 compute-sanitizer --tool racecheck /tmp/bT/seer_cuda_tests --gtest_filter='CudaGate.DecodeScoresMatchCpuCache' > /tmp/g6/racecheck.txt 2>&1
echo "racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' /tmp/g6/racecheck.txt) (t=$(( $(date +%s) - t0 )))"
for r in 1 2 3; do for v in h T; do /tmp/b$v/bench_cuda_attention --gates 0 > /tmp/g6/dgate_${v}_$r.txt 2>&1; done; done
echo "benched (t=$(( $(date +%s) - t0 )))"
for v in h T; do echo "== $v"; grep -hE "^gate|^decode" /tmp/g6/dgate_${v}_*.txt | grep -E "graph" | sort -k2,2 -s | cut -c1-112; done
for v in h T; do for B in 1 16; do
  timeout 60 ncu --clock-control none --kernel-name regex:"gate_decode_project" --launch-count 23 \
    --metrics gpu__time_duration.sum --csv /tmp/b$v/bench_cuda_attention --gates 0 $B > /tmp/g6/ncu_${v}_$B.csv 2>/dev/null
  python3 - /tmp/g6/ncu_${v}_$B.csv "$v B$B" <<'PY'
import csv, statistics, sys
r=[float(x['Metric Value'].replace(',','')) for x in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"'))]
print('ncu project', sys.argv[2], len(r), 'median', statistics.median(r) if r else None, 'min', min(r) if r else None)
PY
done; done
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g6 && tar czf $OUT/c6.tgz *.txt *.csv
