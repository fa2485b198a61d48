#!/usr/bin/env bash
# Call 12 (written in the twenty-fourth session, not run: the session's device time was spent). The shipped
# decode gates are trained without block 0, so their selection rows hold block 0 as a +inf key and the CTA's
# k-th largest skips its linear bins for two conflicting 8-bit radix passes (c8/). The sixteenth session's
# +inf bins for the CTA (docs/runs/h200-decode-inf-bins/decode_inf_bins_not_kept.diff: bins up to the largest
# finite key, with the barrier racecheck asked for) measured within the eager rows' noise then; the bench now
# has a graph row for that step (`mid, 0 out, graph`). Builds t = the tree and i = the tree with that diff;
# i's decode selection tests and racecheck; the step rows three times each, alternating. Then call 8's phase
# stamps on a copy of the tree (/tmp/d), printed this time for the `mid, int8` step's selections (a gate with
# block 0 ranked as a score: budget rows, sink not excluded) at batch 16.
set -u
t0=$(date +%s)
rm -rf /tmp/i && mkdir -p /tmp/i && cp -r CMakeLists.txt include src tests bench /tmp/i/
(cd /tmp/i && git apply "$OLDPWD/docs/runs/h200-decode-inf-bins/decode_inf_bins_not_kept.diff" 2>/dev/null ||
  patch -p1 < "$OLDPWD/docs/runs/h200-decode-inf-bins/decode_inf_bins_not_kept.diff") > /tmp/patch.log 2>&1 || { echo "patch failed"; cat /tmp/patch.log; exit 1; }
( cmake -S tests/cuda -B /tmp/bt -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg.log 2>&1 &&
  ninja -C /tmp/bt -j5 bench_cuda_attention > /tmp/build.log 2>&1 || { echo "build t failed"; grep -E "error" -A3 /tmp/build.log | head -20; } ) &
( cmake -S /tmp/i/tests/cuda -B /tmp/bi -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg_i.log 2>&1 &&
  ninja -C /tmp/bi -j7 bench_cuda_attention seer_cuda_tests > /tmp/build_i.log 2>&1 || { echo "build i failed"; grep -E "error" -A3 /tmp/build_i.log | head -20; } ) &
rm -rf /tmp/d && mkdir -p /tmp/d && cp -r CMakeLists.txt include src tests bench /tmp/d/
sed -n '/^python3 - <<.PY.$/,/^PY$/p' docs/runs/h200-session24/c8.sh | sed '1d;$d' |
  sed 's/atomicAdd(\&g_prints, 1) < 30)/!p.sink_excluded \&\& p.top_k \&\& atomicAdd(\&g_prints, 1) < 30)/' > /tmp/d_patch.py
grep -q 'p.sink_excluded && p.top_k' /tmp/d_patch.py || { echo "stamp patch edit failed"; exit 1; }
python3 /tmp/d_patch.py
( cmake -S /tmp/d/tests/cuda -B /tmp/bd -G Ninja -DCMAKE_BUILD_TYPE=Release > /tmp/cfg_d.log 2>&1 &&
  ninja -C /tmp/bd -j4 bench_cuda_attention > /tmp/build_d.log 2>&1 || { echo "build d failed"; grep -E "error" -A3 /tmp/build_d.log | head -20; } ) &
wait
echo "built (t=$(( $(date +%s) - t0 )))"
mkdir -p /tmp/g12
timeout 120 /tmp/bi/seer_cuda_tests --gtest_filter='CudaGate.Decode*' > /tmp/g12/tests_i.txt 2>&1
echo "i: decode tests rc=$? $(grep -cE '^\[       OK' /tmp/g12/tests_i.txt) ok $(grep -E '^\[  FAILED' /tmp/g12/tests_i.txt | head -5 | tr '\n' ' ')"
timeout 90 compute-sanitizer --tool racecheck /tmp/bi/seer_cuda_tests --gtest_filter='CudaGate.DecodeSelectionMatchesCpu' > /tmp/g12/racecheck_i.txt 2>&1
echo "i: racecheck rc=$? $(grep -E 'RACECHECK SUMMARY' /tmp/g12/racecheck_i.txt | tail -1) (t=$(( $(date +%s) - t0 )))"
for r in 1 2 3; do for v in t i; do /tmp/b$v/bench_cuda_attention --gates 0 > /tmp/g12/dgate_${v}_$r.txt 2>&1; done; done
for v in t i; do echo "== $v"; grep -hE 'graph' /tmp/g12/dgate_${v}_*.txt | grep -E 'mid, (int8, |0 out, )?graph' | cut -c1-80 | sort; done
/tmp/bd/bench_cuda_attention --gates 0 16 > /tmp/g12/stamps_16.txt 2>&1
grep STAMPS /tmp/g12/stamps_16.txt | tail -8
echo "total (t=$(( $(date +%s) - t0 )))"
cd /tmp/g12 && tar czf $OUT/c12.tgz *.txt
