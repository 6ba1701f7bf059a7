"""Video out: encode upscaled frames and remux the copied streams into a temporary file beside the
destination, published only when everything succeeded."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.stream

from vsr.atomic import AtomicFile
from vsr.media import colour, containers
from vsr.media.frames import Frame, RgbFrame, SinkReport
from vsr.media.stream_copy import CopiedStreams


@dataclass(frozen=True)
class VideoSinkSpec:
    """Everything a video output needs to know, decided before any work."""

    codec: str
    pix_fmt: str
    width: int
    height: int
    time_base: Fraction  # the input's clock, so every frame's pts carries over unchanged
    colour: colour.ColourInfo
    average_rate: Fraction | None = None
    crf: int | None = None
    preset: str | None = None
    rotation: int = 0
    sample_aspect_ratio: Fraction | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    stream_metadata: Mapping[str, str] = field(default_factory=dict)
    background: tuple[int, int, int] = (0, 0, 0)  # under transparent pixels: video holds no alpha


class VideoSink:
    """Owns the output container; `write` a frame, `mux` a copied packet, `finish` or `abort`.

    `copy_streams` are the input streams to carry over (vsr.media.stream_copy).
    """

    def __init__(self, path: Path, spec: VideoSinkSpec, copy_streams: Sequence[av.stream.Stream] = (), *,
                 replace: bool = True) -> None:
        self.path, self.spec = path, spec
        self.target = AtomicFile(path, replace=replace)
        self.frames = 0
        self.shifted = 0  # frames moved one tick later because they shared a timestamp
        self.warnings: list[str] = []
        self._last_pts: int | None = None
        self._container: av.container.OutputContainer | None = None
        try:
            self._container = av.open(str(self.target.tmp), mode="w", format=containers.format_for(path))
            self._container.metadata.update(spec.metadata)
            self._video = self._add_video()
            self._copied = CopiedStreams(self._container, path, copy_streams)
        except BaseException:
            self.abort()
            raise

    @property
    def container(self) -> av.container.OutputContainer:
        assert self._container is not None, "the sink is closed"
        return self._container

    def _add_video(self) -> av.VideoStream:
        spec = self.spec
        stream = self.container.add_stream(spec.codec, rate=spec.average_rate or Fraction(25))
        assert isinstance(stream, av.VideoStream), spec.codec
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, spec.pix_fmt
        stream.time_base = spec.time_base
        stream.codec_context.time_base = spec.time_base
        if spec.rotation:
            stream.set_display_rotation(spec.rotation)
        if spec.sample_aspect_ratio:
            stream.codec_context.sample_aspect_ratio = spec.sample_aspect_ratio
        colour.tag_stream(stream.codec_context, spec.colour)
        stream.codec_context.options = containers.encoder_options(spec.codec, spec.crf, spec.preset)
        stream.metadata.update(spec.stream_metadata)
        return stream

    def write(self, frame: Frame) -> None:
        spec = self.spec
        if isinstance(frame, RgbFrame):
            rgb = frame.rgb if frame.alpha is None else colour.composite(frame.rgb, frame.alpha, spec.background)
            out = colour.from_rgb(rgb, spec.colour, spec.pix_fmt)
        else:  # already converted to the output's planes, on the model's device
            out = colour.frame_from_planes(frame.planes, spec.pix_fmt, spec.colour)
        pts = frame.pts
        if pts is not None and self._last_pts is not None and pts <= self._last_pts:
            # Video cannot show two frames at one instant (a 0 ms GIF delay): one tick later.
            pts = self._last_pts + 1
            self.shifted += 1
        self._last_pts = pts if pts is not None else self._last_pts
        out.pts, out.time_base = pts, frame.time_base
        if frame.duration:
            out.duration = frame.duration
        for packet in self._video.encode(out):
            self.mux_video(packet)
        self.frames += 1

    def mux_video(self, packet: av.Packet) -> None:
        """An encoded video packet into the file."""
        self.container.mux(packet)

    def mux(self, packet: av.Packet) -> None:
        self._copied.mux(packet)

    def finish(self) -> SinkReport:
        try:
            for packet in self._video.encode(None):
                self.mux_video(packet)
            self._copied.finish()
            self.container.close()
            self._container = None
            self.target.publish()
        except BaseException:
            self.abort()
            raise
        if self.shifted:
            tb = self.spec.time_base
            tick = "1 ms" if tb == Fraction(1, 1000) else f"one tick ({tb} s)"
            self.warnings.append(f"{self.shifted} frame(s) at the same instant as the one before (a 0 ms delay) "
                                 f"moved {tick} later: a video cannot show two frames at once")
        return SinkReport(self.path, self.frames, self.path.stat().st_size, (*self._copied.warnings, *self.warnings))

    def abort(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):  # the file is being thrown away; its trailer does not matter
                self._container.close()
            self._container = None
        self.target.discard()
