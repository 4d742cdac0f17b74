"""Helpers for starting Marquee's own servers as child processes (tests, benchmarks).

A server started from a non-interactive parent inherits ignored SIGINT/SIGTERM and then
cannot be stopped cleanly (docs/STACK.md): children get the default handlers back, in a new
session, so the parent can stop the whole process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def default_signals() -> None:
    """``preexec_fn`` for a child server: default SIGINT / SIGTERM handlers."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start_server(
    home: Path, port: int, log_path: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen:
    """``marquee serve`` for ``home`` on 127.0.0.1:``port``, output to ``log_path``."""
    full_env = {
        **os.environ, "MARQUEE_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2", "DO_NOT_TRACK": "1",
        **(env or {}),
    }
    marquee = Path(sys.executable).parent / "marquee"
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [str(marquee), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=full_env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=default_signals,
        )


def wait_for_model(
    port: int,
    proc: subprocess.Popen,
    log_path: Path,
    timeout: float = 180,
    ready: Callable[[dict], bool] | None = None,
) -> dict:
    """The server's /health once it serves a model, not degraded (and ``ready(health)``)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
            if health.get("model_version") and not health.get("degraded") and (ready is None or ready(health)):
                return health
        time.sleep(0.5)
    raise RuntimeError(f"server not ready with a model after {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (it finishes requests and flushes), then KILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
