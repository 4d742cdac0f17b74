"""A deliberately weakened copy of a registry version, for testing the experiment loop.

The copy keeps every learned array but shuffles which title id each catalogue position
stands for (in the two-tower and in the ranking context alike, one seeded permutation): the
model still runs the whole request path and answers with real titles, but its scores now
belong to other titles, so its lists are close to random. It is registered like any other
version, with ``lineage.weakened_from`` saying what it is.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np

from models.registry import ModelRegistry
from models.retrieval.artifacts import ARRAYS

CATALOGUE_KEYS = {"retrieval/arrays.npz": "space/catalogue", "context.npz": "catalogue"}


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def weakened_copy(registry: ModelRegistry, version: str, seed: int = 0) -> str:
    """Register the weakened copy of ``version``; returns the new version's name."""
    src = registry.version_path(version)
    manifest = registry.manifest(version)
    rng = np.random.default_rng(seed)
    context = _load(src / "context.npz")
    perm = rng.permutation(len(context["catalogue"]))
    context["catalogue"] = context["catalogue"][perm]
    with tempfile.TemporaryDirectory() as tmp:
        retrieval = Path(tmp) / "retrieval"
        retrieval.mkdir()
        arrays = _load(src / "retrieval" / "arrays.npz")
        catalogue = arrays["space/catalogue"]
        if len(catalogue) != len(perm):
            raise ValueError("the two-tower and the ranking context disagree on the catalogue")
        arrays["space/catalogue"] = catalogue[perm]
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        payload = buffer.getvalue()
        (retrieval / ARRAYS).write_bytes(payload)
        r_manifest = json.loads((src / "retrieval" / "manifest.json").read_text())
        r_manifest.setdefault("files", {})[ARRAYS] = {
            "sha256": hashlib.sha256(payload).hexdigest(),
            "bytes": len(payload),
        }
        (retrieval / "manifest.json").write_text(json.dumps(r_manifest, indent=2))
        keep = {k: v for k, v in manifest.items() if k not in ("format", "version", "created_at", "files")}
        keep["lineage"] = {**manifest.get("lineage", {}), "weakened_from": version, "weakened_seed": seed}
        path = registry.save_version(
            retrieval,
            (src / "ranker.json").read_bytes(),
            context,
            json.loads((src / "titles.json").read_text()),
            keep,
        )
    return path.name
