"""`vsr serve`: a local web app and JSON job API over the library (Starlette + uvicorn, the extra
`vsr[serve]`). HTTP only: jobs run through `vsr.Job` in worker processes, with the same
segments, resume and options as `vsr upscale`. Importing this package loads nothing heavy.

    config (ServeConfig) ─► App (routes, security) ─► Store (SQLite) ─► Scheduler ─► worker processes
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr.lazy import exports

if TYPE_CHECKING:
    from vsr.serve.config import ServeConfig
    from vsr.serve.server import serve

__all__ = ["ServeConfig", "serve"]
_ORIGINS = {"ServeConfig": "vsr.serve.config", "serve": "vsr.serve.server"}
__getattr__, __dir__ = exports(__name__, _ORIGINS)
