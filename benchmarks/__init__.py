"""Benchmarks (`make bench`): never part of `make test`; results go to BENCHMARKS.md."""
