"""`make ui`: the Dagster UI and daemon on 127.0.0.1, state under $MARQUEE_HOME/dagster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from marquee.config import REPO_ROOT, MarqueeHome
from marquee.pipeline import prepare_dagster_home


def run_ui(home: MarqueeHome, port: int = 3000) -> int:
    home.ensure()
    prepare_dagster_home(home)
    dagster = Path(sys.executable).parent / "dagster"
    cmd = [str(dagster), "dev", "-w", str(REPO_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)]
    return subprocess.call(cmd, cwd=REPO_ROOT, env=os.environ.copy())
