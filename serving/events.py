"""POST /events: validate with the ingestion contract, append durably, update online features.

Validation is the batch pipeline's own: each event is serialised to the JSON Lines text that
will be written, and that text goes through ``jsonl_rows_sql`` + ``validated_select`` (the
SQL ingestion runs over landing files) in an in-memory DuckDB. So an event the API accepts
is an event ingestion accepts, with the same reasons for a rejection. On top, ids must be
URL-safe (``ids.py``): they come back as path segments of ``/recommendations``.

All or nothing: if any event is rejected, nothing is written or pushed. Accepted events are
written as one new JSON Lines file under ``landing/events/api/<date>/`` (hidden temp file,
fsync, atomic rename, directory fsync) before the online store is touched; the batch
pipeline ingests the file once (content hash) and keeps each event once (``event_id``).
Event ids already accepted by this process are not written or applied again, so a client
retry does not double the online counters. If the online push fails after the write, the
events are still accepted (they are durable and the next materialization includes them):
the reply says ``"online": false``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marquee.config import MarqueeHome
from marquee.contracts import EVENTS
from marquee.ingestion.readers import jsonl_rows_sql
from marquee.ingestion.validation import validated_select
from serving.ids import id_problem

log = logging.getLogger("marquee.serving")

ID_FIELDS = ("event_id", "user_id", "title_id")
LANDING_SUBDIR = "api"


class EventsRejected(ValueError):
    """The request cannot be accepted; ``problems`` holds one entry per rejected event."""

    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None, status: int = 422):
        super().__init__(message)
        self.problems = problems or []
        self.status = status


@dataclass
class EventsOutcome:
    accepted: int
    duplicates: int
    written: Path | None
    online: bool
    online_error: str | None = None
    users_updated: int = 0
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)


def parse_body(body: bytes, max_events: int) -> list[Any]:
    """The posted JSON as a list of events (one object or a list of them)."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise EventsRejected(f"malformed JSON: {exc}") from None
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise EventsRejected("empty list: send one event object or a non-empty list of them")
    if len(items) > max_events:
        raise EventsRejected(
            f"{len(items)} events in one request; at most {max_events}", status=413
        )
    return items


class EventValidator:
    """The contract check, one in-memory DuckDB connection per thread (cheap to reuse)."""

    def __init__(self, max_id_length: int) -> None:
        self.max_id_length = max_id_length
        self._local = threading.local()
        self._sql = validated_select(EVENTS, "(" + jsonl_rows_sql(EVENTS, "_api_lines") + ")")
        self._columns = ("line_number", "reasons", *EVENTS.names)

    def _connection(self):
        import duckdb

        con = getattr(self._local, "con", None)
        if con is None:
            con = duckdb.connect(":memory:")
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET enable_progress_bar = false")
            con.execute("SET threads = 1")  # a handful of rows: parallelism only costs
            self._local.con = con
        return con

    def validate(self, items: Sequence[Any]) -> tuple[list[str], list[dict[str, Any]]]:
        """(the JSON Lines to write, typed events) or ``EventsRejected`` with every reason."""
        import pyarrow as pa

        lines = [json.dumps(item, ensure_ascii=True, separators=(",", ":")) for item in items]
        table = pa.table(
            {
                "file_idx": pa.array([0] * len(lines), pa.int32()),
                "line_number": pa.array(range(1, len(lines) + 1), pa.int64()),
                "raw_text": pa.array(lines, pa.string()),
            }
        )
        con = self._connection()
        con.register("_api_lines", table)
        try:
            cols = ", ".join(f'"{c}"' for c in self._columns)
            rows = con.execute(f"SELECT {cols} FROM ({self._sql}) ORDER BY line_number").fetchall()
        finally:
            con.unregister("_api_lines")
        typed: list[dict[str, Any]] = []
        problems: list[dict[str, Any]] = []
        for row in rows:
            record = dict(zip(self._columns, row, strict=True))
            index = int(record.pop("line_number")) - 1
            reasons = list(record.pop("reasons") or [])
            for name in ID_FIELDS:
                value = record.get(name)
                if value is not None:
                    problem = id_problem(value, self.max_id_length)
                    if problem:
                        reasons.append(f"{name} {problem}")
            if reasons:
                item = items[index]
                event_id = item.get("event_id") if isinstance(item, dict) else None
                problems.append({"index": index, "event_id": event_id, "reasons": reasons})
            typed.append(record)
        if problems:
            raise EventsRejected(
                f"{len(problems)} of {len(items)} events rejected; nothing was written or applied",
                problems,
            )
        return lines, typed


class EventSink:
    """Landing-zone writer plus the online push, with the in-process retry guard."""

    def __init__(self, home: MarqueeHome, remember: int = 100_000) -> None:
        self.folder = home.landing_dir("events") / LANDING_SUBDIR
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._lock = threading.Lock()

    def _claim(self, typed: list[dict[str, Any]], lines: list[str]) -> tuple[list[int], int]:
        """Indices of events to write (first of each event_id, not accepted before)."""
        keep: list[int] = []
        batch: set[str] = set()
        for i, event in enumerate(typed):
            event_id = event["event_id"]
            if event_id in batch or event_id in self._seen:
                continue
            batch.add(event_id)
            keep.append(i)
        return keep, len(typed) - len(keep)

    def write(self, lines: list[str]) -> Path:
        """One new file, durably: hidden temp file, fsync, rename, fsync of the folder."""
        now = dt.datetime.now(dt.UTC)
        folder = self.folder / now.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"events-{now:%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex[:12]}.jsonl"
        tmp = folder / f".{name}.tmp"
        final = folder / name
        data = ("\n".join(lines) + "\n").encode("ascii")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return final

    def accept(self, lines: list[str], typed: list[dict[str, Any]], online) -> EventsOutcome:
        """Write, then push; ``online`` is a ``serving.online.OnlineAccess``."""
        with self._lock:  # claim + write together: two retries of one batch write once
            keep, duplicates = self._claim(typed, lines)
            written = self.write([lines[i] for i in keep]) if keep else None
            for i in keep:
                self._seen[typed[i]["event_id"]] = None
            while len(self._seen) > self._remember:
                self._seen.popitem(last=False)
        events = [typed[i] for i in keep]
        outcome = EventsOutcome(len(typed), duplicates, written, online=True, events=events)
        if events:
            try:
                outcome.users_updated = online.record(events)
            except Exception as exc:  # the events are durable: the batch pipeline catches up
                outcome.online = False
                outcome.online_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "%d events written to %s but not applied online (%s)",
                    len(events), written, outcome.online_error,
                )
        return outcome
