"""The manifest of a segmented run: what the run is (the input's identity and every option that
changes the output) and which segments are finished, with their checksums. Only the driver
writes it, atomically, after each segment; a run that is interrupted in any way (Ctrl-C,
SIGKILL, a crash, a lost Ray worker) leaves it consistent, and the same command again reuses what
it lists as finished and intact.

On disk it is JSON (version 3); in memory, frozen records checked field by field when read, so a
damaged or edited file is refused whole rather than half trusted.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from vsr.atomic import atomic_write
from vsr.pipeline.segments.cutting import Segment
from vsr.pipeline.segments.work_folder import MANIFEST, InputIdentity
from vsr.runtime import Precision

VERSION = 3  # 2: a finished segment records its backend; 3: and the precision it computed in
PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class Fingerprint:
    """Everything that changes a segment's bytes: a resumed run must match it exactly, or the
    joined video would mix two renderings."""

    model_sha256: str
    output_size: tuple[int, int]
    """(width, height)"""
    codec: str
    pix_fmt: str
    crf: int | None
    preset: str | None
    precision: str
    """As asked (auto included); what it resolved to is the manifest's `precision`."""
    backend: str
    device: str
    """The kind of device: cpu or cuda."""
    colour_conversion: str
    temporal_blend: float
    segment_seconds: float
    versions: tuple[tuple[str, str], ...]
    """(library, version) of vsr and of what computes and encodes: torch, PyAV, libavcodec."""


@dataclass(frozen=True)
class Finished:
    """A segment's record once its files are complete."""

    frames: int
    sha256: str
    """Of its video and timing files (`work_folder.segment_checksum`)."""
    warnings: tuple[str, ...]
    backend: str
    precision: str
    """What the network computed in for this segment."""


@dataclass(frozen=True)
class SegmentRecord:
    segment: Segment
    done: Finished | None = None


