"""Video out: encode upscaled frames and remux the copied streams into a temporary file beside the
destination, published only when everything succeeded."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.audio.resampler
import av.container
import av.stream

from vsr.atomic import AtomicFile
from vsr.errors import OutputError
from vsr.media import colour, containers
from vsr.media.frames import Frame, RgbFrame, SinkReport


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

    `copy_streams` are the input streams to carry over: copied packet for packet where the
    container can hold their codec, else (audio only) decoded and re-encoded, and said so.
    """

    def __init__(self, path: Path, spec: VideoSinkSpec, copy_streams: Sequence[av.stream.Stream] = ()) -> None:
        self.path, self.spec = path, spec
        self.target = AtomicFile(path)
        self.frames = 0
        self.shifted = 0  # frames moved one tick later because they shared a timestamp
        self.warnings: list[str] = []
        self._last_pts: int | None = None
        self._transcoders: dict[int, tuple[av.AudioStream, av.audio.resampler.AudioResampler]] = {}
        self._copies: dict[int, av.stream.Stream] = {}
        self._container: av.container.OutputContainer | None = None
        try:
            self._container = av.open(str(self.target.tmp), mode="w", format=containers.format_for(path))
            self._container.metadata.update(spec.metadata)
            self._video = self._add_video()
            for s in copy_streams:
                if s.type == "audio" and not containers.can_hold_audio(path, s.codec_context.name):
                    self._transcoders[s.index] = self._add_transcoder(s)
                else:
                    self._copies[s.index] = self._add_copy(s)
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
        stream.codec_context.options = containers.encoder_options(spec.crf, spec.preset)
        stream.metadata.update(spec.stream_metadata)
        return stream

    def _add_copy(self, src: av.stream.Stream) -> av.stream.Stream:
        try:
            out = self.container.add_stream_from_template(src)
        except (ValueError, av.error.FFmpegError) as exc:
            raise OutputError(f"{self.path}: cannot hold the {src.type} stream #{src.index} "
                              f"({src.codec_context.name}): {exc}") from exc
        out.metadata.update(src.metadata)
        return out

    def _add_transcoder(self, src: av.stream.Stream) -> tuple[av.AudioStream, av.audio.resampler.AudioResampler]:
        """An audio track the container cannot hold as it is: decoded and re-encoded, and said so."""
        codec = containers.audio_fallback(self.path)
        assert isinstance(src, av.AudioStream)
        ctx = src.codec_context
        rate = ctx.sample_rate if codec != "libopus" else 48000  # Opus runs at 48 kHz
        out = self.container.add_stream(codec, rate=rate)
        assert isinstance(out, av.AudioStream), codec
        channels = ctx.layout.nb_channels if ctx.layout else 2
        layout = containers.standard_layout(channels, ctx.layout.name if ctx.layout else "stereo")
        out.layout = layout
        out.metadata.update(src.metadata)
        self.warnings.append(f"audio track #{src.index} ({ctx.name}) cannot go into {self.path.suffix}; "
                             f"re-encoded to {codec}")
        formats = out.codec_context.codec.audio_formats or []
        return out, av.AudioResampler(format=formats[0].name, layout=layout, rate=rate)

    def _encode_audio(self, out: av.AudioStream, resampler: av.audio.resampler.AudioResampler,
                      frame: av.AudioFrame | None) -> None:
        for resampled in resampler.resample(frame):
            for packet in out.encode(resampled):
                self.container.mux(packet)

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
            self.container.mux(packet)
        self.frames += 1

    def mux(self, packet: av.Packet) -> None:
        if packet.stream.index in self._transcoders:
            out, resampler = self._transcoders[packet.stream.index]
            for frame in packet.decode():
                assert isinstance(frame, av.AudioFrame)
                self._encode_audio(out, resampler, frame)
            return
        target = self._copies.get(packet.stream.index)
        if target is None:
            return
        packet.stream = target
        self.container.mux(packet)

    def finish(self) -> SinkReport:
        try:
            for packet in self._video.encode(None):
                self.container.mux(packet)
            for out, resampler in self._transcoders.values():
                self._encode_audio(out, resampler, None)
                for packet in out.encode(None):
                    self.container.mux(packet)
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
        return SinkReport(self.path, self.frames, self.path.stat().st_size, tuple(self.warnings))

    def abort(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):  # the file is being thrown away; its trailer does not matter
                self._container.close()
            self._container = None
        self.target.discard()
