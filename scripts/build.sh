#!/usr/bin/env bash
# Configures and builds seer (CPU backend, Release) into ./build. Extra arguments go to CMake,
# e.g. scripts/build.sh -DSEER_CUDA=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${SEER_JOBS:-$(nproc)}"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
# Configured means the generator's file exists: a configure that failed or was interrupted leaves a
# CMakeCache.txt without it, and the next run configures again.
if [ ! -f build/build.ninja ] && [ ! -f build/Makefile ]; then
  cmake -S . -B build "${gen[@]}" -DCMAKE_BUILD_TYPE=Release "$@" >&2
elif [ $# -gt 0 ]; then
  cmake -S . -B build "$@" >&2
fi
cmake --build build -j "$jobs" >&2