@dataclass
class Manifest:
    input: InputIdentity
    options: Fingerprint
    segments: list[SegmentRecord]
    precision: Precision
    """What the first run's precision resolved to (fp32, fp16 or bf16), kept for every later segment."""
    version: int = field(default=VERSION)

    @classmethod
    def fresh(cls, identity: InputIdentity, options: Fingerprint, segments: list[Segment], precision: str) -> Manifest:
        if precision not in PRECISIONS:
            raise ValueError(f"a resolved precision is one of {', '.join(PRECISIONS)}, not {precision!r}")
        return cls(identity, options, [SegmentRecord(s) for s in segments], cast(Precision, precision))

    @classmethod
    def load(cls, work: Path) -> Manifest | None:
        """The manifest in `work`, or None when there is none; UnreadableManifest when there is
        one this run cannot trust (damaged, edited, or from another version of vsr)."""
        path = work / MANIFEST
        if not path.is_file():
            return None
        try:
            return _from_json(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise UnreadableManifest(f"its manifest cannot be used ({type(exc).__name__}: {exc})") from exc

    def save(self, work: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        with atomic_write(work / MANIFEST) as tmp:
            tmp.write_text(json.dumps(_to_json(self), indent=1) + "\n")

    def plan(self) -> list[Segment]:
        return [r.segment for r in self.segments]

    def done(self, index: int) -> Finished | None:
        return self.segments[index].done

    def finish(self, index: int, finished: Finished) -> None:
        self.segments[index] = SegmentRecord(self.segments[index].segment, finished)

    def forget(self, index: int) -> None:
        """Segment `index` to be done again (its files are damaged or gone)."""
        self.segments[index] = SegmentRecord(self.segments[index].segment)

    @property
    def finished(self) -> list[Finished]:
        return [r.done for r in self.segments if r.done is not None]

    @property
    def frames_done(self) -> int:
        return sum(f.frames for f in self.finished)

    @property
    def frames_total(self) -> int:
        return sum(r.segment.frames for r in self.segments)

    def differences(self, identity: InputIdentity, options: Fingerprint, segments: list[Segment]) -> list[str]:
        """What makes this manifest another job than the one asked for, in words."""
        said = []
        if self.plan() != segments:
            said.append("the video is cut differently")
        changed = [f.name for f in dataclasses.fields(identity) if getattr(self.input, f.name) != getattr(identity, f.name)]
        if changed:
            said.append(f"the input changed ({', '.join(changed)})")
        options_changed = [f.name for f in dataclasses.fields(options)
                           if getattr(self.options, f.name) != getattr(options, f.name)]
        if options_changed:
            said.append(f"the options changed ({', '.join(sorted(options_changed))})")
        return said


class UnreadableManifest(ValueError):
    """A work folder whose manifest is damaged or not this version's."""


# -- JSON, checked on the way in ---------------------------------------------------------------

def _to_json(manifest: Manifest) -> dict[str, object]:
    options = dataclasses.asdict(manifest.options)
    options["versions"] = dict(manifest.options.versions)
    return {"input": dataclasses.asdict(manifest.input), "options": options,
            "segments": [{**dataclasses.asdict(r.segment), "done": None if r.done is None else dataclasses.asdict(r.done)}
                         for r in manifest.segments],
            "resolved": {"precision": manifest.precision}, "version": manifest.version}


def _from_json(data: Any) -> Manifest:
    """Raise ValueError (or TypeError, KeyError) unless `data` has exactly the shape this version writes."""
    if not isinstance(data, dict) or set(data) != {"input", "options", "segments", "resolved", "version"}:
        raise ValueError("not a vsr manifest")
    if data["version"] != VERSION:
        raise ValueError(f"version {data['version']!r}, this vsr writes {VERSION}")
    if not all(isinstance(data[k], dict) for k in ("input", "options", "resolved")):
        raise ValueError("input, options and resolved must be objects")
    precision = data["resolved"].get("precision")
    if precision not in PRECISIONS:
        raise ValueError("no resolved precision")
    identity = _record(InputIdentity, data["input"], {"path": str, "size": int, "mtime_ns": int, "head_tail_sha256": str})
    options = dict(data["options"])
    versions = options.get("versions")
    if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()):
        raise ValueError("options.versions must map libraries to versions")
    size = options.get("output_size")
    if not (isinstance(size, list) and len(size) == 2 and all(type(v) is int for v in size)):
        raise ValueError("options.output_size must be [width, height]")
    options.update(versions=tuple(versions.items()), output_size=tuple(size))
    fingerprint = _record(Fingerprint, options, {
        "model_sha256": str, "output_size": tuple, "codec": str, "pix_fmt": str, "crf": (int, type(None)),
        "preset": (str, type(None)), "precision": str, "backend": str, "device": str, "colour_conversion": str,
        "temporal_blend": (float, int), "segment_seconds": (float, int), "versions": tuple})
    segments = data["segments"]
    if not isinstance(segments, list) or not segments:
        raise ValueError("no segments")
    records = []
    for i, s in enumerate(segments):
        if not isinstance(s, dict) or set(s) != {"index", "start", "end", "frames", "warmup_from", "done"} or s["index"] != i:
            raise ValueError(f"segment {i} is malformed")
        bounds = [s[k] for k in ("start", "end", "warmup_from") if s[k] is not None]
        if any(type(v) is not int for v in [*bounds, s["frames"]]):
            raise ValueError(f"segment {i} has non-integer bounds")
        done = s["done"]
        finished = None
        if done is not None:
            if not isinstance(done, dict) or not isinstance(done.get("warnings"), list):
                raise ValueError(f"segment {i}'s record is malformed")
            finished = _record(Finished, {**done, "warnings": tuple(done["warnings"])}, {
                "frames": int, "sha256": str, "warnings": tuple, "backend": str, "precision": str})
            if not all(isinstance(w, str) for w in finished.warnings):
                raise ValueError(f"segment {i}'s record is malformed")
        segment = Segment(index=i, start=s["start"], end=s["end"], frames=s["frames"], warmup_from=s["warmup_from"])
        records.append(SegmentRecord(segment, finished))
    return Manifest(identity, fingerprint, records, cast(Precision, precision))


def _record(kind: type[Any], data: Any, types: dict[str, type | tuple[type, ...]]) -> Any:
    """`kind(**data)` where `data` has exactly its fields, each of the type given (bool is not an int)."""
    if not isinstance(data, dict) or set(data) != set(types):
        raise ValueError(f"{kind.__name__} has fields {sorted(data) if isinstance(data, dict) else data!r}, "
                         f"expected {sorted(types)}")
    for name, expected in types.items():
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise ValueError(f"{kind.__name__}.{name} is {value!r}")
    return kind(**data)
