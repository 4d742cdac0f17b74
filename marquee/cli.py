"""`marquee` command line (SPEC §4). User errors: one line on stderr, non-zero exit."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from marquee.config import MarqueeHome
from marquee.errors import MarqueeUserError


def _quiet_libraries() -> None:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", category=UserWarning, module="sqlglot")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # Dagster's notices about beta parameters of the selection parser (`--select 'tag:daily'`)
    warnings.filterwarnings("ignore", message=".* is currently in beta")


def _import_feast_quietly() -> None:
    """Feast sets DeprecationWarnings to "once" when imported: import it, then quiet again."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import feast  # noqa: F401
    _quiet_libraries()


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        sys.stderr.write(f"marquee: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="marquee", description="Marquee: personalised recommendations for streaming catalogues.")
    parser.add_argument("--home", help="state folder (default: $MARQUEE_HOME or .marquee/ in the repo)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    gen = sub.add_parser("generate", help="write synthetic, Netflix-like data into the landing zone")
    gen.add_argument("--users", type=_positive)
    gen.add_argument("--titles", type=_positive)
    gen.add_argument("--days", type=_positive)
    gen.add_argument("--seed", type=int)
    gen.add_argument("--end-date", type=_date, help="last day of the window (UTC)")
    gen.add_argument("--no-progress", action="store_true")

    ml = sub.add_parser("import-movielens", help="import a MovieLens directory into the landing zone")
    ml.add_argument("path", type=Path)

    run = sub.add_parser("run", help="materialize assets in-process (default: everything)")
    run.add_argument("--select", help="Dagster asset selection, e.g. 'group:ingestion' or 'fct_interactions+'")
    run.add_argument(
        "--partition",
        help="rebuild these UTC days of the daily-partitioned assets: DAY or FIRST:LAST (YYYY-MM-DD)",
    )

    rec = sub.add_parser("recommend", help="top-k titles for one user from the champion")
    rec.add_argument("user_id")
    rec.add_argument("-k", type=_positive, default=10)

    exp = sub.add_parser("export-recommendations", help="top-K for every known user to CSV or Parquet")
    exp.add_argument("--k", type=_positive, required=True)
    exp.add_argument("--out", type=Path, required=True)

    srv = sub.add_parser("serve", help="serve the recommendations API")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8000)

    sub.add_parser("status", help="champion, its metrics, last ingestion, last run")
    exp = sub.add_parser(
        "experiment-demo",
        help="a short simulated A/B test: champion vs a weakened copy, through the real API",
    )
    exp.add_argument("--members", type=_positive, default=400)
    exp.add_argument("--rounds", type=_positive, default=3)
    exp.add_argument("--seed", type=int, default=0)
    demo = sub.add_parser("demo", help="generate the demo data, run everything, print a summary")
    demo.add_argument("--no-progress", action="store_true")
    ui = sub.add_parser("ui", help="Dagster UI + daemon on 127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    try:
        home = MarqueeHome.from_env(args.home)
        return _dispatch(args, home)
    except MarqueeUserError as exc:
        sys.stderr.write(f"marquee: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("marquee: interrupted\n")
        return 130


def _dispatch(args: argparse.Namespace, home: MarqueeHome) -> int:
    if args.command == "generate":
        return _generate(args, home)
    if args.command == "import-movielens":
        from marquee.importers.movielens import import_movielens

        home.ensure()
        summary = import_movielens(args.path, home)
        print(summary.describe())
        return 0
    if args.command == "run":
        return _run(home, args.select, args.partition)
    if args.command == "experiment-demo":
        from marquee.experiments.demo import print_result, run_experiment_demo

        print_result(run_experiment_demo(home, args.members, args.rounds, args.seed))
        return 0
    if args.command == "status":
        from marquee.status import print_status

        return print_status(home)
    if args.command == "demo":
        from marquee.demo import run_demo

        return run_demo(home, progress=not args.no_progress)
    if args.command == "ui":
        from marquee.ui import run_ui

        return run_ui(home, args.port)
    if args.command == "serve":
        from serving.server import serve

        return serve(home, host=args.host, port=args.port)
    if args.command in ("recommend", "export-recommendations", "demo"):
        _import_feast_quietly()
    if args.command == "recommend":
        return _recommend(home, args.user_id, args.k)
    if args.command == "export-recommendations":
        from marquee.batch import export

        rows, users, version = export(home, args.k, args.out)
        print(f"wrote {rows:,} rows for {users:,} users from champion {version} to {args.out}")
        return 0
    raise MarqueeUserError(f"unknown command {args.command}")


def _generate(args: argparse.Namespace, home: MarqueeHome) -> int:
    from dataclasses import replace

    from marquee.synthetic import GenerationConfig, generate

    config = GenerationConfig()
    overrides = {
        k: v
        for k, v in (
            ("users", args.users), ("titles", args.titles), ("days", args.days),
            ("seed", args.seed), ("end_date", args.end_date),
        )
        if v is not None
    }
    config = replace(config, **overrides)
    home.ensure()
    summary = generate(home, config, progress=not args.no_progress)
    print("\n".join(summary.lines()))
    return 0


def _recommend(home: MarqueeHome, user_id: str, k: int) -> int:
    from marquee.batch import recommend_one

    version, rows = recommend_one(home, user_id, k)
    print(f"top {k} for user {user_id} from champion {version}")
    for rank, (title_id, title, score) in enumerate(rows, start=1):
        print(f"{rank:>3}. {title_id:<12} {score:>9.4f}  {title or ''}")
    return 0


def _run(home: MarqueeHome, select: str | None, partition: str | None = None) -> int:
    from marquee.pipeline import run_assets

    home.ensure()
    summary = run_assets(home, select, partition=partition)
    print(f"run {summary.run_id}: {'succeeded' if summary.success else 'FAILED'}; "
          f"{len(summary.materialized)} assets materialized")
    for step in summary.failed_steps:
        print(f"  failed step: {step}")
    for check in summary.checks_failed:
        print(f"  failed check: {check}")
    return 0 if summary.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
