"""One line for `make demo`: how the data-quality checks of a run went."""

from __future__ import annotations

from marquee.config import MarqueeHome
from marquee.quality import store
from marquee.quality.checks import CHECK_SPECS

_OURS = {(a, c) for a, c, _ in CHECK_SPECS}


def dq_summary(home: MarqueeHome, run_id: str | None = None) -> str:
    """``data quality: N checks run, P passed, W warned, F failed (...)``.

    With ``run_id``: every asset check evaluated in that Dagster run (GX/statistics checks and
    dbt tests), read from the instance under ``$MARQUEE_HOME/dagster``; checks planned but not
    run (skipped after a blocking failure) are counted as such. Without: the stored results of
    the most recent run in ``reports/data_quality/latest.json``.
    """
    if run_id is not None:
        return _from_run(home, run_id)
    latest = store.load_latest(home)
    if not latest:
        return "data quality: no checks run yet"
    newest = max(latest.values(), key=lambda e: e.get("recorded_at", ""))
    entries = [e for e in latest.values() if e.get("run_id") == newest.get("run_id")]
    counts = {s: sum(e.get("status") == s for e in entries) for s in ("passed", "warned", "failed")}
    failed = [f"{e['asset']}:{e['check']}" for e in entries if e.get("status") == "failed"]
    return _line(len(entries), counts, 0, failed, None, home)


def _from_run(home: MarqueeHome, run_id: str) -> str:
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home.dagster_home))
    try:
        planned = {
            (e.dagster_event.event_specific_data.asset_key.to_user_string(),
             e.dagster_event.event_specific_data.check_name)
            for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED)
        }
        evaluations = [
            e.dagster_event.event_specific_data
            for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        ]
    finally:
        instance.dispose()
    counts = {"passed": 0, "warned": 0, "failed": 0}
    failed = []
    ours = 0
    done = set()
    for ev in evaluations:
        key = (ev.asset_key.to_user_string(), ev.check_name)
        done.add(key)
        ours += key in _OURS
        if ev.passed:
            counts["passed"] += 1
        elif ev.severity == dg.AssetCheckSeverity.WARN:
            counts["warned"] += 1
        else:
            counts["failed"] += 1
            failed.append(":".join(key))
    skipped = len(planned - done)
    split = f"{ours} data-quality + {len(evaluations) - ours} dbt/other"
    return _line(len(evaluations), counts, skipped, failed, split, home)


def _line(n, counts, skipped, failed, split, home) -> str:
    text = (
        f"data quality: {n} checks run, {counts['passed']} passed, {counts['warned']} warned, "
        f"{counts['failed']} failed"
    )
    if skipped:
        text += f", {skipped} not run"
    if split:
        text += f" ({split})"
    if failed:
        text += f"; failed: {', '.join(sorted(failed)[:5])}" + (" ..." if len(failed) > 5 else "")
    return text + f"; results in {store.root(home)}"
