"""Demux and decode: video frames as RGB arrays with their own timestamps, every other stream's
packets untouched, in the order the file holds them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsr.errors import InputError
from vsr.media import color

log = logging.getLogger(__name__)


@dataclass
class DecodedFrame:
    rgb: np.ndarray | None  # HWC, uint8 or uint16; None when the frame travels as `planes`
    pts: int | None
    time_base: Fraction
    alpha: np.ndarray | None = None  # HW uint8, for animated images with transparency
    duration: int | None = None  # in time_base units, when the source says
    planes: tuple[np.ndarray, ...] | None = None  # Y, U, V as decoded, for colour conversion on the GPU
    planes_format: str | None = None  # their pixel format


@dataclass
class SourceInfo:
    path: Path
    width: int
    height: int
    pix_fmt: str
    time_base: Fraction
    average_rate: Fraction | None
    frames: int  # 0 when the container does not say
    color: color.ColorInfo | None = None
    high_depth: bool = False
    rotation: int = 0  # counter-clockwise degrees from the display matrix, carried to the output
    sample_aspect_ratio: Fraction | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # the container's (title, …)
    stream_metadata: dict[str, str] = field(default_factory=dict)  # the video stream's (language, handler, …)
    corrupt_packets: int = 0
    timestamp_gaps: int = 0  # jumps of two frame durations or more: frames lost to damage, or VFR
    _last: tuple[int, int] | None = None  # (pts, duration) of the previous frame
    warnings: list[str] = field(default_factory=list)


def open_input(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a media file")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except PermissionError as exc:
        raise InputError(f"{path}: cannot be read (permission denied)") from exc
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a media file PyAV/FFmpeg can read ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: has no video stream")
    return container


def probe(container: av.container.InputContainer, path: Path) -> SourceInfo:
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if not ctx.width or not ctx.height:
        raise InputError(f"{path}: its video stream has no frame size (truncated or corrupt?)")
    return SourceInfo(
        path=path,
        width=ctx.width,
        height=ctx.height,
        pix_fmt=ctx.pix_fmt or "yuv420p",
        time_base=stream.time_base or Fraction(1, 90000),
        average_rate=stream.average_rate,
        frames=stream.frames or 0,
        high_depth=color.is_high_depth(ctx.pix_fmt) if ctx.pix_fmt else False,
        sample_aspect_ratio=stream.sample_aspect_ratio or ctx.sample_aspect_ratio,
        metadata=dict(container.metadata),
        stream_metadata=dict(stream.metadata),
    )


def demux(container: av.container.InputContainer, info: SourceInfo, copy_streams: list[av.stream.Stream], *,
          planes_for: Callable[[str], bool] = lambda pix_fmt: False) -> Iterator[DecodedFrame | av.Packet]:
    """Yield decoded video frames and the packets of `copy_streams`, interleaved as in the file.

    Frames come as RGB, or as their YUV planes untouched where `planes_for(pix_fmt)` says so
    (the model's device then converts them).

    A packet that fails to decode is skipped and counted, never fatal: the rest of the video
    still comes through, and the caller reports how many were lost.
    """
    video = container.streams.video[0]
    video.thread_type = "AUTO"
    packets = container.demux([video, *copy_streams])
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as exc:
            # A truncated or damaged file: keep every frame that decoded, drain the decoder, and say so.
            info.warnings.append(f"{info.path}: the input ends early ({exc.strerror or exc}); kept every frame that decoded")
            try:
                yield from _convert(video.codec_context.decode(None), info, video, planes_for)
            except av.error.FFmpegError:
                pass
            return
        if packet.stream is not video:
            if packet.size:  # flush packets carry nothing for a remuxer
                yield packet
            continue
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            info.corrupt_packets += 1
            continue
        yield from _convert(frames, info, video, planes_for)


def _convert(frames, info: SourceInfo, video, planes_for) -> Iterator[DecodedFrame]:
    for frame in frames:
        if info.color is None:
            info.color = color.describe(frame)
            info.rotation = int(frame.rotation or 0)
        duration = int(getattr(frame, "duration", 0) or 0)
        if frame.pts is not None and info._last is not None:
            last_pts, last_duration = info._last
            if last_duration and last_duration == duration and frame.pts - last_pts >= 2 * duration:
                info.timestamp_gaps += 1
        if frame.pts is not None:
            info._last = (frame.pts, duration)
        time_base = frame.time_base or video.time_base
        if planes_for(frame.format.name):
            yield DecodedFrame(rgb=None, planes=color.planes_of(frame), planes_format=frame.format.name,
                               pts=frame.pts, time_base=time_base, duration=duration or None)
        else:
            yield DecodedFrame(rgb=color.to_rgb(frame, info.color, high_depth=info.high_depth),
                               pts=frame.pts, time_base=time_base, duration=duration or None)
