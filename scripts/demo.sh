#!/usr/bin/env bash
# The main job: set everything up, train the demo CNN on Fashion-MNIST with the callback attached,
# then serve TensorBoard with the CNN Viz tab. Arguments go to the training (e.g. --epochs 3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dataset-fashion-mnist
port="${PORT:-6006}"
# --port last, so the training's closing message names the port served below, whatever "$@" holds.
.venv/bin/python -m demo_training.train --logdir runs "$@" --port "$port"
echo "Serving TensorBoard: open http://localhost:${port}/#cnnviz (Ctrl-C stops it)"
exec .venv/bin/tensorboard --logdir runs --port "$port"
