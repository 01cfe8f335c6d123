#!/usr/bin/env bash
# Sets up what both commands need: Debian packages given as arguments (installed when root),
# a virtual environment in .venv and this package with its test extras, editable.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
python3 -c "import ensurepip" 2>/dev/null || missing+=(python3-venv)
for package in "$@"; do
    # A node or npm from elsewhere (e.g. NodeSource's nodejs, which bundles npm) will do.
    case "$package" in
        nodejs) command -v node >/dev/null && continue ;;
        npm) command -v npm >/dev/null && continue ;;
    esac
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
        echo "setup: missing Debian packages: ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
    fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
.venv/bin/python -c "import tb_cnnviz.tensorboard.plugin, torch, torchvision" # fails loudly if the install did not work
