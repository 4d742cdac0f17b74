"""API latency and throughput: /recommendations beside /health, concurrency 1, 16 and 64.

    python -m benchmarks.bench_serving [--home HOME] [--seconds 5] [--concurrency 1 16 64]

Without ``--home`` it builds an ml-100k home (import + ``marquee run``, a few minutes). The
server is a real ``marquee serve`` process (one uvicorn worker); the load comes from this
process over real TCP with HTTP/1.1 keep-alive, one connection per concurrent client, each
client sending its next request when the previous answer is complete (closed loop).

The client is a minimal asyncio HTTP/1.1 client rather than httpx: on a 2-core machine the
load generator shares the cores with the server, and httpx spends several times the server's
own CPU per request, which would measure the client. Every /recommendations answer is
parsed and checked (status 200, k items, ``degraded: false``) so a fallback cannot pass as
a fast answer. Users are the home's known users in a shuffled cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from marquee.config import REPO_ROOT, MarqueeHome
from marquee.processes import free_port, start_server, stop_server, wait_for_model

ML100K = REPO_ROOT.parent / "shared" / "data" / "movielens" / "ml-100k"


@dataclass
class Run:
    endpoint: str
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    degraded: int = 0

    def summary(self) -> dict:
        ordered = sorted(self.latencies_ms)
        n = len(ordered)

        def pct(q: float) -> float:
            return round(ordered[min(n - 1, max(0, int(round(q * n)) - 1))], 2) if n else float("nan")

        return {
            "endpoint": self.endpoint,
            "concurrency": self.concurrency,
            "requests": n,
            "rps": round(n / self.seconds, 1),
            "p50_ms": round(statistics.median(ordered), 2) if n else float("nan"),
            "p99_ms": pct(0.99),
            "max_ms": round(ordered[-1], 2) if n else float("nan"),
            "errors": self.errors,
            "degraded": self.degraded,
        }


async def _client(host: str, port: int, paths: list[str], stop_at: float, run: Run, k: int,
                  check: bool) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    i = random.randrange(len(paths))
    try:
        while time.perf_counter() < stop_at:
            path = paths[i % len(paths)]
            i += 1
            request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            run.latencies_ms.append((time.perf_counter() - started) * 1000)
            if not head.startswith(b"HTTP/1.1 200"):
                run.errors += 1
            elif check:
                payload = json.loads(body)
                if payload["degraded"]:
                    run.degraded += 1
                if len(payload["items"]) != k:
                    run.errors += 1
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _load(host: str, port: int, paths: list[str], concurrency: int, seconds: float,
                endpoint: str, k: int) -> Run:
    run = Run(endpoint, concurrency, seconds)
    check = endpoint == "recommendations"
    stop_at = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(_client(host, port, paths, stop_at, run, k, check) for _ in range(concurrency)))
    run.seconds = time.perf_counter() - started
    return run


def build_home(root: Path) -> MarqueeHome:
    from marquee.importers.movielens import import_movielens
    from marquee.pipeline import run_assets

    home = MarqueeHome(root).ensure()
    import_movielens(ML100K, home)
    result = run_assets(home, quiet=True)
    if not result.success:
        raise RuntimeError(f"pipeline failed: {result.failed_steps} {result.checks_failed}")
    return home


def known_users(home: MarqueeHome) -> list[str]:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT user_id FROM marts.dim_users ORDER BY user_id").fetchall()]
    finally:
        con.close()


def bench(home: MarqueeHome, seconds: float, concurrencies: list[int], k: int) -> dict:
    users = known_users(home)
    random.Random(11).shuffle(users)
    port = free_port()
    log_path = home.root / "bench-serve.log"
    proc = start_server(home.root, port, log_path)
    try:
        version = wait_for_model(port, proc, log_path)["model_version"]
        paths = {
            "health": ["/health"],
            "recommendations": [f"/recommendations/{u}?k={k}" for u in users],
        }
        # Warm-up: every code path, every user once (decode caches, allocator).
        asyncio.run(_load("127.0.0.1", port, paths["recommendations"], 4, min(seconds, 3), "recommendations", k))
        runs = []
        for c in concurrencies:
            for endpoint in ("health", "recommendations"):
                run = asyncio.run(_load("127.0.0.1", port, paths[endpoint], c, seconds, endpoint, k))
                runs.append(run.summary())
                print(json.dumps(runs[-1]), flush=True)
    finally:
        stop_server(proc)
    return {
        "model_version": version,
        "k": k,
        "seconds_per_run": seconds,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "runs": runs,
    }


def markdown(result: dict) -> str:
    rows = {(r["endpoint"], r["concurrency"]): r for r in result["runs"]}
    lines = [
        "| concurrency | /health req/s | /health p50 / p99 ms | /recommendations req/s | "
        "/recommendations p50 / p99 ms | ratio | errors / degraded |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in sorted({r["concurrency"] for r in result["runs"]}):
        h, r = rows[("health", c)], rows[("recommendations", c)]
        lines.append(
            f"| {c} | {h['rps']:,.0f} | {h['p50_ms']} / {h['p99_ms']} | {r['rps']:,.0f} | "
            f"{r['p50_ms']} / {r['p99_ms']} | {r['rps'] / h['rps']:.0%} | "
            f"{h['errors'] + r['errors']} / {r['degraded']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="a home with a champion (default: build ml-100k in a temp dir)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.home:
        result = bench(MarqueeHome.from_env(args.home), args.seconds, args.concurrency, args.k)
    else:
        with tempfile.TemporaryDirectory(prefix="marquee-bench-serving-") as tmp:
            home = build_home(Path(tmp) / "home")
            result = bench(home, args.seconds, args.concurrency, args.k)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
