"""``marquee serve``: one uvicorn worker on the app (uvloop + httptools when installed)."""

from __future__ import annotations

import errno
import logging
import socket

from marquee.config import MarqueeHome
from marquee.errors import MarqueeUserError
from serving.settings import ServingSettings


def _check_bindable(host: str, port: int) -> None:
    """One clear line instead of uvicorn's traceback when the address is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise MarqueeUserError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise MarqueeUserError(f"{host}:{port} is already in use (another server?)") from None
            raise MarqueeUserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def serve(home: MarqueeHome, host: str | None = None, port: int | None = None) -> int:
    import uvicorn

    from serving.app import create_app

    settings = ServingSettings.from_env(host=host, port=port)
    _check_bindable(settings.host, settings.port)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("feast").setLevel(logging.WARNING)  # a registry-refresh line per push
    app = create_app(home, settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=10,
    )
    return 0
