"""The dbt project as Dagster sees it, with its manifest kept under ``$MARQUEE_HOME``.

dagster-dbt needs ``manifest.json`` before the definitions load (STACK-NOTES). We parse the
project on load when the manifest is missing or older than the project's files, so a fresh
clone, a fresh ``MARQUEE_HOME`` and an edited model all just work; nothing is written into
the repo at run time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from marquee.config import REPO_ROOT, MarqueeHome

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


def dbt_env(home: MarqueeHome) -> dict[str, str]:
    """Environment every dbt invocation needs: the warehouse path and no phoning home."""
    return {
        "MARQUEE_WAREHOUSE": str(home.warehouse),
        "MARQUEE_HOME": str(home.root),
        # dagster-dbt writes each invocation's target under DBT_TARGET_PATH (not the repo).
        "DBT_TARGET_PATH": str(home.dbt / "target"),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }


def dbt_executable() -> str:
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def _project_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(DBT_PROJECT_DIR.rglob("*")):
        rel = path.relative_to(DBT_PROJECT_DIR)
        if path.is_file() and rel.parts[0] not in ("target", "logs", "dbt_packages"):
            digest.update(str(rel).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_manifest(home: MarqueeHome) -> Path:
    """Run ``dbt parse`` into ``$MARQUEE_HOME/dbt/target`` unless the manifest is current."""
    target = home.dbt / "target"
    manifest = target / "manifest.json"
    stamp = target / "marquee-project.sha256"
    fingerprint = _project_fingerprint()
    if manifest.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return manifest
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **dbt_env(home)}
    cmd = [
        dbt_executable(), "parse", "--quiet",
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(home.dbt / "logs"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{proc.stdout}\n{proc.stderr}")
    stamp.write_text(fingerprint)
    return manifest


def dbt_project(home: MarqueeHome) -> DbtProject:
    ensure_manifest(home)
    return DbtProject(
        project_dir=DBT_PROJECT_DIR,
        profiles_dir=DBT_PROJECT_DIR,
        target_path=home.dbt / "target",
    )


def dbt_resource(home: MarqueeHome, project: DbtProject) -> DbtCliResource:
    # The subprocess inherits os.environ: export what profiles.yml reads.
    os.environ.update(dbt_env(home))
    return DbtCliResource(
        project_dir=project,
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
        global_config_flags=["--log-path", str(home.dbt / "logs")],
    )
