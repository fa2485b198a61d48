#!/usr/bin/env bash
# One-call GPU check for the CUDA kernels (run from the repo root on the H100 machine):
#   configure (Release, Ninja, sm_90a) → build the CUDA targets → ctest -L cuda → compute-sanitizer
#   memcheck on small filters (prefill, plan, ground truth) → bench_cuda_attention → bench/cuda/torch_baseline.py.
# Everything is logged under $OUT (or ./out-gpu-check); a short summary table ends stdout. At the end,
# every log but summary.txt, bench_cuda.txt and sweep.txt goes into $OUT/logs.tgz (the device tool
# returns at most 8 files).
# The full project configure needs GTest/OpenBLAS/PCRE2/nlohmann-json/CLI11/fmt, which the GPU image
# may lack: when it fails, the standalone project tests/cuda/CMakeLists.txt is built instead (CUDA
# kernels + CPU reference only; GTest and fmt when present, else tests/cuda/mini_gtest.h and
# tests/cuda/fmt_shim). Budget: ~8 minutes (build ~2, tests ~2, sanitizer ~1, benches ~3).
# Options via env: QUICK=1 (skip 128k; model bench at 8k only), SKIP_SANITIZER=1, SKIP_TORCH=1,
# SKIP_MODEL_BENCH=1, SWEEP=1 (density and batch sweeps into $OUT/sweep.txt for the plots), JOBS (default 16).
set -u
OUT="${OUT:-$PWD/out-gpu-check}"
mkdir -p "$OUT"
JOBS="${JOBS:-16}"
BUILD=build-cuda
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }
failed=0  # any test, sanitizer or benchmark step that returned non-zero: the script's exit code
export SEER_CUDA_SYNC_DEBUG=0
start=$(date +%s)

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv || true
  nvcc --version | tail -2
  cmake --version | head -1
  git log --oneline -1 2>/dev/null || true
} > "$OUT/env.txt" 2>&1
note "== gpu-check $(git rev-parse --short HEAD 2>/dev/null) on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"

mode=full
if ! cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEER_CUDA=ON -DSEER_TESTS=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90a > "$OUT/configure.log" 2>&1; then
  mode=standalone
  BUILD=build-cuda-min
  rm -rf "$BUILD"
  if ! cmake -S tests/cuda -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
      >> "$OUT/configure.log" 2>&1; then
    note "configure: FAILED (see configure.log)"
    tail -30 "$OUT/configure.log"
    exit 1
  fi
fi
note "configure: ok ($mode build in $BUILD)"
if ! cmake --build "$BUILD" -j"$JOBS" --target seer_cuda_tests bench_cuda_attention bench_cuda_model > "$OUT/build.log" 2>&1; then
  note "build: FAILED (see build.log)"
  grep -E "error|Error" "$OUT/build.log" | head -30
  exit 1
fi
note "build: ok ($(( $(date +%s) - start )) s)"
grep -E "spill|stack frame" "$OUT/build.log" | sort | uniq -c | head -5 >> "$OUT/build.log" || true

tests_bin=$(find "$BUILD" -name seer_cuda_tests -type f -perm -u+x | head -1)
bench_bin=$(find "$BUILD" -name bench_cuda_attention -type f -perm -u+x | head -1)
model_bin=$(find "$BUILD" -name bench_cuda_model -type f -perm -u+x | head -1)

# Tests: ctest when it lists them, else the binary itself.
( cd "$BUILD" && timeout 300 ctest -L cuda --output-on-failure ) > "$OUT/ctest.log" 2>&1
rc=$?
[ "$rc" -eq 0 ] || failed=1
note "ctest -L cuda: rc=$rc; $(grep -E 'tests passed|passed, .* failed' "$OUT/ctest.log" | tail -1)"
grep -E "Failure|FAILED|error " "$OUT/ctest.log" | head -20 | tee -a "$SUMMARY"
if [ "$mode" = standalone ]; then
  # the mini harness prints per-test lines; keep them visible
  grep -E "passed, .* failed" "$OUT/ctest.log" | tail -1 | sed 's/^/  harness: /' | tee -a "$SUMMARY"
fi

