"""Where data-quality results live: ``$MARQUEE_HOME/reports/data_quality/``.

    results/<asset>/<check>/<UTC time>-<run id>.json   every check evaluation (GX result inside)
    latest.json                                         the latest evaluation per asset:check
    state/marts_profile.json                            drift baseline (see drift.py)
    data_docs/index.html                                GX Data Docs (static HTML)
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from marquee.config import MarqueeHome

LATEST = "latest.json"


def root(home: MarqueeHome) -> Path:
    return home.reports / "data_quality"


def state_dir(home: MarqueeHome) -> Path:
    return root(home) / "state"


def data_docs_dir(home: MarqueeHome) -> Path:
    return root(home) / "data_docs"


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)


def record(home: MarqueeHome, entry: dict[str, Any]) -> Path:
    """Write one check evaluation (a dict with at least asset, check, passed, severity) and
    update latest.json; returns the result file."""
    now = dt.datetime.now(dt.UTC)
    entry = {"recorded_at": now.isoformat(), **entry}
    run = (entry.get("run_id") or "norun")[:8]
    path = (
        root(home) / "results" / entry["asset"] / entry["check"]
        / f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{run}.json"
    )
    _write_json(path, entry)
    latest = load_latest(home)
    summary = {k: v for k, v in entry.items() if k not in ("validation",)}
    summary["path"] = str(path)
    latest[f"{entry['asset']}:{entry['check']}"] = summary
    _write_json(root(home) / LATEST, latest)
    return path


def load_latest(home: MarqueeHome) -> dict[str, dict[str, Any]]:
    try:
        return json.loads((root(home) / LATEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
