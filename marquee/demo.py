"""`make demo`: generate the embedded demo data, run every asset, print what happened."""

from __future__ import annotations

import time

from marquee.config import MarqueeHome
from marquee.ingestion.ingest import connect
from marquee.pipeline import run_assets
from marquee.reporting import layer_counts, metrics_lines, quarantine_summary


def run_demo(home: MarqueeHome, progress: bool = True) -> int:
    from marquee.synthetic import GenerationConfig, generate

    home.ensure()
    t0 = time.perf_counter()
    summary = generate(home, GenerationConfig(), progress=progress)
    print(f"== generate ({time.perf_counter() - t0:.1f}s)")
    print("\n".join("   " + line for line in summary.lines()))

    t1 = time.perf_counter()
    result = run_assets(home, quiet=True)
    print(f"== run {result.run_id[:8]}: {'succeeded' if result.success else 'FAILED'} "
          f"({time.perf_counter() - t1:.1f}s, {len(result.materialized)} assets materialized)")
    for step in result.failed_steps:
        print(f"   failed step: {step}")
    for check in result.checks_failed:
        print(f"   failed check: {check}")
    print(f"   dbt and run logs: {home.reports / 'last_run.log'}")
    from marquee.quality.summary import dq_summary

    print(f"== {dq_summary(home, result.run_id)}")

    con = connect(home, read_only=True)
    try:
        print("== rows per layer")
        for layer, table, n in layer_counts(con):
            print(f"   {layer:<13} {table:<28} {n:>12,}")
        total, reasons = quarantine_summary(con)
        print(f"== quarantined rows: {total:,}")
        for reason, n in reasons:
            print(f"   {n:>8,}  {reason}")
    finally:
        con.close()
    _print_evaluation(home)
    _print_samples(home)
    return 0 if result.success else 1


def _print_evaluation(home: MarqueeHome) -> None:
    """The metrics table of the last evaluation and the promotion decision with its reasons."""
    import json

    path = home.reports / "evaluation.json"
    if not path.exists():
        print("== evaluation: none written in this run")
        return
    report = json.loads(path.read_text())
    protocol = report.get("protocol", {})
    print(f"== evaluation of candidate {report.get('candidate')} on the time hold-out "
          f"(test from {protocol.get('test_start', '?')}, k={report.get('k')})")
    print("\n".join(metrics_lines(report.get("models", {}))))
    verdict = "PROMOTED" + (" (forced)" if report.get("forced") else "") if report.get("promoted") else "NOT promoted"
    print(f"== promotion: candidate {report.get('candidate')} {verdict}; "
          f"champion before: {report.get('champion')}, now: {report.get('champion_after')}")
    for reason in report.get("reasons", []):
        print(f"   - {reason}")


def _print_samples(home: MarqueeHome, users: int = 3, k: int = 5) -> None:
    """Top-k from the champion for a few users."""
    from marquee.batch import open_online_reader, top_k
    from models.registry import ModelRegistry

    registry = ModelRegistry(home.models)
    try:
        rec = registry.load_champion()
    except Exception as exc:
        print(f"== sample recommendations: no champion ({exc})")
        return
    sample = rec.context.user_ids[:: max(1, len(rec.context.user_ids) // users)][:users]
    print(f"== top-{k} recommendations from champion {rec.version}")
    online = open_online_reader(home)
    try:
        for user_id in sample.tolist():
            print(f"   user {user_id}:")
            for rank, (title_id, title, score) in enumerate(top_k(rec, user_id, k, online), 1):
                print(f"     {rank}. {title_id:<10} {score:>8.4f}  {title or ''}")
    finally:
        if online is not None:
            online.close()
