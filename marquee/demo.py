"""`make demo`: generate the embedded demo data, run every asset, print what happened."""

from __future__ import annotations

import time

from marquee.config import MarqueeHome
from marquee.ingestion.ingest import connect
from marquee.pipeline import run_assets
from marquee.reporting import layer_counts, quarantine_summary


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
    _print_retrieval(home)
    return 0 if result.success else 1


def _print_retrieval(home: MarqueeHome) -> None:
    """Hold-out metrics of the newest retrieval version, models side by side."""
    from models.retrieval.artifacts import list_versions, read_manifest

    versions = list_versions(home.models / "retrieval")
    if not versions:
        print("== retrieval: no model trained in this run")
        return
    manifest = read_manifest(versions[-1])
    print(f"== retrieval model {manifest.get('version')} — hold-out metrics (later time slice)")
    cols = ("recall@10", "recall@100", "recall@200", "ndcg@10", "coverage@100")
    print("   " + f"{'model':<20}" + "".join(f"{c:>14}" for c in cols))
    for name, metrics in (manifest.get("metrics") or {}).items():
        print("   " + f"{name:<20}" + "".join(f"{metrics.get(c, float('nan')):>14.4f}" for c in cols))
