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
    return 0 if result.success else 1
