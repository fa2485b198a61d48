#!/usr/bin/env bash
# Call 3: Top-K by counting only for rows longer than kCountingMinBlocks (this tree: 256), the decode selection as at HEAD.
# Variants for the bench only: never (v1), 128 (v2), 384 (v3), every row (v4); HEAD's gate.cu (v0). The whole CUDA suite on
# this tree; benches alternated; ncu of the select kernels at 32k.
set -u
t0=$(date +%s)
el() { echo "t=$(( $(date +%s) - t0 ))"; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
G=src/kernels/cuda/gate.cu
for v in 0 1 2 3 4; do rm -rf /tmp/s$v && mkdir -p /tmp/s$v && cp -r src include tests bench /tmp/s$v/; done
cp out/gate_base.cu /tmp/s0/$G
sed -i 's/constexpr int kCountingMinBlocks = 256;/constexpr int kCountingMinBlocks = 1 << 30;/' /tmp/s1/$G
sed -i 's/constexpr int kCountingMinBlocks = 256;/constexpr int kCountingMinBlocks = 128;/' /tmp/s2/$G
sed -i 's/constexpr int kCountingMinBlocks = 256;/constexpr int kCountingMinBlocks = 384;/' /tmp/s3/$G
sed -i 's/constexpr int kCountingMinBlocks = 256;/constexpr int kCountingMinBlocks = 0;/' /tmp/s4/$G
echo "variants: $(grep -h 'constexpr int kCountingMinBlocks' /tmp/s[1-4]/$G | awk '{print $5}' | tr '\n' ' ')"
cmake -S tests/cuda -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/configure.log 2>&1 || { tail -20 $OUT/configure.log; exit 1; }
for v in 0 1 2 3 4; do cmake -S /tmp/s$v/tests/cuda -B /tmp/b$v -G Ninja -DCMAKE_BUILD_TYPE=Release >> $OUT/configure.log 2>&1 || exit 1; done
ninja -C /tmp/b > $OUT/build.log 2>&1 & p=$!
for v in 0 1 2 3 4; do ninja -C /tmp/b$v bench_cuda_attention > $OUT/build$v.log 2>&1 & done
wait $p || { grep -E "error" -A3 $OUT/build.log | head -40; exit 1; }
wait
for v in 0 1 2 3 4; do [ -x /tmp/b$v/bench_cuda_attention ] || { echo "variant $v failed"; grep -E "error" -A3 $OUT/build$v.log | head; }; done
grep -h "spill" $OUT/build.log | sed 's/_ZN4seer4cuda[0-9A-Za-z_]*gate_cu_[0-9]*//' | sort | uniq -c | head
echo "build ok $(el)"
for r in 1 2; do
  for v in "" 0 1 2 3 4; do timeout 60 /tmp/b$v/bench_cuda_attention --gates > $OUT/gates$v.r$r.txt 2>&1 || echo "bench $v rc=$?"; done
done
echo "benches $(el)"
timeout 60 ncu --csv -k regex:gate_select --metrics gpu__time_duration.sum,smsp__inst_executed.sum,launch__registers_per_thread --launch-count 8 /tmp/b/bench_cuda_attention --gates 32768 > $OUT/ncu_select.csv 2>&1; echo "ncu rc=$? $(el)"
timeout 60 ncu --csv -k regex:gate_select --metrics gpu__time_duration.sum,smsp__inst_executed.sum,launch__registers_per_thread --launch-count 8 /tmp/b0/bench_cuda_attention --gates 32768 > $OUT/ncu_select0.csv 2>&1; echo "ncu0 rc=$? $(el)"
timeout 250 /tmp/b/seer_cuda_tests > $OUT/tests.log 2>&1; echo "all tests rc=$? $(grep -E 'PASSED|FAILED' $OUT/tests.log | tail -3 | tr '\n' ' ') $(el)"
grep -E "^\[  FAILED" $OUT/tests.log | head; grep -E "Failure" -A6 $OUT/tests.log | head -20
python3 - $OUT <<'PY' | tee $OUT/summary.txt
import sys, re, os, csv, statistics, collections
d = sys.argv[1]
names = {"": "this (256)", "0": "HEAD", "1": "never", "2": "128", "3": "384", "4": "all"}
rows = ["T=8192 top-k", "T=8192 gate+rope", "T=8192 mass", "T=32768 top-k", "T=32768 gate+rope", "T=32768 mass",
        "T=131072 top-k", "T=131072 gate+rope", "T=131072 mass", "B=1 L=131072 Qproj mid", "B=16 L=131072 Qproj mid"]
def val(f, key):
    for line in open(f):
        t, what = key.split(" ", 1)
        if t in line and what in line and not line.startswith("prefill") and not line.startswith("decode"):
            return line.split()[-5] if "Qproj" not in line else line.split()[-5]
    return "-"
print("%-26s" % "row", " ".join("%16s" % names[v] for v in names))
for r in rows:
    print("%-26s" % r, " ".join("%16s" % "/".join(val(f"{d}/gates{v}.r{i}.txt", r) for i in (1, 2)) for v in names))
for f in ("ncu_select.csv", "ncu_select0.csv"):
    rs = [x for x in csv.reader(open(os.path.join(d, f))) if len(x) > 10]
    if not rs: print(f, "no rows"); continue
    h = rs[0]; ik, im, iv, ig = h.index("Kernel Name"), h.index("Metric Name"), h.index("Metric Value"), h.index("Grid Size") if "Grid Size" in h else None
    t = collections.defaultdict(lambda: collections.defaultdict(list))
    for x in rs[1:]: t[x[ik][:40]][x[im]].append(float(x[iv].replace(",", "")))
    for k, m in t.items(): print(f, k, " ".join(f"{n.split('__')[1][:10]}={sorted(v)}" for n, v in m.items()))
PY
tar czf $OUT/logs.tgz -C $OUT $(cd $OUT && ls | grep -v summary.txt | grep -v device.txt) && (cd $OUT && ls | grep -v "summary.txt\|device.txt\|logs.tgz" | xargs rm -f)
echo "total $(el)"
