"""The model registry under ``$MARQUEE_HOME/models``: versions, lineage, one champion pointer.

Layout::

    models/
      versions/<version>/          a two-stage model version, complete or absent
        manifest.json              format, metrics, evaluation, lineage, sha256 of every file
        retrieval/                 the two-tower (arrays.npz + manifest.json)
        ranker.json                the XGBoost booster
        context.npz                the ranking context as of the end of the data
        titles.json                title_id -> display name
      champion.json                {"version", "promoted_at", "forced", "reasons", ...}
      promotions.jsonl             every promotion decision, promoted or not

A version folder is written under a temporary name and renamed into place; the champion
pointer is written to a temporary file, fsynced and swapped in with ``os.replace``, so a crash
at any point leaves either the old champion or the new one, never a broken pointer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from models.retrieval.artifacts import ArtifactError, _jsonable, code_version

FORMAT = "marquee.two_stage/1"
VERSIONS = "versions"
CHAMPION = "champion.json"
PROMOTIONS = "promotions.jsonl"
MANIFEST = "manifest.json"
REQUIRED_FILES = (
    "retrieval/arrays.npz",
    "retrieval/manifest.json",
    "ranker.json",
    "context.npz",
    "titles.json",
)


class RegistryError(RuntimeError):
    """No champion, an unknown version, or a version that is incomplete or corrupt."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_write(path: Path, payload: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ModelRegistry:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.versions_dir = self.root / VERSIONS
        self.champion_file = self.root / CHAMPION
        self.promotions_file = self.root / PROMOTIONS

    # ------------------------------------------------------------------ versions
    def _new_name(self, fingerprint: str | None) -> str:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        base = f"{stamp}-{(fingerprint or 'nodata')[:8]}"
        name, n = base, 1
        while (self.versions_dir / name).exists():
            n += 1
            name = f"{base}-{n}"
        return name

    def save_version(
        self,
        retrieval_path: str | Path,
        ranker_json: bytes,
        context_arrays: dict[str, np.ndarray],
        titles: dict[str, str],
        manifest: dict[str, Any],
    ) -> Path:
        """Write a complete version folder (atomic rename) and return its path."""
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        fingerprint = (manifest.get("lineage", {}).get("data") or {}).get("fingerprint")
        version = self._new_name(fingerprint)
        tmp = self.versions_dir / f".tmp-{version}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            src = Path(retrieval_path)
            (tmp / "retrieval").mkdir()
            for name in ("arrays.npz", "manifest.json"):
                shutil.copy2(src / name, tmp / "retrieval" / name)
            _fsync_write(tmp / "ranker.json", ranker_json)
            buffer = io.BytesIO()
            np.savez(buffer, **context_arrays)
            _fsync_write(tmp / "context.npz", buffer.getvalue())
            _fsync_write(tmp / "titles.json", json.dumps(titles).encode())
            full = {
                **manifest,
                "format": FORMAT,
                "version": version,
                "created_at": _now(),
                "code_version": manifest.get("code_version") or code_version(),
                "files": {f: {"sha256": _sha256(tmp / f)} for f in REQUIRED_FILES},
            }
            _fsync_write(
                tmp / MANIFEST, json.dumps(_jsonable(full), indent=2, allow_nan=False).encode()
            )
            os.rename(tmp, self.versions_dir / version)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.versions_dir / version

    def versions(self) -> list[str]:
        """Version names with a manifest, oldest first."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in self.versions_dir.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).exists()
        )

    def latest(self) -> str | None:
        names = self.versions()
        return names[-1] if names else None

    def version_path(self, version: str) -> Path:
        if not version or "/" in version or version.startswith("."):
            raise RegistryError(f"not a version name: {version!r}")
        return self.versions_dir / version

    def manifest(self, version: str) -> dict[str, Any]:
        path = self.version_path(version) / MANIFEST
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise RegistryError(f"version {version}: no readable {MANIFEST} ({exc})") from exc
        if manifest.get("format") != FORMAT:
            raise RegistryError(f"version {version}: unknown format {manifest.get('format')!r}")
        return manifest

    def problems(self, version: str) -> list[str]:
        """Why a version cannot be served (empty when it is complete and intact)."""
        try:
            manifest = self.manifest(version)
        except RegistryError as exc:
            return [str(exc)]
        path = self.version_path(version)
        out = []
        recorded = manifest.get("files", {})
        for name in REQUIRED_FILES:
            f = path / name
            if not f.is_file():
                out.append(f"missing artifact {name}")
            elif recorded.get(name, {}).get("sha256") != _sha256(f):
                out.append(f"artifact {name} does not match its recorded checksum")
        return out

    # ------------------------------------------------------------------ champion
    def champion_record(self) -> dict[str, Any] | None:
        try:
            record = json.loads(self.champion_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RegistryError(f"unreadable champion pointer {self.champion_file}: {exc}") from exc
        return record if isinstance(record, dict) and record.get("version") else None

    def champion(self) -> str | None:
        record = self.champion_record()
        return None if record is None else str(record["version"])

    def record_decision(self, decision: dict[str, Any]) -> None:
        """Append a promotion decision (promoted or not) to the log."""
        self.root.mkdir(parents=True, exist_ok=True)
        line = json.dumps(_jsonable({"at": _now(), **decision})) + "\n"
        with open(self.promotions_file, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def promote(self, version: str, decision: dict[str, Any] | None = None) -> dict[str, Any]:
        """Make ``version`` the champion (refused when incomplete); returns the pointer."""
        problems = self.problems(version)
        if problems:
            raise RegistryError(f"cannot promote {version}: " + "; ".join(problems))
        record = {
            "version": version,
            "previous": self.champion(),
            "promoted_at": _now(),
            **(decision or {}),
        }
        record["version"] = version
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{CHAMPION}.{os.getpid()}.tmp"
        _fsync_write(tmp, json.dumps(_jsonable(record), indent=2).encode())
        os.replace(tmp, self.champion_file)
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return record

    # ------------------------------------------------------------------ loading
    def load(self, version: str):
        """A `TwoStageRecommender` for ``version`` (checksums verified)."""
        from models.recommender import TwoStageRecommender

        problems = self.problems(version)
        if problems:
            raise RegistryError(f"version {version} cannot be loaded: " + "; ".join(problems))
        try:
            return TwoStageRecommender.load(self.version_path(version))
        except (ArtifactError, KeyError, ValueError, OSError) as exc:
            raise RegistryError(f"version {version} cannot be loaded: {exc}") from exc

    def load_champion(self):
        version = self.champion()
        if version is None:
            raise RegistryError(
                "no champion model yet: run the pipeline (`marquee run`) to train and promote one"
            )
        return self.load(version)
