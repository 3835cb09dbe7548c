#!/usr/bin/env bash
# zeronas GPU check (issue 24, item 5; docs/gpu.md): archs/s per proxy on the device and device-vs-CPU agreement.
#
#   bash benchmarks/gpu_check.sh                          # CUDA machine: full check, JSON in benchmarks/results/gpu_check.json
#   bash benchmarks/gpu_check.sh --data-dir DIR           # data folder elsewhere (CIFAR-10 images, NB201 table)
#   bash benchmarks/gpu_check.sh --device cpu --archs 4 --agree-archs 3 --proxy-seconds 5   # CPU smoke, not GPU figures
#
# Every option goes to benchmarks/gpu_check.py (--help lists them). Hard limit: 8 minutes overall (timeout 480 s;
# the Python side keeps to --budget, default 450 s, and rewrites its JSON after each phase). Exit status: 0 all
# agreement checks passed, 1 one failed, 2 nothing measured (--device cuda without a CUDA device: one line
# "no CUDA device: nothing measured ..."), 124 killed at the 8-minute limit.
# Python: $PYTHON, else .venv/bin/python, else python3 (on a bare GPU image: the one that holds PyTorch). zeronas is
# taken from src/. Wheels in .whl/ (e.g. sqlalchemy, which zeronas needs and a bare GPU image may lack) are
# installed into a temporary folder first when zeronas cannot be imported without them.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if ! err=$("$PY" -c "import zeronas" 2>&1); then
  if ls .whl/*.whl >/dev/null 2>&1; then
    site=$(mktemp -d /tmp/zeronas-site.XXXXXX)
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl || exit 2
    export PYTHONPATH="$PYTHONPATH:$site"
  fi
  if ! err=$("$PY" -c "import zeronas" 2>&1); then
    echo "gpu_check: zeronas cannot be imported with $PY: $(echo "$err" | tail -n 1) (docs/gpu.md: carry the missing wheels in .whl/)" >&2
    exit 2
  fi
fi
exec timeout -k 10 480 "$PY" benchmarks/gpu_check.py "$@"
