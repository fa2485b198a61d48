#!/usr/bin/env bash
# Session 14, call 2: score kernel v2 (128-row tiles, 8 warps, 2 CTAs per SM, keys' RoPE left to its own pass)
# and the select's early-out (warp rows only). Builds: H = HEAD (out/head/), C = early-out only
# (-DSEER_EXP_CUBLAS_SCORES), N = both. CudaGate tests on N, the gate bench alternating, ncu of N at 32k.
set -u
t0=$(date +%s)
cmake -S tests/cuda -B /tmp/bn -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure_n.log 2>&1 && ninja -C /tmp/bn > /tmp/build_n.log 2>&1 || { echo "N build failed"; grep error -A3 /tmp/build_n.log | head -40; exit 1; }
echo "build N $(( $(date +%s) - t0 )) s"
timeout 120 /tmp/bn/seer_cuda_tests --gtest_filter='CudaGate.*' > /tmp/tests.txt 2>&1; echo "tests rc=$?"; grep -E "^\[  (PASSED|FAILED) |FAILED|Failure" -A4 /tmp/tests.txt | head -20
cmake -S tests/cuda -B /tmp/bc -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS="-DSEER_EXP_CUBLAS_SCORES=1" > /tmp/configure_c.log 2>&1 && ninja -C /tmp/bc bench_cuda_attention > /tmp/build_c.log 2>&1 || { echo "C build failed"; grep error -A3 /tmp/build_c.log | head -20; }
rm -rf /tmp/th && mkdir /tmp/th && cp -r include src tests bench CMakeLists.txt cmake /tmp/th/ 2>/dev/null
cp out/head/gate.cu out/head/gate.cuh /tmp/th/src/kernels/cuda/ && cp out/head/cuda_gate.cpp /tmp/th/src/model/
cmake -S /tmp/th/tests/cuda -B /tmp/bh -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure_h.log 2>&1 && ninja -C /tmp/bh bench_cuda_attention > /tmp/build_h.log 2>&1 || { echo "H build failed"; grep error -A3 /tmp/build_h.log | head -20; }
echo "builds $(( $(date +%s) - t0 )) s"
run() { local tag=$1 bin=$2; timeout 90 $bin --gates > /tmp/g_$tag.txt 2>&1; echo "$tag rc=$? $(grep -E 'gate\+rope|top-k|Qproj mid' /tmp/g_$tag.txt | awk '{print $2, $(NF-4), $NF}' | tr '\n' ' ')"; }
for i in 1 2 3; do run h$i /tmp/bh/bench_cuda_attention; run c$i /tmp/bc/bench_cuda_attention; run n$i /tmp/bn/bench_cuda_attention; done
echo "bench $(( $(date +%s) - t0 )) s"
timeout 150 ncu --csv --metrics gpu__time_duration.sum,launch__grid_size,launch__registers_per_thread,smsp__inst_executed.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed --launch-count 60 /tmp/bn/bench_cuda_attention --gates 32768 > /tmp/ncu32k.csv 2> /tmp/ncu.err; echo "ncu rc=$? $(( $(date +%s) - t0 )) s"
python3 - /tmp/ncu32k.csv <<'PY'
import csv, sys, collections, re
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
hdr = rows[0]; rows = rows[1:]
ik, im, iv, iid = hdr.index("Kernel Name"), hdr.index("Metric Name"), hdr.index("Metric Value"), hdr.index("ID")
per = collections.OrderedDict()
for r in rows: per.setdefault(r[iid], {"name": r[ik]})[r[im]] = r[iv]
agg = collections.OrderedDict()
for k in per.values():
    n = re.sub(r"\(.*", "", k["name"])[:50]
    agg.setdefault(n, []).append(k)
for n, ks in agg.items():
    t = sorted(float(k.get("gpu__time_duration.sum","0").replace(",","")) for k in ks)
    k = ks[0]
    print(f'{n:50s} x{len(ks):3d} median {t[len(t)//2]/1000:8.1f} us grid {k.get("launch__grid_size","?"):>7s} regs {k.get("launch__registers_per_thread","?"):>4s} dram {k.get("dram__throughput.avg.pct_of_peak_sustained_elapsed","?"):>6s}%')
PY
echo "total $(( $(date +%s) - t0 )) s"
cd /tmp && tar czf $OUT/logs.tgz tests.txt g_*.txt ncu32k.csv
