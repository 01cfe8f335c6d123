"""The TensorBoard side: loader, routes and their helpers; torch-free, as TensorBoard may run without torch."""
