"""Benchmarks that print figures; run them from the repository root, e.g. `python -m bench.local`."""
