"""Online experiments: configuration, deterministic assignment and the statistical analysis.

Plain Python (no Dagster, no web framework): serving assigns users with `assignment`, the
analysis asset computes per-arm metrics, lifts and the decision with `analysis`.
"""
