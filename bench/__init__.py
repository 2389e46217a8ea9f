"""Tasklane's benchmark harness: `python -m bench` (or `make bench`); see docs/BENCHMARKS.md."""