if [ "${SKIP_SANITIZER:-0}" != 1 ] && command -v compute-sanitizer > /dev/null; then
  timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 "$tests_bin" \
    --gtest_filter='CudaSparsePrefill.SmallSweep' > "$OUT/memcheck-prefill.log" 2>&1
  r=$?; [ "$r" -eq 0 ] || failed=1
  note "memcheck prefill: rc=$r $(grep -E 'ERROR SUMMARY' "$OUT/memcheck-prefill.log" | tail -1)"
  timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 "$tests_bin" \
    --gtest_filter='CudaPlan.MaskToCsrFeedsPrefill' > "$OUT/memcheck-plan.log" 2>&1
  r=$?; [ "$r" -eq 0 ] || failed=1
  note "memcheck plan: rc=$r $(grep -E 'ERROR SUMMARY' "$OUT/memcheck-plan.log" | tail -1)"
  timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 "$tests_bin" \
    --gtest_filter='CudaGroundTruth.*' > "$OUT/memcheck-ground-truth.log" 2>&1
  r=$?; [ "$r" -eq 0 ] || failed=1
  note "memcheck ground truth: rc=$r $(grep -E 'ERROR SUMMARY' "$OUT/memcheck-ground-truth.log" | tail -1)"
  timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 "$tests_bin" \
    --gtest_filter='CudaModel.PolicySelectionReachesTheKernels' > "$OUT/memcheck-model.log" 2>&1
  r=$?; [ "$r" -eq 0 ] || failed=1
  note "memcheck model: rc=$r $(grep -E 'ERROR SUMMARY' "$OUT/memcheck-model.log" | tail -1)"
  timeout 120 compute-sanitizer --tool racecheck --error-exitcode 9 "$tests_bin" \
    --gtest_filter='CudaSparseDecode.LongSingleSequence' > "$OUT/racecheck-decode.log" 2>&1
  r=$?; [ "$r" -eq 0 ] || failed=1
  note "racecheck decode: rc=$r $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/racecheck-decode.log" | tail -1)"
fi

quick=""
[ "${QUICK:-0}" = 1 ] && quick="--quick"
timeout 200 "$bench_bin" $quick > "$OUT/bench_cuda.txt" 2>&1
r=$?; [ "$r" -eq 0 ] || failed=1
note "bench_cuda_attention: rc=$r"
if [ "${SKIP_MODEL_BENCH:-0}" != 1 ]; then
  timeout 300 "$model_bin" $quick > "$OUT/bench_cuda_model.txt" 2> "$OUT/bench_cuda_model.err"
  r=$?; [ "$r" -eq 0 ] || failed=1
  note "bench_cuda_model: rc=$r"
fi
# The PyTorch peers need torch: without it they are skipped (said so), not counted as a failure.
if [ "${SKIP_TORCH:-0}" != 1 ] && ! python3 -c "import torch" > /dev/null 2>&1; then
  note "torch_baseline: skipped (python3 has no torch; SKIP_TORCH=1 says so in advance)"
  SKIP_TORCH=1
fi
if [ "${SKIP_TORCH:-0}" != 1 ]; then
  timeout 200 python3 bench/cuda/torch_baseline.py $quick > "$OUT/torch_baseline.txt" 2>&1
  r=$?; [ "$r" -eq 0 ] || failed=1
  note "torch_baseline: rc=$r"
fi
if [ "${SWEEP:-0}" = 1 ]; then  # data of the plots (scripts/plot-cuda-bench.sh, here or on another machine)
  timeout 200 "$bench_bin" --sweep > "$OUT/sweep.txt" 2>&1
  r=$?; [ "$r" -eq 0 ] || failed=1
  note "sweep: rc=$r"
  if [ "${SKIP_TORCH:-0}" != 1 ]; then
    timeout 200 python3 bench/cuda/torch_baseline.py --sweep >> "$OUT/sweep.txt" 2>&1
    r=$?; [ "$r" -eq 0 ] || failed=1
    note "torch sweep: rc=$r"
  fi
fi
note "total: $(( $(date +%s) - start )) s"
echo
echo "== seer CUDA kernels"
cat "$OUT/bench_cuda.txt"
if [ -f "$OUT/bench_cuda_model.txt" ]; then
  echo "== seer whole model on the GPU"
  cat "$OUT/bench_cuda_model.err" "$OUT/bench_cuda_model.txt"
fi
if [ -f "$OUT/torch_baseline.txt" ]; then
  echo "== PyTorch baselines"
  grep -v Warning "$OUT/torch_baseline.txt" | tail -20
fi
echo "== summary"
cat "$SUMMARY"
# The device tool returns at most 8 files from $OUT: keep the summary and the figures of the plots
# apart and pack every other log into one archive (tar xzf logs.tgz to read them).
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  ( cd "$OUT" && logs=$(ls | grep -v -x -e summary.txt -e sweep.txt -e bench_cuda.txt -e logs.tgz) &&
    [ -n "$logs" ] && tar czf logs.tgz $logs && rm -f $logs ) || true
fi
[ "$failed" = 0 ] || echo "gpu-check: a step failed (its rc is in the summary above)" >&2
exit "$failed"
