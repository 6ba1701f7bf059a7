"""Atomic output: every file vsr publishes is written under a temporary name beside its
destination and renamed into place only when complete, so a reader never sees half a file and a
failure or Ctrl-C leaves nothing behind.

`atomic_write` is the context manager for a file written in one go; `AtomicFile` is the same
mechanism for a writer whose life spans many calls (a video or animation sink): it publishes or
discards when told.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import stat
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
    try:
        found = output.lstat()
        if stat.S_ISLNK(found.st_mode) and output.exists():  # a link: what it points at, if anything
            found = output.stat()
    except FileNotFoundError:
        found = None
    except OSError as exc:  # a name too long for the file system, a loop of links
        raise OutputError(f"{output}: cannot be an output ({exc.strerror})") from exc
    # In bytes, as the file system counts, with room for a process number of 7 digits.
    longest = _name_max(output.parent) - len(os.fsencode(f".{output.stem}.{_OWNER}-1234567.12345678.part{output.suffix}"))
    if longest < 0:
        raise OutputError(f"{output}: the name is too long for the temporary file written beside it; "
                          f"shorten it by {-longest} characters")
    if found is None:
        return
    if input_path is not None and output.resolve() == input_path.resolve():
        raise OutputError(f"{output}: is the input; choose another output file")
    if stat.S_ISDIR(found.st_mode):  # checked now: the rename at the end would fail after all the work
        raise OutputError(f"{output}: is a folder; give the output a file name")
    if not stat.S_ISREG(found.st_mode) and not stat.S_ISLNK(found.st_mode):  # a dangling link is replaceable
        raise OutputError(f"{output}: exists and is not a regular file (a FIFO, device or socket); "
                          f"vsr replaces only regular files")
    if not overwrite:
        raise OutputError(f"{output}: exists; use `overwrite` to replace it", option="overwrite")


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def temporary_beside(path: Path) -> Path:
    """A new empty file in the destination's folder (so the final rename cannot cross devices),
    hidden and marked as partial, keeping the extension so muxers can guess the format. Its name
    holds this machine and process, so that a later run can remove what a killed one left
    (SIGKILL, a crash, a power cut), which it does here."""
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.{_OWNER}-{os.getpid()}.", suffix=f".part{path.suffix}",
                               dir=path.parent)
    os.close(fd)
    return Path(tmp)


# This machine, shortly: on a shared folder another machine's process numbers mean nothing here.
_OWNER = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


# A temporary file of vsr's: .NAME.<machine>-<pid>.<mkstemp's 8 characters>.part.EXT
_TEMPORARY = re.compile(r"\..*\.([0-9a-f]{8})-(\d+)\.[a-z0-9_]{8}\.part(\.[^./]*)?")
_cleaned: set[str] = set()  # folders already cleaned by this process


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove, once per process and folder, the temporary files in `path`'s folder that a vsr
    process of this machine left and that no living process owns; returns them."""
    folder = os.path.abspath(path.parent)
    removed: list[Path] = []
    if folder in _cleaned:
        return removed
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    _cleaned.add(folder)
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or match[1] != _OWNER or _alive(int(match[2])):
            continue
        with contextlib.suppress(FileNotFoundError):  # another run may be cleaning up too
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process; or not a process number
        return True
    return True


class AtomicFile:
    """A destination and the temporary file that becomes it: write `tmp`, then `publish()` or
    `discard()`. Discarding after publishing does nothing. `tmp` may be given (beside `path`)
    where the caller holds a lock on it and removes what a killed run left there. Without
    `replace`, publishing never replaces a file that appeared at `path` meanwhile (another run
    writing the same output, say): it fails, and `discard()` removes this one."""

    def __init__(self, path: Path, tmp: Path | None = None, *, replace: bool = True) -> None:
        self.path, self.replace = path, replace
        self.tmp = temporary_beside(path) if tmp is None else tmp
        self.published = False

    def publish(self) -> None:
        """Give the file the permissions a normal new file would get, then move it into place."""
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp's 0600 was for the temporary name only
        if self.replace:
            os.replace(self.tmp, self.path)
        else:
            _move_unless_taken(self.tmp, self.path)
        self.published = True

    def discard(self) -> None:
        if not self.published:
            self.tmp.unlink(missing_ok=True)


def _move_unless_taken(tmp: Path, path: Path) -> None:
    """Rename `tmp` to `path` only where nothing is there, atomically: a hard link fails if the
    name exists, where a rename would replace it. File systems without hard links (FAT, some
    network shares) get a check and a rename, which leaves a moment's race."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise _taken(path) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS, errno.EXDEV):
            raise
        if os.path.lexists(path):
            raise _taken(path) from None
        os.rename(tmp, path)
        return
    tmp.unlink()


def _taken(path: Path) -> OutputError:
    return OutputError(f"{path}: appeared while vsr was working (another process writing the same output?); "
                       f"left as it is, and this run's result discarded; use `overwrite` to replace it", option="overwrite")


@contextmanager
def atomic_write(path: Path, *, replace: bool = True) -> Iterator[Path]:
    """`with atomic_write(path) as tmp:` write `tmp`; it becomes `path` when the block succeeds
    and is removed when it raises (Ctrl-C included). Without `replace`, see AtomicFile."""
    target = AtomicFile(path, replace=replace)
    try:
        yield target.tmp
        target.publish()
    finally:
        target.discard()
