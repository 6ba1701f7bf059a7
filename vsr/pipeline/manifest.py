"""The work folder of a segmented run and its manifest: what the run is (the input's identity and
every option that changes the output) and which segments are finished, with their checksums.
Only the driver writes it, atomically, after each segment; a run that is interrupted in any way
(Ctrl-C, SIGKILL, a crash, a lost Ray worker) leaves it consistent, and the same command again
reuses what it lists as finished and intact."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vsr.atomic import atomic_write
from vsr.errors import OutputError
from vsr.media.segment_files import timing_path
from vsr.pipeline.segments import Segment

VERSION = 3  # 2: a finished segment records its backend; 3: and the precision it computed in
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


def input_identity(path: Path) -> dict[str, Any]:
    """Size, modification time and a hash of the first and last MiB."""
    stat = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as f:
        digest.update(f.read(_EDGE))
        if stat.st_size > _EDGE:
            f.seek(max(_EDGE, stat.st_size - _EDGE))
            digest.update(f.read(_EDGE))
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "head_tail_sha256": digest.hexdigest()}


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


@dataclass
class Manifest:
    input: dict[str, Any]
    options: dict[str, Any]
    # Segment fields, and "done": {"frames", "sha256", "warnings", "backend", "precision"} once finished
    segments: list[dict[str, Any]]
    resolved: dict[str, Any] = field(default_factory=dict)  # choices made on the first run (precision)
    version: int = VERSION

    @classmethod
    def fresh(cls, identity: dict[str, Any], options: dict[str, Any], segments: list[Segment],
              resolved: dict[str, Any]) -> Manifest:
        return cls(identity, options, [{**asdict(s), "done": None} for s in segments], resolved)

    @classmethod
    def load(cls, work: Path) -> Manifest | None:
        """The manifest in `work`, or None when there is none; UnreadableManifest when there is
        one this run cannot trust (damaged, edited, or from another version of vsr)."""
        path = work / MANIFEST
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            _check(data)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise UnreadableManifest(f"its manifest cannot be used ({type(exc).__name__}: {exc})") from exc
        return cls(**data)

    def save(self, work: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        with atomic_write(work / MANIFEST) as tmp:
            tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")

    def plan(self) -> list[Segment]:
        return [Segment(**{k: v for k, v in s.items() if k != "done"}) for s in self.segments]

    def done(self, index: int) -> dict[str, Any] | None:
        done: dict[str, Any] | None = self.segments[index]["done"]
        return done

    def finish(self, index: int, *, frames: int, sha256: str, warnings: list[str], backend: str, precision: str) -> None:
        self.segments[index]["done"] = {"frames": frames, "sha256": sha256, "warnings": warnings, "backend": backend,
                                        "precision": precision}

    def differences(self, identity: dict[str, Any], options: dict[str, Any], segments: list[Segment]) -> list[str]:
        """What makes this manifest another job than the one asked for, in words."""
        said = []
        if self.plan() != segments:
            said.append("the video is cut differently")
        changed = [k for k in ("path", "size", "mtime_ns", "head_tail_sha256") if self.input.get(k) != identity.get(k)]
        if changed:
            said.append(f"the input changed ({', '.join(changed)})")
        options_changed = sorted(k for k in {*self.options, *options} if self.options.get(k) != options.get(k))
        if options_changed:
            said.append(f"the options changed ({', '.join(options_changed)})")
        return said


class UnreadableManifest(ValueError):
    """A work folder whose manifest is damaged or not this version's."""


_DONE_KEYS = {"frames": int, "sha256": str, "warnings": list, "backend": str, "precision": str}


def _check(data: Any) -> None:
    """Raise ValueError unless `data` has the shape a manifest of this version has."""
    if not isinstance(data, dict) or set(data) != {"input", "options", "segments", "resolved", "version"}:
        raise ValueError("not a vsr manifest")
    if data["version"] != VERSION:
        raise ValueError(f"version {data['version']!r}, this vsr writes {VERSION}")
    if not all(isinstance(data[k], dict) for k in ("input", "options", "resolved")):
        raise ValueError("input, options and resolved must be objects")
    if data["resolved"].get("precision") not in ("fp32", "fp16", "bf16"):
        raise ValueError("no resolved precision")
    segments = data["segments"]
    if not isinstance(segments, list) or not segments:
        raise ValueError("no segments")
    for i, s in enumerate(segments):
        if not isinstance(s, dict) or set(s) != {"index", "start", "end", "frames", "warmup_from", "done"} or s["index"] != i:
            raise ValueError(f"segment {i} is malformed")
        bounds = [s[k] for k in ("start", "end", "warmup_from") if s[k] is not None]
        if any(type(v) is not int for v in [*bounds, s["frames"]]):
            raise ValueError(f"segment {i} has non-integer bounds")
        done = s["done"]
        if done is not None and (not isinstance(done, dict) or set(done) != set(_DONE_KEYS)
                                 or not all(type(done[k]) is t for k, t in _DONE_KEYS.items())):
            raise ValueError(f"segment {i}'s record is malformed")


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
