# Sourced by the call scripts: the model joined and checked, the devpack unpacked, /tmp/seerw.
export OPENBLAS_CORETYPE=SkylakeX
cp .devcarry/* /tmp/m/ 2>/dev/null
M=/tmp/m/model.gguf
if [ ! -f /tmp/m/ready ]; then
  cat /tmp/m/model.part.[0-9] > "$M"
  [ "$(sha256sum "$M" | awk '{print $1}')" = "$(cat /tmp/m/model.sha256)" ] || { echo "model sha256 mismatch"; ls -la /tmp/m; exit 1; }
  rm -rf /tmp/dp && mkdir -p /tmp/dp && tar -C /tmp/dp -xJf /tmp/m/devpack.tar.xz
  cublas_dir=$(dirname "$(find / -name 'libcublas.so.13*' -not -path '*/proc/*' 2>/dev/null | head -1)")
  libs="/tmp/dp/lib:$cublas_dir:/usr/local/cuda/lib64:/usr/lib/x86_64-linux-gnu"
  printf '#!/bin/sh\nexec /tmp/dp/lib/ld-linux-x86-64.so.2 --library-path "%s" /tmp/dp/seer "$@"\n' "$libs" > /tmp/seerw && chmod +x /tmp/seerw
  rm -rf /tmp/corpus && mkdir -p /tmp/corpus && tar -C /tmp/corpus -xJf /tmp/m/corpus.tar.xz
  touch /tmp/m/ready
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt
