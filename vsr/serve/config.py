"""How `vsr serve` runs: where it listens, what it may read and write, and who may use it."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from vsr.errors import InputError

DEFAULT_PORT = 8000
DEFAULT_MAX_UPLOAD_GB = 20.0


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def state_folder() -> Path:
    """$VSR_HOME/serve, else the user's data folder's vsr/serve: the job table, uploads, outputs."""
    home = os.environ.get("VSR_HOME")
    if home:
        return Path(home).expanduser() / "serve"
    from platformdirs import user_data_path

    return user_data_path("vsr") / "serve"


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    """A server's settings, checked when made."""

    host: str = "127.0.0.1"
    """Where it listens. Anything but loopback needs a token."""
    port: int = DEFAULT_PORT
    roots: tuple[Path, ...] = ()
    """Folders whose files (and folders) jobs may read as inputs; nothing outside them."""
    output_dir: Path | None = None
    """Where outputs are written, a folder per job; None: `state`/outputs."""
    token: str | None = None
    """Required of every request where set (exchanged for a cookie by the page)."""
    max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_GB * 2**30)
    state: Path = field(default_factory=state_folder)
    """The job table, uploads and previews."""
    allowed_hosts: tuple[str, ...] = ()
    """Names besides this machine's own by which clients may reach it (the Host header)."""

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise InputError(f"`host` {self.host}: a server other machines can reach needs a `token`",
                             option=("host", "token"))
        if not 0 <= self.port < 65536:
            raise InputError(f"invalid `port` {self.port}: 0 to 65535", option="port")
        if self.max_upload_bytes < 1:
            raise InputError("invalid `max_upload_gb`: more than 0", option="max_upload_gb")
        for root in self.roots:
            if not root.is_dir():
                raise InputError(f"`root` {root}: not a folder", option="root")
        object.__setattr__(self, "roots", tuple(r.resolve() for r in self.roots))

    @property
    def outputs(self) -> Path:
        return (self.output_dir or self.state / "outputs").resolve()

    @property
    def uploads(self) -> Path:
        return self.state / "uploads"

    @property
    def previews(self) -> Path:
        return self.state / "previews"

    def host_names(self, port: int) -> set[str]:
        """The Host headers this server answers to: loopback names, the address it listens on,
        this machine's names, and `allowed_hosts`; each with and without the port."""
        names = {"localhost", "127.0.0.1", "[::1]", *self.allowed_hosts}
        if self.host not in ("0.0.0.0", "::"):
            names.add(f"[{self.host}]" if ":" in self.host else self.host)
        else:
            hostname = socket.gethostname()
            names |= {hostname, socket.getfqdn()}
            with contextlib.suppress(OSError):
                names |= {str(info[4][0]) for info in socket.getaddrinfo(hostname, None)}
        return names | {f"{name}:{port}" for name in names}

    def url(self, port: int) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/" + (f"?token={self.token}" if self.token else "")
