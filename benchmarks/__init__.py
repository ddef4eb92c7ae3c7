"""growsim benchmarks: ratios measured in one run. ``python -m benchmarks``."""
