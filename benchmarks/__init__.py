"""Performance benchmarks: step rates, evaluation batches, the GPU check. Run each as `python -m benchmarks.NAME`."""
