"""API settings: defaults for `marquee serve`, overridable by ``MARQUEE_SERVE_<FIELD>``.

A plain pydantic model with an environment loader rather than pydantic-settings: that
package is not in the pinned set, and adding a pin would rebuild every venv for six fields.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from marquee.errors import MarqueeUserError

ENV_PREFIX = "MARQUEE_SERVE_"


class ServingSettings(BaseModel):
    """Everything the API process can be tuned with; immutable once the app is built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # POST /events: bodies above this are refused with 413 before they are parsed.
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_events_per_request: int = Field(1_000, ge=1)
    # How often the champion pointer (models/champion.json) is checked for a promotion.
    reload_interval_s: float = Field(2.0, gt=0)
    # After a failed load (corrupt files, locked warehouse) wait this long before retrying.
    retry_interval_s: float = Field(15.0, gt=0)
    default_k: int = Field(10, ge=1)
    max_k: int = Field(100, ge=1)
    max_id_length: int = Field(128, ge=1, le=1024)
    # Title features change only when the pipeline materializes: cache them this long.
    title_feature_ttl_s: float = Field(30.0, ge=0)
    # Answers for an unchanged (model, user, k, online row) are memoized this long (0: off),
    # never longer than title_feature_ttl_s (serving/answers.py).
    answer_cache_ttl_s: float = Field(30.0, ge=0)
    # Exposures (lists served inside an experiment) go to a hidden file in the landing zone,
    # published for ingestion this often and at shutdown (serving/experiments.py).
    exposure_rotate_s: float = Field(60.0, gt=0)
    log_level: str = "info"
    access_log: bool = False

    @model_validator(mode="after")
    def _k_bounds(self) -> ServingSettings:
        if self.default_k > self.max_k:
            raise ValueError(f"default_k ({self.default_k}) exceeds max_k ({self.max_k})")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServingSettings:
        """Defaults, then ``MARQUEE_SERVE_*`` variables, then explicit overrides (CLI flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper() or 'SETTINGS'}: {e['msg']}"
                for e in exc.errors()
            )
            raise MarqueeUserError(f"invalid serving settings: {problems}") from None
