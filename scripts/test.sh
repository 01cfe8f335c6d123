#!/usr/bin/env bash
# The test command: set everything up (chromium for the browser tests, Fashion-MNIST), lint, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh chromium dataset-fashion-mnist
.venv/bin/ruff check .
exec .venv/bin/pytest "$@"
