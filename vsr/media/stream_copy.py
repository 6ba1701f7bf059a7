"""The input's other streams carried into an output container: copied packet for packet where the
container can hold their codec, else (audio only) decoded and re-encoded, and said so. Shared by
the video sink and the segment joiner."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import av.audio.resampler
import av.container
import av.stream

from vsr.errors import OutputError
from vsr.media import containers


class CopiedStreams:
    """Output streams for `sources` in `container`; `mux` their packets, `finish` at the end."""

    def __init__(self, container: av.container.OutputContainer, path: Path,
                 sources: Sequence[av.stream.Stream]) -> None:
        self.container, self.path = container, path
        self.warnings: list[str] = []
        self._transcoders: dict[int, tuple[av.AudioStream, av.audio.resampler.AudioResampler]] = {}
        self._copies: dict[int, av.stream.Stream] = {}
        for s in sources:
            if s.type == "audio" and not containers.can_hold_audio(path, s.codec_context.name):
                self._transcoders[s.index] = self._add_transcoder(s)
            else:
                self._copies[s.index] = self._add_copy(s)

    def _add_copy(self, src: av.stream.Stream) -> av.stream.Stream:
        try:
            out = self.container.add_stream_from_template(src)
        except (ValueError, av.error.FFmpegError) as exc:
            raise OutputError(f"{self.path}: cannot hold the {src.type} stream #{src.index} "
                              f"({src.codec_context.name}): {exc}") from exc
        out.metadata.update(src.metadata)
        return out

    def _add_transcoder(self, src: av.stream.Stream) -> tuple[av.AudioStream, av.audio.resampler.AudioResampler]:
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

    def mux(self, packet: av.Packet) -> None:
        """A packet of one of the source streams (others are ignored)."""
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

    def finish(self) -> None:
        """Drain the re-encoders."""
        for out, resampler in self._transcoders.values():
            self._encode_audio(out, resampler, None)
            for packet in out.encode(None):
                self.container.mux(packet)
