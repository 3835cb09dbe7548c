#!/usr/bin/env bash
# One command: set up, show what data was found, and score the best NB201 architecture with every proxy.
# Without a data folder this scores the data-free proxies only; with one it uses real CIFAR-10 images.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/zeronas data
.venv/bin/zeronas score --space nb201 \
  --arch '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|' \
  --proxies all --data auto --out runs/quickstart "$@"
