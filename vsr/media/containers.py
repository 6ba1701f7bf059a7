"""What each output container and encoder can hold, checked before any work: the codec for an
extension, the pixel format an encoder takes, the frame size its chroma subsampling allows, the
audio and subtitle codecs a container can carry as they are."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import av.logging

from vsr.errors import InputError
from vsr.media import colour, hardware_encoders

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


def audio_fallback(path: Path) -> str:
    """The audio encoder for a track the container cannot hold as it is."""
    return _AUDIO_FALLBACK[path.suffix.lower()]


def standard_layout(channels: int, otherwise: str) -> str:
    """The standard channel layout for a channel count: some sources say only "2 channels",
    which encoders such as aac refuse."""
    return _STANDARD_LAYOUTS.get(channels, otherwise)


def can_hold_audio(path: Path, codec: str) -> bool:
    allowed = _AUDIO.get(path.suffix.lower())
    return allowed is None or codec in allowed


def can_hold_subtitle(path: Path, codec: str) -> bool:
    allowed = _SUBTITLES.get(path.suffix.lower())
    return allowed is None or codec in allowed


def default_codec(path: Path) -> str:
    codec = DEFAULT_CODECS.get(path.suffix.lower())
    if codec is None:
        raise InputError(f"{path}: unknown output container {path.suffix or '(none)'}; "
                         f"use one of {', '.join(DEFAULT_CODECS)} or pass `codec`", option="codec")
    return codec


def choose_pix_fmt(codec: av.Codec, wanted: str) -> str:
    """The input's pixel format when the codec takes it, else the nearest it does (same depth first)."""
    formats = [f.name for f in (codec.video_formats or [])]
    if not formats or wanted in formats:
        return wanted
    high = colour.is_high_depth(wanted)
    # p010le and nv12: what hardware encoders take (NVENC, Quick Sync, AMF).
    for candidate in (["yuv420p10le", "yuv444p10le", "p010le"] if high else []) + ["yuv420p", "yuv444p", "nv12"]:
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


def encoder_options(codec: str, crf: int | None, preset: str | None) -> dict[str, str]:
    """The encoder's options for --crf and --preset (hardware encoders have names of their own)."""
    if hardware_encoders.family(codec):
        return hardware_encoders.options(codec, crf, preset)
    options = {}
    if crf is not None:
        options["crf"] = str(crf)
    if preset is not None:
        options["preset"] = preset
    return options


# The CRF scale each encoder has (x264 and x265 clamp anything above without a word; 10-bit x264
# runs to 63). Encoders not listed are left to say what they accept when opened.
_CRF_MAX = {"libx264": 51, "libx265": 51, "libvpx": 63, "libvpx-vp9": 63, "libaom-av1": 63, "libsvtav1": 63}


def check_crf(codec: str, crf: int | None, pix_fmt: str) -> None:
    top = hardware_encoders.CRF_MAX if hardware_encoders.family(codec) else _CRF_MAX.get(codec)
    if codec == "libx264" and colour.is_high_depth(pix_fmt):
        top = 63
    if crf is not None and top is not None and crf > top:
        raise InputError(f"`crf` {crf}: {codec} takes 0 to {top} (lower is better quality)", option="crf")


def check_muxer(path: Path, codec: str) -> None:
    """Whether the output's container can hold a `codec` video stream, asked of the muxer before
    any work (an .mp4 cannot hold gif, a .webm cannot hold libx264)."""
    name = format_for(path)
    if name is None:
        return
    with av.open(io.BytesIO(), "w", format=name) as probe:
        try:
            probe.add_stream(codec, rate=25)
        except ValueError as exc:
            raise InputError(f"{path.name}: a {path.suffix.lower()} file cannot hold {codec} video; "
                             f"choose another `codec` or output name", option="codec") from exc


def check_encoder(codec: str, *, width: int, height: int, pix_fmt: str, options: dict[str, str]) -> None:
    """Open the encoder once with the user's options before any work, so a bad --preset or --crf
    is a usage error up front rather than a failure after decoding has begun."""
    ctx = av.CodecContext.create(codec, "w")
    if not isinstance(ctx, av.VideoCodecContext):
        raise InputError(f"`codec` {codec} is not a video encoder", option="codec")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = width, height, pix_fmt, Fraction(1, 25)
    ctx.options = dict(options)
    level = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)  # route the codec's own complaint to us, not to stderr
    try:
        with av.logging.Capture() as logs:
            ctx.open()
    except av.error.FFmpegError as exc:
        said = "; ".join(message.strip() for _, _, message in logs) or str(exc)
        if hardware_encoders.family(codec) and (not options or not _opens(codec, width, height, pix_fmt)):
            raise hardware_encoders.unavailable_error(codec, said) from exc
        shown = " ".join(f"`{k}` {v}" for k, v in options.items()) or "the default settings"
        raise InputError(f"{codec} cannot encode {width}x{height} {pix_fmt} with {shown}: {said}",
                         option=tuple(options)) from exc
    finally:
        av.logging.set_level(level)


def _opens(codec: str, width: int, height: int, pix_fmt: str) -> bool:
    """Whether the encoder opens with its defaults: for a hardware encoder that failed with the
    user's options, it tells a missing GPU from a bad option."""
    ctx = av.CodecContext.create(codec, "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = width, height, pix_fmt, Fraction(1, 25)
    try:
        with av.logging.Capture():
            ctx.open()
    except av.error.FFmpegError:
        return False
    return True


def format_for(path: Path) -> str | None:
    return {".mkv": "matroska", ".webm": "webm", ".mov": "mov", ".mp4": "mp4", ".m4v": "mp4"}.get(path.suffix.lower())


