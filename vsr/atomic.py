"""Atomic output: write under a temporary name beside the destination, publish by renaming."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vsr.errors import OutputError


def check_output(output: Path, *, overwrite: bool, input_path: Path | None = None) -> None:
    """Refuse, before any work, an output that could not be written or would replace something
    (the input, or an existing file without --overwrite)."""
    if not output.parent.is_dir():
        raise OutputError(f"{output}: the folder {output.parent} does not exist")
    if output.exists() and input_path is not None and output.resolve() == input_path.resolve():
        raise OutputError(f"{output}: is the input; choose another output file")
    if output.exists() and not overwrite:
        raise OutputError(f"{output}: exists; use --overwrite to replace it")


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
