#!/usr/bin/env bash
# The test command: set everything up (chromium for the browser tests, Fashion-MNIST, node for
# the JS checks), lint Python and JS, check the JS's formatting, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh chromium dataset-fashion-mnist nodejs npm
# The tab's lint and format tools at the versions package-lock.json pins; skipped while node_modules/ matches it.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
.venv/bin/ruff check .
npx --no-install eslint frontend eslint.config.js
npx --no-install prettier --check frontend eslint.config.js
exec .venv/bin/pytest "$@"
