"""Frames as they travel between media and the model, and the two protocols every input and
output kind implements: a `FrameSource` yields frames (and packets to copy), a `FrameSink`
writes them.

A frame carries its own timestamp, time base and duration from the source: nothing downstream
re-times from a frame rate, so variable frame rates, start offsets and GIF delays survive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol, Self

import av
import av.stream
import numpy as np


@dataclass(frozen=True)
class RgbFrame:
    """HWC RGB, uint8, or uint16 for sources deeper than 8 bits; HW uint8 alpha for animated
    and still images with transparency."""

    rgb: np.ndarray
    pts: int | None
    time_base: Fraction
    duration: int | None = None  # in time_base units, when the source says
    alpha: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"RGB frame must be HWC uint8/uint16 with 3 channels, got {self.rgb.dtype} {self.rgb.shape}")
        if self.alpha is not None and (self.alpha.shape != self.rgb.shape[:2] or self.alpha.dtype != np.uint8):
            raise ValueError(f"alpha must be HW uint8 of the frame's size, got {self.alpha.dtype} {self.alpha.shape}")


@dataclass(frozen=True)
class YuvFrame:
    """The Y, U and V planes of a frame as decoded (uint8, or uint16 above 8 bits), for colour
    conversion on the model's device."""

    planes: tuple[np.ndarray, np.ndarray, np.ndarray]
    pix_fmt: str
    pts: int | None
    time_base: Fraction
    duration: int | None = None

    def __post_init__(self) -> None:
        if len(self.planes) != 3 or any(p.ndim != 2 or p.dtype != self.planes[0].dtype for p in self.planes):
            raise ValueError("a YUV frame holds three 2-D planes of one dtype")


Frame = RgbFrame | YuvFrame
# What a source yields: frames to upscale, and packets of other streams to copy as they are.
Item = Frame | av.Packet


class FrameSource(Protocol):
    """Frames in presentation order, interleaved with the packets of the streams to copy as the
    file holds them. Iterate once; then `warnings()` says what reading met (damage, an early
    end). A source is a context manager that closes its file."""

    path: Path

    @property
    def copy_streams(self) -> list[av.stream.Stream]:
        """The input streams whose packets this source yields: templates for the output's."""
        ...

    def __iter__(self) -> Iterator[Item]: ...

    def warnings(self) -> list[str]: ...

    def close(self) -> None: ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(self, *exc: object) -> None: ...


class SourceBase:
    """What most sources share: no packets to copy, nothing to warn about, nothing to close;
    a context manager that closes."""

    path: Path

    @property
    def copy_streams(self) -> list[av.stream.Stream]:
        return []

    def warnings(self) -> list[str]:
        return []

    def close(self) -> None:
        """Nothing is held open between frames."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class SinkReport:
    """What a finished sink wrote."""

    path: Path
    frames: int
    bytes: int
    warnings: tuple[str, ...] = ()


class FrameSink(Protocol):
    """Writes frames (and copied packets) to a temporary file beside `path`; `finish` publishes it
    and reports, `abort` removes it. After either, the sink is done."""

    path: Path

    def write(self, frame: Frame) -> None: ...

    def mux(self, packet: av.Packet) -> None: ...

    def finish(self) -> SinkReport: ...

    def abort(self) -> None: ...
