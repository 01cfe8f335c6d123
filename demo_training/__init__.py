"""A real Fashion-MNIST training run that logs CNN Viz data, used by the demo, tests and benchmarks."""
