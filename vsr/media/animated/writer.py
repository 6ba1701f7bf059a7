"""What every animated-image writer shares: frame delays from timestamps, the temporary file that
`finish` publishes, and the frame sizes each format can hold."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Literal

import av

from vsr.atomic import AtomicFile
from vsr.media.animated import DEFAULT_DITHER, Dither
from vsr.media.frames import Frame, RgbFrame, SinkReport
from vsr.media.limits import check_format_size

# What `auto` resolves to, per input: one palette for all frames, or one per frame.
PaletteMode = Literal["global", "per-frame"]


@dataclass(frozen=True)
class AnimationSinkSpec:
    """Everything an animated output needs to know, decided before any work."""

    width: int
    height: int
    plays: int  # 0 = forever
    has_alpha: bool
    gif_palette: PaletteMode = "global"
    dither: Dither = DEFAULT_DITHER
    quality: int | None = None  # WebP: None is lossless


class AnimatedWriter:
    """Frames in, an animated image out, written to a temporary file that `finish` publishes.

    Each frame's delay is the gap to the next frame's timestamp, so equal timestamps give a 0 ms
    delay and irregular ones stay irregular; the last frame keeps its own duration. Subclasses
    write one frame at a time (`emit`) and end the file (`end`); memory stays flat.
    """

    fallback_delay = Fraction(1, 10)  # for a last frame whose source names no duration

    def __init__(self, path: Path, spec: AnimationSinkSpec, *, replace: bool = True) -> None:
        check_format_size(path, spec.width, spec.height)
        self.path, self.spec = path, spec
        self.width, self.height, self.plays, self.has_alpha = spec.width, spec.height, spec.plays, spec.has_alpha
        self.target = AtomicFile(path, replace=replace)
        self.file: BinaryIO = open(self.target.tmp, "wb")  # noqa: SIM115 (closed by finish or abort)
        self.frames = 0
        self.clamped = 0  # delays longer than the format can hold
        self.elapsed = Fraction(0)  # seconds written so far
        self._pending: RgbFrame | None = None

    def write(self, frame: Frame) -> None:
        if not isinstance(frame, RgbFrame):
            raise ValueError("animated images are written from RGB frames")
        if self._pending is not None:
            if frame.pts is not None and self._pending.pts is not None:
                delay = (frame.pts - self._pending.pts) * self._pending.time_base
            else:
                delay = self._duration(self._pending)
            self._send(self._pending, max(Fraction(0), delay))
        self._pending = frame

    def mux(self, packet: av.Packet) -> None:
        """Animated images hold no audio or subtitles."""

    def finish(self) -> SinkReport:
        try:
            if self._pending is not None:
                self._send(self._pending, self._duration(self._pending))
                self._pending = None
            self.end()
            self.file.close()
            self.target.publish()
        except BaseException:
            self.abort()
            raise
        warnings: tuple[str, ...] = ()
        if self.clamped:
            warnings = (f"{self.clamped} delay(s) longer than {self.path.suffix} can hold were shortened to its maximum",)
        return SinkReport(self.path, self.frames, self.path.stat().st_size, warnings)

    def abort(self) -> None:
        self.file.close()
        self.target.discard()

    def _duration(self, frame: RgbFrame) -> Fraction:
        return frame.duration * frame.time_base if frame.duration else self.fallback_delay

    def _send(self, frame: RgbFrame, delay: Fraction) -> None:
        start = self.elapsed
        self.elapsed += delay
        self.emit(frame, start, self.elapsed)
        self.frames += 1

    @staticmethod
    def ticks(start: Fraction, end: Fraction, per_second: int) -> int:
        """A delay in the format's unit, rounded at the frame boundaries so it never drifts."""
        return round(end * per_second) - round(start * per_second)

    def emit(self, frame: RgbFrame, start: Fraction, end: Fraction) -> None:
        """Write one frame shown from `start` to `end` seconds."""
        raise NotImplementedError

    def end(self) -> None:
        """Write what follows the last frame."""
        raise NotImplementedError
