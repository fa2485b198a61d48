#!/usr/bin/env bash
# Build llama.cpp (CPU only) as the independent reference for seer's golden files and benchmarks.
# llama.cpp's source comes from PyPI: the source distribution of `llama-cpp-python` vendors it
# under vendor/llama.cpp. Nothing of it enters the repo; it lives under $SEER_HOME/ref/.
# Builds only the tools we use (tokenize, perplexity, bench, cli) with -j2 (2 shared cores).
# Idempotent: a second run downloads nothing and ninja rebuilds nothing. Prints the bin directory.
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.16}"
JOBS="${SEER_BUILD_JOBS:-2}"
SEER_HOME="${SEER_HOME:-$HOME/.cache/seer}"
ref="$SEER_HOME/ref"
src="$ref/llama-cpp-python-$VERSION"
llama="$src/vendor/llama.cpp"
build="$ref/build-llamacpp-$VERSION"
bin="$build/bin"
targets=(llama-tokenize llama-perplexity llama-bench llama-cli)

log() { echo "build-llamacpp: $*" >&2; }

mkdir -p "$ref"
if [ ! -f "$llama/CMakeLists.txt" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  log "downloading llama-cpp-python==$VERSION sdist from PyPI (50 MB)..."
  python3 -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$tmp" >&2
  tarball=""
  for f in "$tmp"/llama_cpp_python-*.tar.gz "$tmp"/llama-cpp-python-*.tar.gz; do
    if [ -f "$f" ]; then tarball="$f"; fi
  done
  [ -n "$tarball" ] || { log "no sdist found in $tmp"; exit 1; }
  rm -rf "$src.part" && mkdir -p "$src.part"
  tar -xzf "$tarball" -C "$src.part" --strip-components=1
  [ -f "$src.part/vendor/llama.cpp/CMakeLists.txt" ] || { log "sdist has no vendor/llama.cpp"; exit 1; }
  rm -rf "$src" && mv "$src.part" "$src"
fi

if [ ! -f "$build/build.ninja" ]; then
  log "configuring $llama -> $build"
  # CPU only; no network (CURL), no server; OpenMP for the CPU backend's thread pool (libgomp ships
  # with gcc). GGML_NATIVE builds for this machine's ISA, which is what a benchmark here wants.
  cmake -S "$llama" -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_OPENMP=ON \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON \
    -DLLAMA_BUILD_TOOLS=ON -DBUILD_SHARED_LIBS=OFF >&2
fi

# Build only what exists in this version (names have moved between releases).
avail=$(ninja -C "$build" -t targets all 2>/dev/null | sed -n 's/^\([^:]*\): .*/\1/p')
want=()
for t in "${targets[@]}"; do
  if grep -qx "$t" <<<"$avail"; then want+=("$t"); else log "target $t not in this version; skipped"; fi
done
[ ${#want[@]} -gt 0 ] || { log "none of ${targets[*]} found"; exit 1; }
ninja -C "$build" -j "$JOBS" "${want[@]}" >&2
echo "$bin"
