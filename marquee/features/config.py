"""`feature_store.yaml` per environment, and the FeatureStore for a Marquee home.

Two environments (``MARQUEE_ENV``):

``local`` (default)
    DuckDB offline store reading the Parquet exports under ``$MARQUEE_HOME/feast/offline/``,
    SQLite online store ``$MARQUEE_HOME/feast/online.db``, file registry
    ``$MARQUEE_HOME/feast/registry.db``.
``scaled``
    The same registry and offline store, a Redis online store from ``MARQUEE_REDIS_URL``
    (``redis://[:password@]host:port[/db]``, ``rediss://`` for TLS). Configuration only.

The committed ``feature_repo/feature_store.yaml`` is the ``local`` rendering with the literal
``${MARQUEE_HOME}``: Feast 0.67 runs ``os.path.expandvars`` over the file before parsing it
(``feast.repo_config.load_repo_config``), so ``MARQUEE_HOME=... feast -c feature_repo apply``
uses the same state folder as Dagster. A test keeps the committed file equal to
``render_feature_store_yaml("local", placeholder=True)``.

In-process code (Dagster, API, tests) never relies on the environment variable: it renders
the file with absolute paths to ``$MARQUEE_HOME/feast/feature_store.yaml`` and opens the store
from there (``feature_store(home)``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import yaml

from marquee.config import REPO_ROOT, MarqueeHome
from marquee.errors import MarqueeUserError
from marquee.features.names import PROJECT

if TYPE_CHECKING:
    from feast import FeatureStore

FEATURE_REPO = REPO_ROOT / "feature_repo"
ENVIRONMENTS = ("local", "scaled")
HOME_PLACEHOLDER = "${MARQUEE_HOME}"
# Registry reads are cached this long inside one process (the API); writes are immediate.
REGISTRY_CACHE_TTL_SECONDS = 60

_HEADER = """\
# Feast configuration for Marquee, environment {env!r}.
# Rendered by marquee.features.config.render_feature_store_yaml -- do not edit by hand;
# change the renderer (tests/test_features.py keeps the committed copy in sync).
# Feast expands ${{VAR}} when it loads this file, so the CLI works against any state folder:
#   MARQUEE_HOME=/abs/path feast -c feature_repo plan|apply|materialize-incremental END
"""


def environment() -> str:
    env = os.environ.get("MARQUEE_ENV", "local")
    if env not in ENVIRONMENTS:
        raise MarqueeUserError(f"MARQUEE_ENV must be one of {ENVIRONMENTS}, got {env!r}")
    return env


def redis_connection_string(url: str) -> str:
    """``redis://:secret@host:6379/2`` -> Feast's ``host:6379,db=2,password=secret``."""
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
        raise MarqueeUserError(
            f"MARQUEE_REDIS_URL must look like redis://[:password@]host:port[/db], got {url!r}"
        )
    parts = [f"{parsed.hostname}:{parsed.port or 6379}"]
    db = parsed.path.strip("/")
    if db:
        if not db.isdigit():
            raise MarqueeUserError(f"MARQUEE_REDIS_URL database must be a number, got {db!r}")
        parts.append(f"db={db}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    if parsed.username and parsed.username != "default":
        parts.append(f"username={unquote(parsed.username)}")
    if parsed.password:
        parts.append(f"password={unquote(parsed.password)}")
    return ",".join(parts)


def feature_store_config(
    env: str | None = None,
    home: MarqueeHome | None = None,
    *,
    redis_url: str | None = None,
    placeholder: bool = False,
) -> dict:
    """The feature_store.yaml content as a dict (see module docstring)."""
    env = env or environment()
    if env not in ENVIRONMENTS:
        raise MarqueeUserError(f"unknown environment {env!r}; expected one of {ENVIRONMENTS}")
    if placeholder:
        feast_dir = f"{HOME_PLACEHOLDER}/feast"
    else:
        feast_dir = str((home or MarqueeHome.from_env()).feast)
    config: dict = {
        "project": PROJECT,
        "provider": "local",
        "registry": {
            "registry_type": "file",
            "path": f"{feast_dir}/registry.db",
            "cache_ttl_seconds": REGISTRY_CACHE_TTL_SECONDS,
        },
        "offline_store": {"type": "duckdb"},
        "entity_key_serialization_version": 3,
    }
    if env == "local":
        config["online_store"] = {"type": "sqlite", "path": f"{feast_dir}/online.db"}
    else:
        url = redis_url or os.environ.get("MARQUEE_REDIS_URL")
        if not url:
            raise MarqueeUserError("MARQUEE_ENV=scaled needs MARQUEE_REDIS_URL (redis://host:port/db)")
        config["online_store"] = {
            "type": "redis",
            "redis_type": "redis",
            "connection_string": redis_connection_string(url),
        }
    return config


def render_feature_store_yaml(
    env: str | None = None,
    home: MarqueeHome | None = None,
    *,
    redis_url: str | None = None,
    placeholder: bool = False,
) -> str:
    env = env or environment()
    config = feature_store_config(env, home, redis_url=redis_url, placeholder=placeholder)
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    return _HEADER.format(env=env) + body


def write_feature_store_yaml(home: MarqueeHome, env: str | None = None) -> Path:
    """Render for ``home`` (absolute paths) into ``$MARQUEE_HOME/feast/feature_store.yaml``."""
    home.feast.mkdir(parents=True, exist_ok=True)
    path = home.feast / "feature_store.yaml"
    text = render_feature_store_yaml(env, home)
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def feature_store(home: MarqueeHome | None = None, env: str | None = None) -> FeatureStore:
    """A FeatureStore on ``home``'s registry and stores (nothing is written into the repo)."""
    from feast import FeatureStore

    home = home or MarqueeHome.from_env()
    yaml_path = write_feature_store_yaml(home, env)
    return FeatureStore(repo_path=str(home.feast), fs_yaml_file=yaml_path)
