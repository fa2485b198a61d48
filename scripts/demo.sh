#!/usr/bin/env bash
# The main job: installs what is missing, fetches the default model, builds, and generates text.
# Arguments are passed to `seer generate` (default: a chat prompt, 128 tokens).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fetch-model.sh >/dev/null
scripts/build.sh
if [ $# -eq 0 ]; then
  set -- --chat --prompt "Explain in three sentences why the sky is blue." -n 128 --temp 0.7 --seed 42
fi
exec build/seer generate "$@"
