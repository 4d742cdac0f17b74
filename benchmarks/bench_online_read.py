"""Online read latency: every `ranking` feature for 1 user + 100 titles (target p99 < 10 ms).

    MARQUEE_HOME=... python -m benchmarks.bench_online_read [--reads 300] [--titles 100]

Needs a home whose features are materialized (`marquee run`). Users are drawn from the
online store's users and titles from its titles, a different user per read. Reports p50 /
p99 of Marquee's reader (direct SQLite read of Feast's tables) and, for comparison, of
Feast's own ``get_online_features`` with the same service and entities. Wall time and the
reading thread's CPU time are both reported: on a shared machine the difference is time
spent waiting for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
import warnings

from marquee.config import MarqueeHome


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * len(ordered))) - 1)]
    return {"p50_ms": round(statistics.median(ordered), 3), "p99_ms": round(p99, 3),
            "max_ms": round(ordered[-1], 3), "reads": len(ordered)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=None, help="MARQUEE_HOME (default: the environment's)")
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--titles", type=int, default=100)
    parser.add_argument("--feast-reads", type=int, default=50, help="reads through Feast's API")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    import duckdb

    from marquee.features import names as N
    from marquee.features.config import feature_store
    from marquee.features.online import OnlineFeatureReader
    from marquee.features.paths import export_path

    home = MarqueeHome.from_env(args.home)
    store = feature_store(home)
    con = duckdb.connect()
    users = [r[0] for r in con.execute(
        f"SELECT DISTINCT user_id FROM read_parquet('{export_path(N.USER_ACTIVITY_EXPORT, home)}')"
    ).fetchall()]
    titles = [r[0] for r in con.execute(
        f"SELECT title_id FROM read_parquet('{export_path(N.TITLE_CONTENT_EXPORT, home)}')"
    ).fetchall()]
    con.close()
    rng = random.Random(7)
    requests = [(rng.choice(users), rng.sample(titles, min(args.titles, len(titles))))
                for _ in range(args.reads)]

    reader = OnlineFeatureReader(store, N.RANKING)
    for user, ids in requests[:20]:  # warm-up
        reader.ranking_features(user, ids)
    samples, cpu = [], []
    for user, ids in requests:
        started, started_cpu = time.perf_counter(), time.thread_time()
        features = reader.ranking_features(user, ids)
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    n_features = len(features.user) + len(features.titles)

    service = store.get_feature_service(N.RANKING)
    feast_samples = []
    for user, ids in requests[: args.feast_reads]:
        started = time.perf_counter()
        store.get_online_features(
            features=service, entity_rows=[{"user_id": user, "title_id": t} for t in ids],
            full_feature_names=True,
        ).to_dict()
        feast_samples.append((time.perf_counter() - started) * 1000)

    result = {
        "benchmark": "online_read_ranking_1_user_x_titles",
        "titles_per_read": args.titles,
        "features": n_features,
        "online_store": store.config.online_store.type,
        "marquee_reader": _percentiles(samples),
        # CPU time of the reading thread: the read's own cost, without waiting for a core
        # on a busy machine (wall time above includes that wait).
        "marquee_reader_cpu": _percentiles(cpu),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "feast_get_online_features": _percentiles(feast_samples) if feast_samples else None,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
