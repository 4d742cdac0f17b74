"""Where Marquee keeps its state.

Everything mutable lives under ``$MARQUEE_HOME`` (SPEC §2); deleting that folder resets the
system. Paths are always absolute so DuckDB views, dbt and Feast work from any directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ENTITIES = ("events", "titles", "users")


@dataclass(frozen=True)
class MarqueeHome:
    """The state folder and the well-known paths inside it."""

    root: Path

    @classmethod
    def from_env(cls, override: str | os.PathLike[str] | None = None) -> MarqueeHome:
        raw = override or os.environ.get("MARQUEE_HOME") or REPO_ROOT / ".marquee"
        return cls(Path(raw).expanduser().resolve())

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    def landing_dir(self, entity: str) -> Path:
        if entity not in ENTITIES:
            raise ValueError(f"unknown landing entity {entity!r}; expected one of {ENTITIES}")
        return self.landing / entity

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def feast(self) -> Path:
        return self.root / "feast"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def dbt(self) -> Path:
        """dbt's target/ and logs/ for runs against this home (kept out of the repo)."""
        return self.root / "dbt"

    @property
    def synthetic(self) -> Path:
        """Generator ground truth: outside the landing zone so the pipeline never sees it."""
        return self.root / "synthetic"

    def ensure(self) -> MarqueeHome:
        for path in (self.landing, self.reports, self.models, self.feast, self.dagster_home):
            path.mkdir(parents=True, exist_ok=True)
        for entity in ENTITIES:
            self.landing_dir(entity).mkdir(parents=True, exist_ok=True)
        return self
