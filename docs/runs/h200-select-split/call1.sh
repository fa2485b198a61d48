#!/usr/bin/env bash
# Call 1: Top-K's cut by counting (interpolation search), the mass cut's early stop, Top-K and the softmax rules as separate
# instantiations. Builds this tree (b) and variants for the bench only: HEAD's gate.cu (b0), the plain midpoint (b1), the
# softmax rules' 16-register-tier kernel at 4 CTAs (b2), mass rows of 513..2048 blocks in the 64-register tier (b3).
# CudaGate tests; gate benches; ncu of the select kernels at 32k; the whole CUDA suite.
set -u
t0=$(date +%s)
el() { echo "t=$(( $(date +%s) - t0 ))"; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/device.txt
G=src/kernels/cuda/gate.cu
for v in 0 1 2 3; do rm -rf /tmp/s$v && mkdir -p /tmp/s$v && cp -r src include tests bench /tmp/s$v/; done
cp out/gate_base.cu /tmp/s0/$G
sed -i 's/fminf(fmaxf((float(ca - k) + 0.5f) \/ float(ca - cb), 0.25f), 0.75f)/0.5f/' /tmp/s1/$G
sed -i 's/R > 16 ? 1 : kTopK ? 4 : 3/R > 16 ? 1 : 4/' /tmp/s2/$G
sed -i 's/if constexpr (R <= 16) {/if constexpr (R != 0 || R == 0) {/; s/else if (nb <= 2048 \&\& !p.mass)/else if (nb <= 2048)/' /tmp/s3/$G
echo "variants: $(grep -c 'const float f = 0.5f;' /tmp/s1/$G) $(grep -c 'R > 16 ? 1 : 4)' /tmp/s2/$G) $(grep -c 'R != 0 || R == 0\|else if (nb <= 2048)$' /tmp/s3/$G)"
cmake -S tests/cuda -B /tmp/b -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/configure.log 2>&1 || { tail -20 $OUT/configure.log; exit 1; }
for v in 0 1 2 3; do cmake -S /tmp/s$v/tests/cuda -B /tmp/b$v -G Ninja -DCMAKE_BUILD_TYPE=Release >> $OUT/configure.log 2>&1 || exit 1; done
ninja -C /tmp/b > $OUT/build.log 2>&1 & p=$!
for v in 0 1 2 3; do ninja -C /tmp/b$v bench_cuda_attention > $OUT/build$v.log 2>&1 & done
wait $p || { grep -E "error" -A3 $OUT/build.log | head -40; exit 1; }
wait
for v in 0 1 2 3; do [ -x /tmp/b$v/bench_cuda_attention ] || { echo "variant $v failed"; grep -E "error" -A3 $OUT/build$v.log | head; }; done
grep -h "spill" $OUT/build.log | sed 's/_ZN4seer4cuda[0-9A-Za-z_]*gate_cu_[0-9]*//' | sort | uniq -c | head
echo "build ok $(el)"
timeout 150 /tmp/b/seer_cuda_tests --gtest_filter='CudaGate.*' > $OUT/tests_gate.log 2>&1; echo "gate tests rc=$? $(grep -E 'PASSED|FAILED' $OUT/tests_gate.log | tail -3 | tr '\n' ' ') $(el)"
grep -E "^\[  FAILED|^\[       OK" $OUT/tests_gate.log | head -20; grep -E "Failure" -A6 $OUT/tests_gate.log | head -30
B() { timeout 60 /tmp/b$1/bench_cuda_attention --gates $2 > $OUT/$3.txt 2>&1; echo "bench $3 rc=$? $(el)"; }
B 0 "" gates_base
B "" "" gates
B 1 32768 mid32k
B 2 32768 soft4cta32k
B 0 32768 base32k_2
B "" 32768 new32k_2
B 3 131072 mass64_128k
B "" 131072 new128k_2
for v in "" 0; do
  timeout 60 ncu --csv -k regex:gate_select --metrics gpu__time_duration.sum,smsp__inst_executed.sum,launch__registers_per_thread --launch-count 8 /tmp/b$v/bench_cuda_attention --gates 32768 > $OUT/ncu_select$v.csv 2>&1; echo "ncu$v rc=$? $(el)"
done
python3 - $OUT/ncu_select.csv $OUT/ncu_select0.csv <<'PY' | tee $OUT/select32k.txt
import csv, sys, statistics, collections
for f in sys.argv[1:]:
    rows = [r for r in csv.reader(open(f)) if len(r) > 10]
    if not rows: print(f, "no rows"); continue
    hdr = rows[0]; iname = hdr.index("Kernel Name"); imet = hdr.index("Metric Name"); ival = hdr.index("Metric Value")
    t = collections.defaultdict(lambda: collections.defaultdict(list))
    for r in rows[1:]: t[r[iname][:52]][r[imet]].append(float(r[ival].replace(",", "")))
    for k, m in t.items():
        print(f.split('/')[-1], k, " ".join(f"{n.split('__')[1][:14]}={statistics.median(v):.4g}" for n, v in m.items()), "n=%d" % len(next(iter(m.values()))))
PY
timeout 200 /tmp/b/seer_cuda_tests > $OUT/tests.log 2>&1; echo "all tests rc=$? $(grep -E 'PASSED|FAILED' $OUT/tests.log | tail -3 | tr '\n' ' ') $(el)"
grep -E "^\[  FAILED" $OUT/tests.log | head
echo "== 32k rows"
for f in gates_base gates mid32k soft4cta32k base32k_2 new32k_2; do grep -E "T=32768" $OUT/$f.txt | grep -E "gate\+rope|select" | sed "s/^/$f: /"; done
echo "== 8k / 128k"
for f in gates_base gates mass64_128k new128k_2; do grep -E "T=8192|T=131072" $OUT/$f.txt | grep -E "gate\+rope|select" | sed "s/^/$f: /"; done
echo "== decode"
for f in gates_base gates; do grep -E "Qproj" $OUT/$f.txt | sed "s/^/$f: /"; done
tar czf $OUT/logs.tgz -C $OUT configure.log build.log build0.log build1.log build2.log build3.log tests_gate.log tests.log 2>/dev/null; rm -f $OUT/configure.log $OUT/build*.log
echo "total $(el)"
