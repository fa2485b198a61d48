#!/usr/bin/env bash
# Call 1 (twenty-seventh session), model-free: the tree as it stands (CPU changes only since the twenty-fifth
# session's last GPU run): the twenty-fifth session's call 4, the standalone CUDA build and every CTest of it
# (logs under $OUT/c4/).
exec bash docs/runs/h200-session25/c4.sh
