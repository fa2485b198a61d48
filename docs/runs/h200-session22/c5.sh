#!/usr/bin/env bash
# Call 9 (twenty-second session), model-free: the decode step's projections reading bf16 copies of the gate's
# linears (exact copies; the bench's gates now have bf16 weights, as checkpoints do), 32 rows' loads in flight
# per warp instead of 16. The CudaGate tests, memcheck of the int8 test (bf16 weights), the decode gate rows
# three times, and the project kernel's time under Nsight Compute (the `mid, int8` row at batch 16).
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt seer_cuda_tests bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build failed"; grep -E "error" -A3 /tmp/build.log | head -20; exit 1; }
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g5
timeout 200 /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/g5/tests.txt 2>&1
echo "CudaGate tests rc=$? $(grep -cE '^\[       OK' /tmp/g5/tests.txt) ok $(grep -E '^\[  FAILED' /tmp/g5/tests.txt | head -5 | tr '\n' ' ') (t=$(( $(date +%s) - t0 )))"
grep -B2 -A6 "Failure" /tmp/g5/tests.txt | head -30
timeout 150 compute-sanitizer --tool memcheck /tmp/bt/seer_cuda_tests --gtest_filter='CudaGate.DecodeInt8CacheMatchesCpu' > /tmp/g5/memcheck.txt 2>&1
echo "memcheck rc=$? $(grep -E 'ERROR SUMMARY' /tmp/g5/memcheck.txt) (t=$(( $(date +%s) - t0 )))"
for r in 1 2 3; do /tmp/bt/bench_cuda_attention --gates 0 > /tmp/g5/dgate_$r.txt 2>&1; done
for r in 1 2 3; do echo "run $r"; grep -E "^gate|^decode" /tmp/g5/dgate_$r.txt | cut -c1-112; done
timeout 100 ncu --clock-control none --kernel-name regex:"gate_decode|gate_select_decode" --launch-skip 138 --launch-count 69 \
  --metrics gpu__time_duration.sum,launch__registers_per_thread --csv /tmp/bt/bench_cuda_attention --gates 0 16 > /tmp/g5/ncu.csv 2> /tmp/g5/ncu.err
python3 - <<'PY'
import csv, statistics, collections
rows = [r for r in csv.DictReader(l for l in open('/tmp/g5/ncu.csv') if l.startswith('"'))]
by = collections.defaultdict(dict)
for r in rows:
    by[r['ID']]['name'] = r['Kernel Name'][:60]; by[r['ID']][r['Metric Name']] = (r['Metric Value'], r['Metric Unit'])
seg = collections.defaultdict(list)
for k in by.values(): seg[k['name']].append(k)
for name, ks in seg.items():
    t = statistics.median(float(k['gpu__time_duration.sum'][0].replace(',', '')) for k in ks)
    print(f"{name:60s} n={len(ks)} median {t} {ks[0]['gpu__time_duration.sum'][1]} regs {ks[0]['launch__registers_per_thread'][0]}")
PY
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g5 && tar czf $OUT/c5.tgz *.txt *.csv
