"""Helpers for starting Marquee's own servers as child processes (tests, benchmarks).

A server started from a non-interactive parent inherits ignored SIGINT/SIGTERM and then
cannot be stopped cleanly (docs/STACK.md): children get the default handlers back, in a new
session, so the parent can stop the whole process group.
"""

from __future__ import annotations

import signal
import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def default_signals() -> None:
    """``preexec_fn`` for a child server: default SIGINT / SIGTERM handlers."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
