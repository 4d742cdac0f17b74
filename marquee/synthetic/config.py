"""What to generate (`GenerationConfig`), what was generated (`GenerationSummary`), and the window."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from marquee.errors import MarqueeUserError

# Upper bounds that keep ids, memory and run time sane; far above any realistic demo.
MAX_USERS = 10_000_000
MAX_TITLES = 1_000_000
MAX_DAYS = 3_650
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class GenerationConfig:
    """Size and seed of a synthetic data set.

    The event window is the ``days`` UTC days ending on ``end_date`` (inclusive). The default
    end date is fixed so that the default output is the same on every machine and every day.
    """

    users: int = 6000
    titles: int = 2000
    days: int = 60
    seed: int = 42
    end_date: dt.date = dt.date(2026, 6, 30)

    def validate(self) -> GenerationConfig:
        """Return self, or raise `MarqueeUserError` naming the first bad setting."""
        for name, low, high in (
            ("users", 1, MAX_USERS),
            ("titles", 1, MAX_TITLES),
            ("days", 1, MAX_DAYS),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise MarqueeUserError(f"--{name} must be a whole number, got {value!r}")
            if not low <= value <= high:
                raise MarqueeUserError(f"--{name} must be between {low} and {high:,}, got {value}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise MarqueeUserError(f"--seed must be a non-negative whole number, got {self.seed!r}")
        if not isinstance(self.end_date, dt.date) or isinstance(self.end_date, dt.datetime):
            raise MarqueeUserError(f"end_date must be a date, got {self.end_date!r}")
        today = dt.datetime.now(dt.UTC).date()
        if self.end_date >= today:
            raise MarqueeUserError(
                f"end_date {self.end_date.isoformat()} is not in the past (today is "
                f"{today.isoformat()} UTC); events must not be in the future"
            )
        if self.start_date.year < 1971:
            raise MarqueeUserError("the event window must start after 1970")
        return self

    @property
    def start_date(self) -> dt.date:
        """First day of the window (UTC)."""
        return self.end_date - dt.timedelta(days=self.days - 1)

    @property
    def start_epoch(self) -> int:
        """Unix seconds of the window's first instant (midnight UTC of `start_date`)."""
        return (self.start_date - _EPOCH).days * 86_400

    @property
    def end_epoch(self) -> int:
        """Unix seconds just after the window (midnight UTC after `end_date`); exclusive."""
        return ((self.end_date - _EPOCH).days + 1) * 86_400


@dataclass
class GenerationSummary:
    """What `generate` wrote, for the CLI to print."""

    titles: int
    users: int
    events_by_type: dict[str, int]
    files_written: int
    start_date: dt.date
    end_date: dt.date
    titles_released_in_window: int
    titles_file: Path
    users_file: Path
    event_files: list[Path] = field(default_factory=list)
    ground_truth_dir: Path | None = None

    @property
    def events(self) -> int:
        return sum(self.events_by_type.values())

    def lines(self) -> list[str]:
        """A short human-readable report."""
        by_type = ", ".join(f"{k}={v:,}" for k, v in self.events_by_type.items())
        return [
            f"window      {self.start_date.isoformat()} .. {self.end_date.isoformat()} (UTC)",
            f"titles      {self.titles:,} ({self.titles_released_in_window:,} released in the window)",
            f"users       {self.users:,}",
            f"events      {self.events:,} ({by_type})",
            f"files       {self.files_written:,} written under {self.titles_file.parent.parent}",
            f"truth       {self.ground_truth_dir}",
        ]
