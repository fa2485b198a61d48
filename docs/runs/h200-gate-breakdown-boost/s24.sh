#!/usr/bin/env bash
# Session 15, call 3: where the 32k gate+rope step goes at boost clocks (ncu --clock-control none, every
# kernel of `bench_cuda_attention --gates 32768`, SEER_EXP_SIDE=0: HEAD's path), and racecheck of the
# selection tests (session 14's select shortcuts; its racecheck timed out at 120 s).
set -u
t0=$(date +%s)
if [ ! -x /tmp/bn/seer_cuda_tests ]; then
  cmake -S tests/cuda -B /tmp/bn -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/configure_n.log 2>&1 && ninja -C /tmp/bn > /tmp/build_n.log 2>&1 || { echo "N build failed"; grep error -A3 /tmp/build_n.log | head -40; exit 1; }
fi
echo "build $(( $(date +%s) - t0 )) s"
SEER_EXP_SIDE=0 timeout 150 ncu --clock-control none --csv --metrics gpu__time_duration.sum,launch__grid_size,dram__throughput.avg.pct_of_peak_sustained_elapsed --launch-count 400 /tmp/bn/bench_cuda_attention --gates 32768 > /tmp/ncu32k.csv 2> /tmp/ncu.err; echo "ncu rc=$? $(( $(date +%s) - t0 )) s"
python3 - /tmp/ncu32k.csv <<'PY'
import csv, sys, collections, re
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
hdr = rows[0]; rows = rows[1:]
ik, im, iv, iid = hdr.index("Kernel Name"), hdr.index("Metric Name"), hdr.index("Metric Value"), hdr.index("ID")
per = collections.OrderedDict()
for r in rows: per.setdefault(r[iid], {"name": r[ik]})[r[im]] = r[iv]
agg = collections.OrderedDict()
for k in per.values():
    n = re.sub(r"\(.*", "", k["name"])[:60] + " grid " + k.get("launch__grid_size","?")
    agg.setdefault(n, []).append(k)
for n, ks in agg.items():
    t = sorted(float(k.get("gpu__time_duration.sum","0").replace(",","")) for k in ks)
    print(f'{n:75s} x{len(ks):3d} median {t[len(t)//2]/1000:8.1f} us dram {ks[0].get("dram__throughput.avg.pct_of_peak_sustained_elapsed","?"):>6s}%')
PY
timeout 330 compute-sanitizer --tool racecheck /tmp/bn/seer_cuda_tests --gtest_filter='CudaGate.*Selection*' > /tmp/racecheck.txt 2>&1; echo "racecheck rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' /tmp/racecheck.txt | head -1)"; grep -E '^\[  (PASSED|FAILED)|OK \]' /tmp/racecheck.txt | head
echo "total $(( $(date +%s) - t0 )) s"
cd /tmp && tar czf $OUT/logs.tgz ncu32k.csv racecheck.txt
