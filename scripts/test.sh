#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite. Tests that need ../shared/data skip with a reason when
# it is absent; set ZERONAS_DATA to point them at a data folder elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
