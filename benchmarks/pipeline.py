"""Data-pipeline benchmark: generate → ingest → dbt build, wall time and peak RSS per stage.

Each stage runs in its own process so its peak memory is its own (``os.wait4`` rusage).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from marquee.config import REPO_ROOT

SIZES = {
    "demo": {},  # GenerationConfig defaults
    "10m": {"users": 100_000, "titles": 10_000, "days": 90},
}


@dataclass
class StageResult:
    stage: str
    seconds: float
    peak_rss_mb: float


def _run_stage(stage: str, code: str, env: dict[str, str]) -> StageResult:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO_ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage {stage} failed with status {status}")
    return StageResult(stage, round(seconds, 1), round(usage.ru_maxrss / 1024, 0))


def bench(size: str, home: Path | None = None) -> list[StageResult]:
    """Run the stages into ``home`` (kept) or a temporary home (deleted afterwards)."""
    keep = home is not None
    home = home or Path(tempfile.mkdtemp(prefix=f"marquee-bench-{size}-"))
    env = {**os.environ, "MARQUEE_HOME": str(home), "DO_NOT_TRACK": "1"}
    cfg = json.dumps(SIZES[size])
    try:
        results = [
            _run_stage(
                "generate",
                "import json; from dataclasses import replace; from marquee.config import MarqueeHome; "
                "from marquee.synthetic import GenerationConfig, generate; "
                f"generate(MarqueeHome.from_env().ensure(), replace(GenerationConfig(), **json.loads('{cfg}')), progress=False)",
                env,
            ),
            _run_stage(
                "ingest",
                "from marquee.config import MarqueeHome; from marquee.ingestion.ingest import ingest_entity; "
                "h = MarqueeHome.from_env(); [ingest_entity(h, e) for e in ('titles', 'users', 'events')]",
                env,
            ),
        ]
        dbt = str(Path(sys.executable).parent / "dbt")
        project = str(REPO_ROOT / "dbt_project")
        dbt_env = {**env, "MARQUEE_WAREHOUSE": str(home / "warehouse.duckdb")}
        results.append(
            _run_stage(
                "dbt build",
                "import subprocess, sys; sys.exit(subprocess.call(["
                f"{dbt!r}, 'build', '--quiet', '--project-dir', {project!r}, '--profiles-dir', {project!r}, "
                f"'--target-path', {str(home / 'dbt' / 'target')!r}, '--log-path', {str(home / 'dbt' / 'logs')!r}]))",
                dbt_env,
            )
        )
        import duckdb

        con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        events = con.execute("SELECT count(*) FROM raw.events").fetchone()[0]
        con.close()
        print(f"[{size}] {events:,} events in raw.events")
        return results
    finally:
        if not keep:
            shutil.rmtree(home, ignore_errors=True)


def report(size: str, rows: list[StageResult]) -> None:
    print(json.dumps({"size": size, "stages": [asdict(r) for r in rows]}))
    for r in rows:
        print(f"  {r.stage:<10} {r.seconds:>7.1f} s   peak RSS {r.peak_rss_mb:>7.0f} MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=sorted(SIZES), action="append")
    args = parser.parse_args(argv)
    for size in args.size or ["demo", "10m"]:
        report(size, bench(size))


if __name__ == "__main__":
    main()
