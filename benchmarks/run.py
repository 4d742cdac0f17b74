"""`make bench`: every benchmark, one after the other (results: BENCHMARKS.md)."""

import shutil
import tempfile
from pathlib import Path

from benchmarks import bench_movielens_protocol, bench_online_read, bench_serving, pipeline


def main() -> None:
    # Model quality on the recommenders ML-100k protocol (≈ 1 min).
    bench_movielens_protocol.main([])
    # API latency and throughput on an ml-100k home with a champion (≈ 3 min).
    bench_serving.main([])
    demo_home = Path(tempfile.mkdtemp(prefix="marquee-bench-home-"))
    try:
        pipeline.report("demo", pipeline.bench("demo", demo_home))
        # Online reads need materialized features: run the feature stage on the demo home.
        from marquee.config import MarqueeHome
        from marquee.pipeline import run_assets

        run_assets(MarqueeHome(demo_home), select="group:features", quiet=True)
        bench_online_read.main(["--home", str(demo_home)])
    finally:
        shutil.rmtree(demo_home, ignore_errors=True)
    pipeline.report("10m", pipeline.bench("10m"))


if __name__ == "__main__":
    main()
