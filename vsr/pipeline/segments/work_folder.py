"""The work folder of a segmented run: where it is, the lock that keeps two runs out of it, the
files it holds (a segment's video and its timing), their checksums, and the input's identity.
Only the driver writes there besides the workers' segment files."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vsr.errors import InputError, OutputError
from vsr.media.segment_files import timing_path

MANIFEST = "manifest.json"
_EDGE = 1 << 20  # bytes hashed at each end of the input: cheap, and catches a replaced file


def work_dir(output: Path, parent: Path | None = None) -> Path:
    """The output's own work folder: hidden beside it (so the final rename stays on one file
    system), or inside `parent` (--work-dir, which may hold other things, and other outputs' work
    folders: only this folder is ever removed), named after the output and its folder."""
    if parent is None:
        return output.with_name(f".{output.name}.vsr-work")
    where = hashlib.sha256(str(output.resolve().parent).encode()).hexdigest()[:10]
    return parent / f"{output.name}-{where}.vsr-work"


def join_file(output: Path) -> Path:
    """Where the joined output is written until it is whole: a name a later run (holding the
    output's lock) can recognise, and remove if a killed run left it."""
    return output.with_name(f".{output.name}.vsr-join{output.suffix}")


@contextmanager
def claim(output: Path) -> Iterator[None]:
    """Hold the output's lock for a segmented run: a second vsr making the same output at the
    same time would share the work folder. The lock dies with the process (flock), so a killed
    run never blocks the next one."""
    try:
        import fcntl
    except ImportError:  # no flock here: nothing to hold
        yield
        return
    lock = output.with_name(f".{output.name}.vsr-lock")
    while True:
        with lock.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise OutputError(f"{output}: another vsr is making it right now; wait for it, or choose another "
                                  "output") from None
            if not _same_file(handle.fileno(), lock):
                continue  # the run holding it finished and removed it between our open and flock: again
            try:
                yield
            finally:
                lock.unlink(missing_ok=True)
            return


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), path.stat())
    except FileNotFoundError:
        return False


@dataclass(frozen=True)
class InputIdentity:
    """Enough of the input to know it is the same file on the next run."""

    path: str
    """Resolved."""
    size: int
    mtime_ns: int
    head_tail_sha256: str
    """Of the first and last MiB."""


def input_identity(path: Path) -> InputIdentity:
    """Size, modification time and a hash of the first and last MiB; an input that can no longer
    be read is a one-line error."""
    try:
        stat = path.stat()
        digest = hashlib.sha256()
        with path.open("rb") as f:
            digest.update(f.read(_EDGE))
            if stat.st_size > _EDGE:
                f.seek(max(_EDGE, stat.st_size - _EDGE))
                digest.update(f.read(_EDGE))
    except OSError as exc:
        raise InputError(f"{path}: can no longer be read ({exc.strerror or exc})") from None
    return InputIdentity(str(path.resolve()), stat.st_size, stat.st_mtime_ns, digest.hexdigest())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def segment_file(work: Path, index: int) -> Path:
    return work / f"segment-{index:05d}.mkv"


def segment_checksum(work: Path, index: int) -> str:
    """Of the segment's video and its timing together."""
    path = segment_file(work, index)
    return hashlib.sha256((file_sha256(path) + file_sha256(timing_path(path))).encode()).hexdigest()


def intact(work: Path, index: int, sha256: str) -> bool:
    """Whether segment `index`'s files are there with the checksum recorded when it finished."""
    try:
        return segment_checksum(work, index) == sha256
    except OSError:
        return False


def clear(work: Path) -> None:
    """Remove the work folder (after a finished run, or to start afresh)."""
    shutil.rmtree(work, ignore_errors=True)


def remove_strays(work: Path, keep: set[int]) -> None:
    """Files of the work folder that no finished segment owns: a killed worker's partial files."""
    wanted = {MANIFEST} | {segment_file(work, i).name for i in keep} | {timing_path(segment_file(work, i)).name
                                                                        for i in keep}
    for path in work.iterdir():
        if path.is_file() and path.name not in wanted:
            path.unlink(missing_ok=True)
