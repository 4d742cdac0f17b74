"""`generate`: catalogue, members and day-by-day events into the landing zone.

Events are simulated per *local* day (members live in different time zones) and written per
*UTC* day: after simulating local day d, every event before UTC midnight of day d is final
(no local day starts more than 14 h before its UTC day), so UTC day d - 1 is sorted by time,
encoded and handed to a background thread that gzips and writes it while day d + 1 is
simulated. Local days -1 and D are simulated too so that the window's edges are as busy as its
middle; events outside the window are dropped. Memory holds about two days of events.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from marquee.config import MarqueeHome
from marquee.contracts import EVENT_TYPES
from marquee.errors import MarqueeUserError
from marquee.synthetic import streams
from marquee.synthetic import vocabulary as V
from marquee.synthetic.behaviour import SESSION_RATE, Behaviour
from marquee.synthetic.catalogue import make_catalogue
from marquee.synthetic.config import GenerationConfig, GenerationSummary
from marquee.synthetic.encoding import EventEncoder
from marquee.synthetic.events import EventBatch
from marquee.synthetic.members import make_members
from marquee.synthetic.writer import (
    gzip_bytes,
    titles_jsonl,
    users_csv,
    write_atomic,
    write_ground_truth,
)

TITLES_FILE = "titles.jsonl"
USERS_FILE = "users.csv"


def event_file_name(day: dt.date) -> str:
    return f"events-{day.isoformat()}.jsonl.gz"


def ground_truth_dir(home: MarqueeHome) -> Path:
    return home.synthetic / "ground_truth"


def generate(
    home: MarqueeHome, config: GenerationConfig | None = None, progress: bool = True
) -> GenerationSummary:
    """Generate a synthetic data set into ``home``'s landing zone; see the package docstring."""
    config = config or GenerationConfig()
    if not isinstance(config, GenerationConfig):
        raise MarqueeUserError(f"expected a GenerationConfig, got {type(config).__name__}")
    config.validate()

    catalogue = make_catalogue(config)
    members = make_members(config)
    titles_path = home.landing_dir("titles") / TITLES_FILE
    users_path = home.landing_dir("users") / USERS_FILE
    events_dir = home.landing_dir("events")
    events_dir.mkdir(parents=True, exist_ok=True)
    staging = home.synthetic / ".staging"
    write_atomic(titles_path, titles_jsonl(catalogue), staging)
    users = users_csv(members, streams.stream(config.seed, streams.USER_GAPS))
    write_atomic(users_path, users, staging)

    behaviour = Behaviour(config, catalogue, members)
    encoder = EventEncoder(config.seed, catalogue, members)
    counts = np.zeros(len(EVENT_TYPES), dtype=np.int64)
    event_files: list[Path] = []
    number = 0
    pending = EventBatch.empty()
    in_flight: deque[Future] = deque()
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="marquee-gzip") as pool,
        tqdm(
            total=config.days,
            desc="generating events",
            unit="day",
            file=sys.stderr,
            disable=not progress,
        ) as bar,
    ):
        for local_day in range(-1, config.days + 1):
            batch = behaviour.simulate_day(local_day)
            # Belt and braces: nothing may precede its title's release.
            batch = batch.take(np.flatnonzero(batch.ts >= catalogue.release_ts[batch.title]))
            pending = EventBatch.concat([pending, batch])
            boundary = config.start_epoch + local_day * 86_400
            final = pending.ts < boundary
            ready = pending.take(np.flatnonzero(final))
            pending = pending.take(np.flatnonzero(~final))
            utc_day = local_day - 1
            if utc_day < 0:
                continue  # before the window: dropped
            ready = ready.take(np.argsort(ready.ts, kind="stable"))
            if len(ready):
                day = config.start_date + dt.timedelta(days=utc_day)
                data = encoder.encode(ready, day, number)
                number += len(ready)
                counts += ready.counts_by_type()
                path = events_dir / event_file_name(day)
                in_flight.append(pool.submit(_gzip_and_write, path, data, staging))
                event_files.append(path)
                del data, ready
                while len(in_flight) > 1:
                    in_flight.popleft().result()
            bar.update(1)
        # `pending` now holds only events after the window's end: dropped.
        while in_flight:
            in_flight.popleft().result()

    by_type = {name: int(c) for name, c in zip(EVENT_TYPES, counts, strict=True)}
    truth = ground_truth_dir(home)
    meta = {
        "config": {
            "users": config.users,
            "titles": config.titles,
            "days": config.days,
            "seed": config.seed,
            "end_date": config.end_date.isoformat(),
        },
        "window": {
            "start": f"{config.start_date.isoformat()}T00:00:00Z",
            "end_exclusive": f"{(config.end_date + dt.timedelta(days=1)).isoformat()}T00:00:00Z",
        },
        "genres": list(V.GENRES),
        "session_rate": SESSION_RATE,
        "events_by_type": by_type,
        "titles_released_in_window": int(catalogue.released_in_window.sum()),
        "files": {
            "users.parquet": "user_id, country, utc_offset_minutes, signup_day, activity, "
            "primary_device, click_bias, rating_bias, taste[genres]",
            "titles.parquet": "title_id, primary_genre, genre_vector[genres], quality, "
            "popularity, release_ts, released_in_window, episodes",
        },
    }
    write_ground_truth(truth, catalogue, members, meta)
    with contextlib.suppress(OSError):
        staging.rmdir()
    return GenerationSummary(
        titles=len(catalogue),
        users=len(members),
        events_by_type=by_type,
        files_written=2 + len(event_files),
        start_date=config.start_date,
        end_date=config.end_date,
        titles_released_in_window=int(catalogue.released_in_window.sum()),
        titles_file=titles_path,
        users_file=users_path,
        event_files=event_files,
        ground_truth_dir=truth,
    )


def _gzip_and_write(path: Path, data: bytes, staging: Path) -> None:
    write_atomic(path, gzip_bytes(data), staging)
