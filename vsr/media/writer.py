"""Encode upscaled frames and remux the other streams into a temporary file beside the
destination, renamed into place only when everything succeeded."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import av.logging
import numpy as np

from vsr.atomic import publish, temporary_beside
from vsr.errors import InputError, OutputError
from vsr.media import color
from vsr.media.reader import DecodedFrame, SourceInfo

DEFAULT_CODECS = {".mp4": "libx264", ".mkv": "libx264", ".mov": "libx264", ".m4v": "libx264", ".webm": "libvpx-vp9"}


# Subtitle codecs each container can hold as they are (Matroska takes any).
_SUBTITLES = {".mp4": {"mov_text"}, ".m4v": {"mov_text"}, ".mov": {"mov_text"}, ".webm": {"webvtt"}}


# Audio codecs each container can hold as they are (Matroska takes any), and what to re-encode to.
_AUDIO = {
    ".mp4": {"aac", "mp3", "ac3", "eac3", "alac", "flac", "opus"},
    ".m4v": {"aac", "mp3", "ac3", "eac3", "alac", "flac", "opus"},
    ".mov": {"aac", "mp3", "ac3", "eac3", "alac", "flac", "opus", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
    ".webm": {"opus", "vorbis"},
}
_STANDARD_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
_AUDIO_FALLBACK = {".mp4": "aac", ".m4v": "aac", ".mov": "aac", ".webm": "libopus"}


def can_hold_audio(path: Path, codec: str) -> bool:
    allowed = _AUDIO.get(path.suffix.lower())
    return allowed is None or codec in allowed


def can_hold_subtitle(path: Path, codec: str) -> bool:
    allowed = _SUBTITLES.get(path.suffix.lower())
    return allowed is None or codec in allowed


def default_codec(path: Path) -> str:
    codec = DEFAULT_CODECS.get(path.suffix.lower())
    if codec is None:
        raise InputError(f"{path}: unknown output container {path.suffix or '(none)'}; use one of {', '.join(DEFAULT_CODECS)} or pass --codec")
    return codec


def choose_pix_fmt(codec: av.Codec, wanted: str) -> str:
    """The input's pixel format when the codec takes it, else the nearest it does (same depth first)."""
    formats = [f.name for f in (codec.video_formats or [])]
    if not formats or wanted in formats:
        return wanted
    high = color.is_high_depth(wanted)
    for candidate in (["yuv420p10le", "yuv444p10le"] if high else []) + ["yuv420p", "yuv444p"]:
        if candidate in formats:
            return candidate
    return formats[0]


def even_size(width: int, height: int, pix_fmt: str) -> tuple[int, int]:
    """Round down to what the pixel format's chroma subsampling allows."""
    mx, my = _chroma_multiple(pix_fmt)
    return max(mx, width - width % mx), max(my, height - height % my)


def _chroma_multiple(pix_fmt: str) -> tuple[int, int]:
    if "420" in pix_fmt or pix_fmt in ("nv12", "nv21"):
        return 2, 2
    if "422" in pix_fmt or "nv16" in pix_fmt:
        return 2, 1
    if "411" in pix_fmt:
        return 4, 1
    return 1, 1


def encoder_options(crf: int | None, preset: str | None) -> dict[str, str]:
    options = {}
    if crf is not None:
        options["crf"] = str(crf)
    if preset is not None:
        options["preset"] = preset
    return options


def check_encoder(codec: str, *, width: int, height: int, pix_fmt: str, options: dict[str, str]) -> None:
    """Open the encoder once with the user's options before any work, so a bad --preset or --crf
    is a usage error up front rather than a failure after decoding has begun."""
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = width, height, pix_fmt, Fraction(1, 25)
    ctx.options = dict(options)
    level = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)  # route the codec's own complaint to us, not to stderr
    try:
        with av.logging.Capture() as logs:
            ctx.open()
    except av.error.FFmpegError as exc:
        said = "; ".join(message.strip() for _, _, message in logs) or str(exc)
        shown = " ".join(f"--{k} {v}" for k, v in options.items()) or "the default settings"
        raise InputError(f"{codec} cannot encode {width}x{height} {pix_fmt} with {shown}: {said}") from exc
    finally:
        av.logging.set_level(level)


