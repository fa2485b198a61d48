#!/usr/bin/env bash
# The test command: installs what is missing, fetches the default model, builds, runs every test.
# When nvcc is present, the CUDA backend is also compiled (build-cuda, -DSEER_CUDA=ON) and its tests
# run first; without a GPU they skip, and scripts/gpu-check.sh runs them on a GPU machine. The CPU
# suite runs last, so its summary closes the output.
set -euo pipefail
# The tests run in build/, so a relative SEER_HOME would point elsewhere there: made absolute first.
[ -n "${SEER_HOME:-}" ] && export SEER_HOME="$(realpath -m "$SEER_HOME")"
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fetch-model.sh >/dev/null
scripts/build.sh
jobs="${SEER_JOBS:-$(nproc)}"
if command -v nvcc >/dev/null 2>&1; then
  echo "test: nvcc found, compiling the CUDA backend" >&2
  gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  [ -f build-cuda/build.ninja ] || [ -f build-cuda/Makefile ] || cmake -S . -B build-cuda "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DSEER_CUDA=ON >&2
  cmake --build build-cuda -j "$jobs" --target seer_cuda_tests bench_cuda_attention bench_cuda_model >&2
  (cd build-cuda && ctest --output-on-failure -L cuda)
fi
cd build
ctest --output-on-failure -j "$jobs" "$@"
