"""`vsr serve`: the web app and job API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vsr.cli.common import configure_logging


def serve_command(
    host: Annotated[str, typer.Option(help="Where to listen; anything but loopback needs a token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port (0: any free one).")] = 8000,
    root: Annotated[list[Path] | None, typer.Option(
        help="A folder whose files jobs may read (repeat for more); uploads work without any.")] = None,
    output_dir: Annotated[Path | None, typer.Option(
        help="Where outputs go, a folder per job (default: $VSR_HOME/serve/outputs).")] = None,
    token: Annotated[str | None, typer.Option(
        help="Required of every client (default: none on loopback, a random one elsewhere, printed in the URL).")] = None,
    max_upload_gb: Annotated[float, typer.Option(help="The largest upload, in GB.")] = 20.0,
    allow_host: Annotated[list[str] | None, typer.Option(
        help="Another name clients reach this machine by (the Host header), besides its own.")] = None,
) -> None:
    """Serve the web app: upload or pick files, preview a frame, queue jobs, watch them, download.

    Jobs keep their options across restarts; a server stopped or killed mid-job resumes it from
    its finished segments on the next start. Needs vsr[serve].
    """
    from vsr.errors import InputError
    from vsr.serve.config import ServeConfig, is_loopback, new_token

    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise InputError("vsr serve needs Starlette and uvicorn: pip install 'vsr[serve]'") from None
    configure_logging(False)
    if token is None and not is_loopback(host):
        token = new_token()
    from vsr.serve.server import serve

    serve(ServeConfig(host=host, port=port, roots=tuple(root or ()), output_dir=output_dir, token=token,
                      max_upload_bytes=int(max_upload_gb * 2**30), allowed_hosts=tuple(allow_host or ())))
