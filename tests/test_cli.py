"""The `marquee` console script: user errors are one readable line and a non-zero exit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import BIN


def marquee(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "marquee"), "--home", str(home), *args], capture_output=True, text=True, timeout=300
    )


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_import_movielens_missing_path(tmp_path: Path) -> None:
    err = _one_line_error(marquee("import-movielens", str(tmp_path / "nope"), home=tmp_path / "h"))
    assert "nope" in err


def test_import_movielens_unknown_format(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "readme.txt").write_text("not movielens")
    err = _one_line_error(marquee("import-movielens", str(tmp_path / "data"), home=tmp_path / "h"))
    assert "MovieLens" in err


def test_bad_flags_and_selection(tmp_path: Path) -> None:
    assert "positive integer" in _one_line_error(marquee("generate", "--users", "-5", home=tmp_path / "h"))
    assert "expected a date" in _one_line_error(marquee("generate", "--end-date", "soon", home=tmp_path / "h"))
    err = _one_line_error(marquee("run", "--select", "no_such_asset", home=tmp_path / "h"))
    assert "no_such_asset" in err


def test_status_on_empty_home(tmp_path: Path) -> None:
    proc = marquee("status", home=tmp_path / "h")
    assert proc.returncode == 0, proc.stderr
    assert "champion: none" in proc.stdout
