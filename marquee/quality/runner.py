"""Run a Great Expectations suite on a pandas DataFrame and summarise what failed.

GX's SQL path does not work on DuckDB (STACK-NOTES), so callers query DuckDB into pandas and
hand the frame here. One ephemeral GX context per process (in-memory stores, no analytics, no
progress bars); with ``data_docs_dir`` the validation goes through a checkpoint that renders
GX Data Docs (static HTML) into that folder.

The verdict follows each expectation's GX ``severity``: a failed ``critical`` expectation fails
the validation (Dagster severity ERROR), a failed ``warning`` one only warns (WARN), ``info``
is reported and ignored. An expectation that raised counts as a failed ``critical`` one.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import great_expectations as gx
    import pandas as pd

# GX phones home unless told not to; set before the first import.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

ERROR, WARN = "ERROR", "WARN"
_DATASOURCE = "marquee"
_BATCH = "whole_dataframe"
_CONTEXTS: dict[str, Any] = {}


@dataclass
class ExpectationOutcome:
    """One expectation's result, in words a person can read in the Dagster UI."""

    expectation: str
    column: str | None
    success: bool
    severity: str  # critical | warning | info
    observed: str
    threshold: str
    description: str | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    examples: list[str] = field(default_factory=list)
    error: str | None = None

    def line(self) -> str:
        col = f"{self.column}: " if self.column else ""
        what = self.description or self.expectation
        err = f" (error: {self.error})" if self.error else ""
        eg = f", e.g. {', '.join(self.examples[:3])}" if self.examples else ""
        return f"{col}{what} -- observed {self.observed}{eg}; expected {self.threshold}{err}"


@dataclass
class ValidationOutcome:
    """A suite's verdict on one DataFrame."""

    suite: str
    asset: str
    rows_validated: int
    expectations: list[ExpectationOutcome]
    seconds: float
    sampled_from: int | None = None
    gx_result: dict[str, Any] | None = None
    error: str | None = None

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if not e.success and e.severity == "critical"]

    @property
    def warned(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if not e.success and e.severity == "warning"]

    @property
    def passed(self) -> bool:
        return self.error is None and not self.failed

    @property
    def severity(self) -> str | None:
        """ERROR when a critical expectation failed, WARN when only warnings did, else None."""
        if not self.passed:
            return ERROR
        return WARN if self.warned else None

    def summary(self) -> str:
        if self.error:
            return f"{self.suite}: errored -- {self.error}"
        bad = self.failed or self.warned
        if not bad:
            return f"{self.suite}: {len(self.expectations)} expectations passed"
        head = "; ".join(e.line() for e in bad[:3])
        more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
        return f"{self.suite}: {head}{more}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(passed=self.passed, severity=self.severity)
        return data


def _context(data_docs_dir: Path | None):
    key = str(data_docs_dir or "")
    if key in _CONTEXTS:
        return _CONTEXTS[key]
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if data_docs_dir is not None:
        sites["local_site"] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(data_docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        data_docs_sites=sites,
    )
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    ctx.data_sources.add_pandas(_DATASOURCE)
    _CONTEXTS[key] = ctx
    return ctx


def _batch_definition(ctx, asset_name: str):
    source = ctx.data_sources.get(_DATASOURCE)
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        return asset.get_batch_definition(_BATCH)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(_BATCH)


def validate(
    df: pd.DataFrame,
    suite: gx.ExpectationSuite,
    *,
    asset: str,
    data_docs_dir: Path | None = None,
    sampled_from: int | None = None,
) -> ValidationOutcome:
    """Validate ``df`` (named ``asset``) against ``suite``; never raises for a failed expectation."""
    import great_expectations as gx

    start = time.perf_counter()
    ctx = _context(data_docs_dir)
    batch_definition = _batch_definition(ctx, asset)
    if _exists(ctx.suites, suite.name):
        ctx.suites.delete(suite.name)
    suite = ctx.suites.add(suite)
    if data_docs_dir is not None:
        name = f"{asset}::{suite.name}"
        if _exists(ctx.checkpoints, name):
            ctx.checkpoints.delete(name)
        if _exists(ctx.validation_definitions, name):
            ctx.validation_definitions.delete(name)
        definition = ctx.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        checkpoint = ctx.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=[],  # docs are rendered once per batch of checks: build_data_docs
                result_format="SUMMARY",
            )
        )
        run = checkpoint.run(batch_parameters={"dataframe": df})
        result = next(iter(run.run_results.values()))
    else:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(suite, result_format="SUMMARY")
    outcomes = [_expectation_outcome(r) for r in result.results]
    outcomes.sort(key=lambda o: o.success)  # failures first
    return ValidationOutcome(
        suite=suite.name,
        asset=asset,
        rows_validated=len(df),
        expectations=outcomes,
        seconds=round(time.perf_counter() - start, 3),
        sampled_from=sampled_from,
        gx_result=_jsonable(result.to_json_dict()),
    )


def build_data_docs(data_docs_dir: Path) -> Path | None:
    """Render Data Docs for the validations this process kept; returns index.html."""
    key = str(data_docs_dir)
    if key not in _CONTEXTS:
        return None
    _CONTEXTS[key].build_data_docs()
    index = data_docs_dir / "index.html"
    return index if index.exists() else None


