"""Atomic output: write under a temporary name beside the destination, publish by renaming."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def temporary_beside(path: Path) -> Path:
    """A new empty file in the destination's folder (so the final rename cannot cross devices),
    hidden and marked as partial, keeping the extension so muxers can guess the format."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def publish(tmp: Path, path: Path) -> None:
    """Give the file the permissions a normal new file would get, then rename it into place."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 was for the temporary name only
    os.replace(tmp, path)
