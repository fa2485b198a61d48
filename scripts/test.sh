#!/usr/bin/env bash
# The test command: installs what is missing, fetches the default model, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fetch-model.sh >/dev/null
scripts/build.sh
cd build
ctest --output-on-failure -j "${SEER_JOBS:-$(nproc)}" "$@"