def _exists(collection, name: str) -> bool:
    try:
        collection.get(name)
    except Exception:  # noqa: BLE001 - GX raises different errors per store for "not found"
        return False
    return True


def _expectation_outcome(res) -> ExpectationOutcome:
    config = res.expectation_config
    kwargs = dict(config.kwargs)
    result = res.result or {}
    severity = getattr(config, "severity", "critical")
    severity = getattr(severity, "value", severity) or "critical"
    raised = bool((res.exception_info or {}).get("raised_exception"))
    error = None
    if raised:
        error = str(res.exception_info.get("exception_message") or "exception").splitlines()[0][:300]
        severity = "critical"
    unexpected_count = result.get("unexpected_count")
    unexpected_percent = result.get("unexpected_percent")
    if "observed_value" in result:
        observed = _fmt(result["observed_value"])
    elif unexpected_count is not None:
        total = result.get("element_count")
        observed = f"{unexpected_count:,} unexpected of {total:,} rows ({unexpected_percent or 0:.2f}%)"
    else:
        observed = "n/a"
    examples: list[str] = []
    mismatched = (result.get("details") or {}).get("mismatched") or {}
    for kind in ("missing", "unexpected"):
        examples.extend(f"{kind} {name}" for name in mismatched.get(kind) or [])
    nulls = config.type.endswith("to_not_be_null")  # the unexpected values are all NULL
    for value in [] if nulls else result.get("partial_unexpected_list") or []:
        text = _fmt(value)
        if text not in examples:
            examples.append(text)
        if len(examples) == 5:
            break
    column = kwargs.get("column")
    if column is None and "column_list" in kwargs:
        column = ", ".join(kwargs["column_list"])
    if column is None and "column_A" in kwargs:
        column = f"{kwargs['column_A']}, {kwargs['column_B']}"
    return ExpectationOutcome(
        expectation=config.type,
        column=column,
        success=bool(res.success) and not raised,
        severity=str(severity),
        observed=observed,
        threshold=_threshold_for(config.type, kwargs),
        description=(config.description or (config.meta or {}).get("description")),
        unexpected_count=unexpected_count,
        unexpected_percent=unexpected_percent,
        examples=examples,
        error=error,
    )


def threshold_text(kwargs: dict[str, Any]) -> str:
    """The expectation's bounds in words: 'between 0.5 and 5', '<= 0.01', 'in {...}'."""
    parts: list[str] = []
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        parts.append(f"between {_fmt(low)} and {_fmt(high)}")
    elif low is not None:
        parts.append(f">= {_fmt(low)}")
    elif high is not None:
        parts.append(f"<= {_fmt(high)}")
    if kwargs.get("value") is not None:
        parts.append(f"= {_fmt(kwargs['value'])}")
    for key, word in (("value_set", "in"), ("column_set", "columns"), ("type_list", "type in")):
        if kwargs.get(key) is not None:
            values = sorted(map(str, kwargs[key]))
            shown = ", ".join(values[:12]) + (", ..." if len(values) > 12 else "")
            parts.append(f"{word} {{{shown}}}")
    if kwargs.get("value_pairs_set") is not None:
        parts.append(f"one of {len(kwargs['value_pairs_set'])} (column, type) pairs")
    if kwargs.get("column_list") is not None and not parts:
        parts.append("unique combination")
    if kwargs.get("or_equal") is not None and "column_A" in kwargs:
        op = ">=" if kwargs["or_equal"] else ">"
        parts.append(f"{kwargs['column_A']} {op} {kwargs['column_B']}")
    mostly = kwargs.get("mostly")
    if mostly is not None and mostly < 1:
        parts.append(f"for at least {mostly:.2%} of rows")
    return " ".join(parts) or "no unexpected values"


def _threshold_for(expectation: str, kwargs: dict[str, Any]) -> str:
    if expectation.endswith("to_not_be_null"):
        text = "no NULLs"
    elif expectation.endswith("to_be_unique"):
        text = "unique values"
    else:
        return threshold_text(kwargs)
    mostly = kwargs.get("mostly")
    if mostly is not None and mostly < 1:
        text += f" in at least {mostly:.2%} of rows"
    return text


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.4g}"
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return _fmt(value.item())
        except (ValueError, AttributeError):
            pass
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return "[" + ", ".join(_fmt(v) for v in value[:8]) + ", ...]"
    return str(value)


def _jsonable(value: Any) -> Any:
    """GX's JSON dict, with anything still not JSON-native turned into text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "item"):
        try:
            return _jsonable(value.item())
        except (ValueError, AttributeError):
            pass
    return str(value)


def merge(suite: str, asset: str, parts: Sequence[ValidationOutcome]) -> ValidationOutcome:
    """Several validations of one asset (e.g. its schema and its rows) as one outcome."""
    return ValidationOutcome(
        suite=suite,
        asset=asset,
        rows_validated=max((p.rows_validated for p in parts), default=0),
        expectations=sorted(
            (e for p in parts for e in p.expectations), key=lambda e: e.success
        ),
        seconds=round(sum(p.seconds for p in parts), 3),
        sampled_from=next((p.sampled_from for p in parts if p.sampled_from), None),
        gx_result={"validations": [p.gx_result for p in parts]},
        error=next((p.error for p in parts if p.error), None),
    )
