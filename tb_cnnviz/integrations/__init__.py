"""Adapters for training frameworks. Each lives in its own module and imports its framework only there,
so `import tb_cnnviz` works without any of them installed."""
