"""Atomic output: every file vsr publishes is written under a temporary name beside its
destination and renamed into place only when complete, so a reader never sees half a file and a
failure or Ctrl-C leaves nothing behind.

`atomic_write` is the context manager for a file written in one go; `AtomicFile` is the same
mechanism for a writer whose life spans many calls (a video or animation sink): it publishes or
discards when told.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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


class AtomicFile:
    """A destination and the temporary file that becomes it: write `tmp`, then `publish()` or
    `discard()`. Discarding after publishing does nothing. `tmp` may be given (beside `path`)
    where the caller holds a lock on it and removes what a killed run left there."""

    def __init__(self, path: Path, tmp: Path | None = None) -> None:
        self.path = path
        self.tmp = temporary_beside(path) if tmp is None else tmp
        self.published = False

    def publish(self) -> None:
        """Give the file the permissions a normal new file would get, then rename it into place."""
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp's 0600 was for the temporary name only
        os.replace(self.tmp, self.path)
        self.published = True

    def discard(self) -> None:
        if not self.published:
            self.tmp.unlink(missing_ok=True)


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """`with atomic_write(path) as tmp:` write `tmp`; it becomes `path` when the block succeeds
    and is removed when it raises (Ctrl-C included)."""
    target = AtomicFile(path)
    try:
        yield target.tmp
        target.publish()
    finally:
        target.discard()
