"""The visualization methods: pure functions from (model, inputs) to tensors, no I/O."""
