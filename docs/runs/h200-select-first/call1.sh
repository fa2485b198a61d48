#!/usr/bin/env bash
# Call 1: the prefill selection kernel reads block 0 of a sink-excluded row as the decode kernel does (j < first): the whole
# CUDA suite, memcheck + racecheck of the selection tests, memcheck of the model-with-gates test, the gate bench, ncu at 32k.
set -u
t0=$(date +%s)
mkdir -p /tmp/m && cp .devcarry/* /tmp/m/ 2>/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
B=/tmp/b
cmake -S tests/cuda -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/configure.log 2>&1 || { tail -20 $OUT/configure.log; exit 1; }
ninja -C $B > $OUT/build.log 2>&1 || { grep -E "error" -A3 $OUT/build.log | head -40; exit 1; }
echo "build ok $(( $(date +%s) - t0 )) s"
timeout 240 $B/seer_cuda_tests > $OUT/tests.log 2>&1; echo "all tests rc=$? $(grep -E 'PASSED|FAILED' $OUT/tests.log | tail -3 | tr '\n' ' ') t=$(( $(date +%s) - t0 ))"
grep -E "^\[  FAILED" $OUT/tests.log | head; grep -E "Failure" -A6 $OUT/tests.log | head -30
timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 $B/seer_cuda_tests --gtest_filter='CudaGate.*Selection*:CudaGate.ModelForwardWithDeviceGates' > $OUT/memcheck.log 2>&1
echo "memcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/memcheck.log | tail -1) t=$(( $(date +%s) - t0 ))"
timeout 150 compute-sanitizer --tool racecheck --error-exitcode 9 $B/seer_cuda_tests --gtest_filter="CudaGate.*Selection*" > $OUT/racecheck.log 2>&1
echo "racecheck rc=$? $(grep 'RACECHECK SUMMARY\|ERROR SUMMARY' $OUT/racecheck.log | tail -1) t=$(( $(date +%s) - t0 ))"
timeout 150 $B/bench_cuda_attention --gates > $OUT/gates.txt 2>&1; echo "bench rc=$? t=$(( $(date +%s) - t0 ))"
tail -30 $OUT/gates.txt
timeout 150 ncu --csv --metrics gpu__time_duration.sum,launch__grid_size,smsp__inst_executed.sum,launch__registers_per_thread --launch-count 60 $B/bench_cuda_attention --gates 32768 > $OUT/ncu32k.csv 2>&1; echo "ncu rc=$? t=$(( $(date +%s) - t0 ))"
python3 - $OUT/ncu32k.csv <<'PY' | tee $OUT/kernels32k.txt
import csv, sys, statistics, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
hdr = rows[0]; iname = hdr.index("Kernel Name"); imet = hdr.index("Metric Name"); ival = hdr.index("Metric Value")
t = collections.defaultdict(list)
for r in rows[1:]:
    if r[imet] == "gpu__time_duration.sum": t[r[iname][:70]].append(float(r[ival].replace(",", "")))
for k, v in t.items(): print(f"{k:70s} n={len(v):3d} median {statistics.median(v)/1000:8.2f} us")
PY
tar czf $OUT/logs.tgz -C $OUT configure.log build.log tests.log memcheck.log racecheck.log 2>/dev/null; rm -f $OUT/configure.log $OUT/build.log $OUT/tests.log $OUT/memcheck.log $OUT/racecheck.log
echo "total $(( $(date +%s) - t0 )) s"