class VideoWriter:
    """Owns the output container; `write` a frame, `mux` a copied packet, `finish` or `abort`."""

    def __init__(self, path: Path, *, source: SourceInfo, copy_streams: list[av.stream.Stream], width: int,
                 height: int, codec: str, pix_fmt: str, crf: int | None, preset: str | None,
                 background: tuple[int, int, int] = (0, 0, 0)) -> None:
        self.path = path
        self.tmp = temporary_beside(path)
        self.finished = False
        self.source = source
        self.background = np.asarray(background, np.float32)
        self.shifted = 0  # frames moved one tick later because they shared a timestamp
        self._last_pts: int | None = None
        try:
            self.container = av.open(str(self.tmp), mode="w", format=_format_for(path))
            self.container.metadata.update(source.metadata)
            self.video = self._add_video(codec, pix_fmt, width, height, crf, preset)
            self.transcoders: dict[int, tuple[av.stream.Stream, av.AudioResampler]] = {}
            self.copies = {}
            for s in copy_streams:
                if s.type == "audio" and not can_hold_audio(path, s.codec_context.name):
                    self.transcoders[s.index] = self._add_transcoder(s)
                else:
                    self.copies[s.index] = self._add_copy(s)
        except BaseException:
            self.abort()
            raise
        self.pix_fmt = pix_fmt

    def _add_video(self, codec, pix_fmt, width, height, crf, preset):
        rate = self.source.average_rate or Fraction(25)
        stream = self.container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        # Keep the input's clock so every frame's pts carries over unchanged (VFR, offsets).
        stream.time_base = self.source.time_base
        stream.codec_context.time_base = self.source.time_base
        if self.source.rotation:
            stream.set_display_rotation(self.source.rotation)
        if self.source.sample_aspect_ratio:
            stream.codec_context.sample_aspect_ratio = self.source.sample_aspect_ratio
        if self.source.color is not None:
            color.tag_stream(stream.codec_context, self.source.color)
        stream.codec_context.options = encoder_options(crf, preset)
        stream.metadata.update(self.source.stream_metadata)
        return stream

    def _add_copy(self, src):
        try:
            out = self.container.add_stream_from_template(src)
        except (ValueError, av.error.FFmpegError) as exc:
            raise OutputError(f"{self.path}: cannot hold the {src.type} stream #{src.index} ({src.codec_context.name}): {exc}") from exc
        out.metadata.update(src.metadata)
        return out

    def _add_transcoder(self, src):
        """An audio track the container cannot hold as it is: decoded and re-encoded, and said so."""
        codec = _AUDIO_FALLBACK[self.path.suffix.lower()]
        ctx = src.codec_context
        rate = ctx.sample_rate if codec != "libopus" else 48000  # Opus runs at 48 kHz
        out = self.container.add_stream(codec, rate=rate)
        # The standard layout for the channel count: some sources say only "2 channels", which
        # encoders such as aac refuse.
        channels = ctx.layout.nb_channels if ctx.layout else 2
        out.layout = _STANDARD_LAYOUTS.get(channels, ctx.layout.name if ctx.layout else "stereo")
        out.metadata.update(src.metadata)
        self.source.warnings.append(f"audio track #{src.index} ({ctx.name}) cannot go into {self.path.suffix}; "
                                    f"re-encoded to {codec}")
        fmt = out.codec_context.codec.audio_formats[0].name
        return out, av.AudioResampler(format=fmt, layout=out.layout.name, rate=rate)

    def _encode_audio(self, out, resampler, frame) -> None:
        for resampled in resampler.resample(frame):
            for packet in out.encode(resampled):
                self.container.mux(packet)

    def write(self, frame: DecodedFrame) -> None:
        if frame.planes is not None:  # already converted, on the model's device
            out = color.frame_from_planes(frame.planes, self.pix_fmt, self.source.color)
        else:
            rgb = frame.rgb if frame.alpha is None else composite(frame.rgb, frame.alpha, self.background)
            out = (color.from_rgb(rgb, self.source.color, self.pix_fmt) if self.source.color
                   else av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=self.pix_fmt))
        pts = frame.pts
        if pts is not None and self._last_pts is not None and pts <= self._last_pts:
            # Video cannot show two frames at one instant (a 0 ms GIF delay): one tick later.
            pts = self._last_pts + 1
            self.shifted += 1
        self._last_pts = pts if pts is not None else self._last_pts
        out.pts, out.time_base = pts, frame.time_base
        if frame.duration:
            out.duration = frame.duration
        for packet in self.video.encode(out):
            self.container.mux(packet)

    def mux(self, packet: av.Packet) -> None:
        if packet.stream.index in self.transcoders:
            out, resampler = self.transcoders[packet.stream.index]
            for frame in packet.decode():
                self._encode_audio(out, resampler, frame)
            return
        out = self.copies.get(packet.stream.index)
        if out is None:
            return
        packet.stream = out
        self.container.mux(packet)

    def finish(self) -> None:
        try:
            for packet in self.video.encode(None):
                self.container.mux(packet)
            for out, resampler in self.transcoders.values():
                self._encode_audio(out, resampler, None)
                for packet in out.encode(None):
                    self.container.mux(packet)
            self.container.close()
            publish(self.tmp, self.path)
            self.finished = True
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        container = getattr(self, "container", None)
        if container is not None:
            try:
                container.close()
            except Exception:  # the file is being thrown away; its trailer does not matter
                pass
        self.tmp.unlink(missing_ok=True)


def _format_for(path: Path) -> str | None:
    return {".mkv": "matroska", ".webm": "webm", ".mov": "mov", ".mp4": "mp4", ".m4v": "mp4"}.get(path.suffix.lower())


def composite(rgb: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """RGB over a solid background, for containers that cannot hold alpha."""
    a = alpha[..., None].astype(np.float32) / 255.0
    return np.rint(rgb * a + background * (1.0 - a)).astype(np.uint8)
