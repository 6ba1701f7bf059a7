"""The units of work a worker runs, and what it sends back: plain, picklable records, the same in
the driver's process, in local worker processes and in Ray actors.

A task is a segment of a video (encoded into the work folder, joined later by the driver) or a
whole file (an image, an animation, a short video: written straight to its output).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vsr.pipeline.options import UpscaleOptions
from vsr.pipeline.plan import Plan
from vsr.pipeline.segments.cutting import Segment
from vsr.pipeline.segments.manifest import Finished
from vsr.pipeline.summary import Summary


@dataclass(frozen=True)
class TaskKey:
    """Which task of a run: a file (its place in the run), and a segment of it or the whole."""

    file: int
    segment: int | None = None


@dataclass(frozen=True)
class SegmentTask:
    key: TaskKey
    plan: Plan
    """The whole video's plan (a video sink); the segment is the part to do."""
    segment: Segment
    work: Path
    """The work folder the segment's files go to."""
    options: UpscaleOptions
    """With the precision the run resolved."""

    @property
    def frames(self) -> int:
        return self.segment.frames


@dataclass(frozen=True)
class FileTask:
    key: TaskKey
    input: Path
    output: Path
    options: UpscaleOptions
    overwrite: bool
    frames: int
    """Expected, for the progress."""


Task = SegmentTask | FileTask


@dataclass(frozen=True)
class TaskResult:
    key: TaskKey
    segment: Finished | None = None
    """A segment's record, for the manifest."""
    summary: Summary | None = None
    """A whole file's summary."""
