"""Saving and loading a two-tower retriever version (numpy + JSON; loading needs no TF).

A version is a folder ``<root>/<version>/`` (normally ``$MARQUEE_HOME/models/retrieval``):

- ``arrays.npz`` -- every array: user- and title-tower weights (``user/*``, ``title/*``), the
  catalogue's title embeddings, popularity, vocabularies (``space/*``), each user's state as of
  the cutoff (``state/*``) and seen titles (``seen/*``). Plain dtypes, loaded with
  ``allow_pickle=False``.
- ``manifest.json`` -- ``format``, ``version``, ``created_at``, ``config`` (incl. ``seed``),
  ``data`` (source, fingerprint, split, cutoff), ``metrics``, ``learning_curve``, ``stages``,
  ``code_version``, the feature-space settings and the sha256 of ``arrays.npz``.

The folder is written under a temporary name and renamed into place, so a crash never leaves a
half-written version behind; `load_artifacts` refuses a folder whose checksum does not match.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from models.retrieval.features import FeatureSpace
from models.retrieval.retriever import TwoTowerRetriever

FORMAT = "marquee.retrieval.two_tower/1"
MANIFEST = "manifest.json"
ARRAYS = "arrays.npz"
_STATE_KEYS = ("id", "fields", "devices", "history")
_RETRIEVER_FIELDS = ("short_history", "temperature", "prior_weight", "catalogue", "embedding_dim")


class ArtifactError(RuntimeError):
    """A version folder is missing, incomplete or corrupt."""


def code_version() -> str | None:
    """The git commit of the code (None outside a git checkout); read-only."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def _arrays(retriever: TwoTowerRetriever) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    out.update({f"user/{k}": v for k, v in retriever.user_weights.items()})
    out.update({f"title/{k}": v for k, v in retriever.title_weights.items()})
    out.update({f"space/{k}": v for k, v in retriever.space.to_arrays().items()})
    out["title_embeddings"] = retriever.title_embeddings.astype(np.float32)
    out["popularity"] = np.asarray(retriever.popularity, dtype=np.float64)
    out["recent_popularity"] = np.asarray(retriever.recent_popularity, dtype=np.float64)
    out["state/user_ids"] = np.asarray(retriever.state_user_ids, dtype=str)
    for key in _STATE_KEYS:
        arr = retriever.state_inputs[key]
        out[f"state/{key}"] = arr.astype(np.float32 if key == "devices" else np.int32)
    out["seen/indptr"] = retriever.seen_indptr.astype(np.int64)
    out["seen/items"] = retriever.seen_items.astype(np.int32)
    return out


def _new_version_name(root: Path, fingerprint: str | None) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = f"{stamp}-{(fingerprint or 'nodata')[:8]}"
    name, n = base, 1
    while (root / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def save_artifacts(
    retriever: TwoTowerRetriever,
    root: str | Path,
    manifest: dict[str, Any] | None = None,
    version: str | None = None,
) -> Path:
    """Write a new version folder under ``root`` and return its path.

    ``manifest`` holds what should be recorded with it (config, data, metrics,
    learning_curve, stages, ...); format, version, created_at, code_version, the feature space,
    the retriever info and the checksum are added here.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest = dict(manifest or {})
    version = version or _new_version_name(root, (manifest.get("data") or {}).get("fingerprint"))
    final = root / version
    if final.exists():
        raise ArtifactError(f"version already exists: {final}")
    buffer = io.BytesIO()
    np.savez(buffer, **_arrays(retriever))
    payload = buffer.getvalue()
    manifest.update(
        {
            "format": FORMAT,
            "version": version,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "code_version": manifest.get("code_version") or code_version(),
            "space": retriever.space.to_json(),
            "retriever": {
                "short_history": retriever.short_history,
                "temperature": retriever.temperature,
                "prior_weight": retriever.prior_weight,
                "catalogue": len(retriever.catalogue),
                "embedding_dim": int(retriever.title_embeddings.shape[1]),
                **retriever.info,
            },
            "files": {
                ARRAYS: {"sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload)}
            },
        }
    )
    tmp = root / f".tmp-{version}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        (tmp / ARRAYS).write_bytes(payload)
        (tmp / MANIFEST).write_text(json.dumps(_jsonable(manifest), indent=2, allow_nan=False))
        for f in (tmp / ARRAYS, tmp / MANIFEST):
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def read_manifest(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"no readable {MANIFEST} in {path}: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path}: unknown format {manifest.get('format')!r}")
    return manifest


def load_artifacts(path: str | Path) -> tuple[TwoTowerRetriever, dict[str, Any]]:
    """Load a version folder: ``(retriever, manifest)``. Raises `ArtifactError` when the
    folder is incomplete or its arrays do not match the recorded checksum."""
    path = Path(path)
    manifest = read_manifest(path)
    try:
        payload = (path / ARRAYS).read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read {ARRAYS}: {exc}") from exc
    expected = manifest.get("files", {}).get(ARRAYS, {}).get("sha256")
    if hashlib.sha256(payload).hexdigest() != expected:
        raise ArtifactError(f"{path}: {ARRAYS} does not match its recorded checksum")
    with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}

    def group(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

    try:
        space = FeatureSpace.from_saved(group("space/"), manifest["space"])
        state = {k: arrays[f"state/{k}"] for k in _STATE_KEYS}
        state = {k: v.astype(np.float32 if k == "devices" else np.int64) for k, v in state.items()}
        info = {
            k: v for k, v in manifest.get("retriever", {}).items() if k not in _RETRIEVER_FIELDS
        }
        retriever = TwoTowerRetriever(
            space=space,
            user_weights=group("user/"),
            title_weights=group("title/"),
            title_embeddings=arrays["title_embeddings"],
            popularity=arrays["popularity"],
            state_user_ids=arrays["state/user_ids"],
            state_inputs=state,
            seen_indptr=arrays["seen/indptr"],
            seen_items=arrays["seen/items"].astype(np.int64),
            short_history=int(manifest["retriever"]["short_history"]),
            recent_popularity=arrays["recent_popularity"],
            temperature=float(manifest["retriever"]["temperature"]),
            prior_weight=float(manifest["retriever"]["prior_weight"]),
            info=info,
        )
    except KeyError as exc:
        raise ArtifactError(f"{path}: missing {exc}") from exc
    return retriever, manifest


def list_versions(root: str | Path) -> list[Path]:
    """Complete version folders under ``root``, oldest first (by name = creation time)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).exists()
    )
