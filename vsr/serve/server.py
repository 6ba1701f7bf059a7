"""Running the web app: bind, say where in one line, serve until Ctrl-C (or SIGTERM), stop within
seconds even with event streams open, and leave the running job queued to resume."""

from __future__ import annotations

import socket
import sys

from vsr.errors import BackendError
from vsr.serve.config import ServeConfig

# With an event stream open, uvicorn would wait for it forever on Ctrl-C: after this many
# seconds it closes what is still open.
GRACEFUL_SECONDS = 2


def bind(config: ServeConfig) -> socket.socket:
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        sock.close()
        raise BackendError(f"cannot listen on {config.host}:{config.port} ({exc.strerror}); choose another `port`",
                           option="port") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(config: ServeConfig) -> None:
    """Serve until stopped; prints `vsr: serving on URL` once listening."""
    import uvicorn

    from vsr.serve.app import App

    sock = bind(config)
    port = sock.getsockname()[1]
    app = App(config, port=port)
    server = uvicorn.Server(uvicorn.Config(app.starlette, log_level="warning", access_log=False, lifespan="on",
                                           timeout_graceful_shutdown=GRACEFUL_SECONDS))
    print(f"vsr: serving on {config.url(port)}", file=sys.stderr, flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
