"""The `tb-cnnviz` command: list layers, log checkpoints, load probe images, build models by name."""
