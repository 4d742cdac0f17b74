"""Data quality: Great Expectations suites and statistics that gate the pipeline (issue 3).

Plain Python, no Dagster (orchestration/assets/quality.py wraps the checks as blocking asset
checks):

- `config`   -- `QualityConfig`: every threshold, documented defaults, MARQUEE_DQ_* overrides.
- `suites`   -- the GX expectation suites as code (raw events, marts, metrics, training sets).
- `runner`   -- runs a suite on a pandas frame (ephemeral GX context, no progress bars) and
                says which expectation failed, the observed value and the threshold.
- `data`     -- what the checks read from DuckDB (latest ingestion, coverage, row counts).
- `drift`    -- mart profiles and drift statistics against the previous materialization.
- `checks`   -- the checks themselves (`CHECK_SPECS`, `CheckOutcome`; errors count as failed).
- `store`    -- results under $MARQUEE_HOME/reports/data_quality/ (JSON, Data Docs, state).
- `gate`     -- `data_gate(asset_keys, home)`: did every blocking check behind a model pass?
- `summary`  -- `dq_summary(home, run_id)`: the one line `make demo` prints.

Importing this package is cheap; Great Expectations (~5 s) is imported on first validation.
"""
