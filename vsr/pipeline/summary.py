"""What a run reports: a `Summary` per upscaled file (what `--json` prints), a `FileFailure` for a
file of a folder that could not be done, and a `FolderReport` holding one of either per file."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from vsr.errors import VsrError, as_failure

if TYPE_CHECKING:
    from vsr.pipeline.plan import Plan


class SummaryDict(TypedDict):
    """A `Summary` as JSON (`vsr upscale --json`)."""

    input: str
    output: str
    frames: int
    seconds: float
    fps: float
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    codec: str
    pix_fmt: str
    model: str
    device: str
    bytes: int
    warnings: tuple[str, ...]
    backend: str
    precision: str
    segments: int
    segments_resumed: int
    executor: str
    workers: int


class FailureDict(TypedDict):
    """A `FileFailure` as JSON."""

    input: str
    error: str


@dataclass(frozen=True)
class Summary:
    """What one upscale did; `--json` prints `as_dict()`."""

    input: str
    output: str
    frames: int
    """Frames written, those of resumed segments included."""
    seconds: float
    """Wall time of this run (in a folder done by a pool of workers, from the pool's start)."""
    fps: float
    """Frames this run upscaled a second (resumed segments left out)."""
    input_size: tuple[int, int]
    """(width, height)"""
    output_size: tuple[int, int]
    """(width, height)"""
    codec: str
    pix_fmt: str
    model: str
    device: str
    bytes: int
    """The output's size in bytes."""
    warnings: tuple[str, ...]
    backend: str
    """The backend that ran the network; for segments, each one used, in order, joined by commas."""
    precision: str
    """What the network computed in: fp32, fp16, bf16 or int8 (segments: as `backend`)."""
    segments: int = 1
    """How the work was cut (1: one stream)."""
    segments_resumed: int = 0
    """Segments an interrupted run had finished, reused."""
    executor: str = "local"
    workers: int = 1

    def as_dict(self) -> SummaryDict:
        return SummaryDict(**asdict(self))  # type: ignore[typeddict-item]  # the same fields, checked by a test


def summarise(plan: Plan, *, frames: int, upscaled: int, seconds: float, model: str, device: str, bytes: int,
              warnings: Iterable[str], backend: str, precision: str, segments: int = 1, segments_resumed: int = 0,
              executor: str = "local", workers: int = 1) -> Summary:
    """The summary of `plan` done: `frames` written, `upscaled` of them by this run, in `seconds`."""
    return Summary(input=str(plan.input), output=str(plan.output), frames=frames, seconds=round(seconds, 3),
                   fps=speed(upscaled, seconds), input_size=plan.in_size, output_size=plan.out_size, codec=plan.codec,
                   pix_fmt=plan.pix_fmt, model=model, device=device, bytes=bytes, warnings=once(warnings),
                   backend=backend, precision=precision, segments=segments, segments_resumed=segments_resumed,
                   executor=executor, workers=workers)


def speed(frames: int, seconds: float) -> float:
    """Frames a second, as summaries round it."""
    return round(frames / seconds, 3) if seconds else 0.0


def once(messages: Iterable[str]) -> tuple[str, ...]:
    """Each message once, in the order first said."""
    return tuple(dict.fromkeys(messages))


@dataclass(frozen=True)
class FileFailure:
    """A file of a folder that could not be upscaled, and why."""

    input: str
    error: str
    """vsr's one line: what went wrong and what to do."""
    option: str | tuple[str, ...] | None = None
    """The parameters the error names (see `VsrError.option`)."""

    @classmethod
    def of(cls, input: str | Path, exc: Exception) -> FileFailure:
        failure = as_failure(exc)
        return cls(str(input), str(failure), failure.option)

    def as_dict(self) -> FailureDict:
        return FailureDict(input=self.input, error=self.error)

    def for_command_line(self) -> str:
        """The error as the CLI says it (flags for the parameters it names)."""
        return VsrError(self.error, option=self.option).for_command_line()


@dataclass(frozen=True)
class FolderReport:
    """One entry per file of the folder, in name order: its summary, or why it failed."""

    input: str
    output: str
    files: tuple[Summary | FileFailure, ...]

    @property
    def failures(self) -> list[FileFailure]:
        return [f for f in self.files if isinstance(f, FileFailure)]

    def as_rows(self) -> Sequence[SummaryDict | FailureDict]:
        return [f.as_dict() for f in self.files]
