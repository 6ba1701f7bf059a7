"""Video in: a stream description probed once, and a frame source that demuxes and decodes.

`probe` opens the file, reads the video stream's parameters and decodes its first frame for what
only a frame says (colour matrix and range, rotation); the result is frozen. `VideoSource` then
yields every video frame with its own timestamp, RGB through swscale or untouched YUV planes,
interleaved with the packets of the streams to copy as the file holds them; what decoding met
(damage, an early end, timestamp gaps) is kept apart, in `DecodeStats`.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.stream

from vsr.errors import InputError
from vsr.media import colour
from vsr.media.frames import Frame, Item, RgbFrame, SourceBase, YuvFrame


@dataclass(frozen=True)
class Track:
    """A stream of the input other than the video: what the output may copy."""

    index: int
    type: str  # "audio", "subtitle", "data", "attachment" …
    codec: str


@dataclass(frozen=True)
class VideoInfo:
    """The input's video stream and container, as probed before any work."""

    path: Path
    width: int
    height: int
    pix_fmt: str
    time_base: Fraction
    average_rate: Fraction | None
    frames_from_header: int | None
    """How many frames the container says the stream holds; None where it does not say (MKV, WebM)."""
    colour: colour.ColourInfo
    rotation: int = 0
    """Counter-clockwise degrees from the display matrix, carried to the output."""
    sample_aspect_ratio: Fraction | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    """The container's (title, …)."""
    stream_metadata: Mapping[str, str] = field(default_factory=dict)
    """The video stream's (language, handler, …)."""
    tracks: tuple[Track, ...] = ()
    duration: float | None = None
    """Seconds, from the stream or else the container; None where neither says."""
    first_pts: int | None = None
    """When the first frame decoded is presented, in `time_base` (a start offset); None where it has no timestamp."""

    @property
    def estimated_frames(self) -> int | None:
        """`frames_from_header`, or where the container does not count them duration × average
        rate; None where neither is known. An estimate for planning and progress, never a check
        on the decode."""
        if self.frames_from_header or not self.duration or not self.average_rate:
            return self.frames_from_header
        return max(1, round(self.duration * float(self.average_rate)))

    @property
    def high_depth(self) -> bool:
        """More than 8 bits per component: RGB must be 16-bit to keep it."""
        return colour.is_high_depth(self.pix_fmt)

    def tracks_of(self, kind: str) -> list[Track]:
        return [t for t in self.tracks if t.type == kind]


UNKNOWN_CODEC = "?"  # a track's codec where FFmpeg has no decoder for its codec id


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


def probe(path: Path) -> VideoInfo:
    """The input's video description; an input whose video has no size or no decodable frame is
    refused here, before any work."""
    with open_input(path) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None:  # FFmpeg has no decoder for the stream's codec id (a corrupt header)
            raise InputError(f"{path}: its video stream's codec is unknown (corrupt, or not one FFmpeg decodes)")
        if not ctx.width or not ctx.height:
            raise InputError(f"{path}: its video stream has no frame size (truncated or corrupt?)")
        tracks = tuple(Track(s.index, s.type, s.codec_context.name if s.codec_context is not None else UNKNOWN_CODEC)
                       for s in container.streams if s is not stream)
        stream.thread_type = "AUTO"
        first = _first_frame(container, stream)
        if first is None:
            raise InputError(f"{path}: no video frame could be decoded")
        return VideoInfo(
            path=path,
            width=ctx.width,
            height=ctx.height,
            pix_fmt=ctx.pix_fmt or first.format.name,
            time_base=stream.time_base or Fraction(1, 90000),
            average_rate=stream.average_rate,
            frames_from_header=stream.frames or None,
            colour=colour.describe(first),
            rotation=int(first.rotation or 0),
            sample_aspect_ratio=stream.sample_aspect_ratio or ctx.sample_aspect_ratio,
            metadata=dict(container.metadata),
            stream_metadata=dict(stream.metadata),
            tracks=tracks,
            duration=_duration(container, stream),
            first_pts=first.pts,
        )


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _first_frame(container: av.container.InputContainer, stream: av.VideoStream) -> av.VideoFrame | None:
    try:
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():  # the last, empty packet drains the decoder
                    return frame
            except av.error.FFmpegError:
                continue
    except av.error.FFmpegError:
        pass
    return None


@dataclass
class DecodeStats:
    """What decoding met, apart from the frames themselves."""

    frames: int = 0
    corrupt_packets: int = 0
    timestamp_gaps: int = 0  # jumps of two frame durations or more: frames lost to damage, or VFR
    ended_early: str | None = None  # the demuxer's complaint when the file stopped short
    # Demuxing ended by itself (the file's end, or damage it cannot pass), not because the
    # consumer stopped: only then is the count of frames decoded one to compare.
    demux_ended: bool = False
    last: tuple[int, int] | None = None  # (pts, duration) of the previous frame

    def count(self, frame: av.VideoFrame) -> None:
        self.frames += 1
        duration = int(frame.duration or 0)
        if frame.pts is not None and self.last is not None:
            last_pts, last_duration = self.last
            if last_duration and last_duration == duration and frame.pts - last_pts >= 2 * duration:
                self.timestamp_gaps += 1
        if frame.pts is not None:
            self.last = (frame.pts, duration)


class VideoSource(SourceBase):
    """The frames of `info`'s video and the packets of the `copy` streams, in file order.

    Frames come as RGB (swscale, with the stream's matrix and range), or as their YUV planes
    untouched where `planes_for(pix_fmt)` says so (the model's device then converts them).
    A packet that fails to decode is skipped and counted, never fatal: the rest of the video
    still comes through, and `warnings()` says how many were lost.

    `start` and `end` (pts, in the stream's time base) limit the frames to those presented in
    [start, end): a segment. Decoding then begins at the keyframe at or before `start` (a seek),
    and stops at the first frame at or past `end`; the decoder gives frames in presentation order,
    so frames a later keyframe's GOP shows earlier (open GOPs) are still decoded here. A seek
    that lands past `start` (an unreliable index) falls back to decoding from the beginning.
    """

    def __init__(self, info: VideoInfo, *, copy: Sequence[int] = (),
                 planes_for: Callable[[str], bool] | None = None, start: int | None = None,
                 end: int | None = None) -> None:
        self.info, self.path, self.planes_for = info, info.path, planes_for
        self.start, self.end = start, end
        self.high_depth = info.high_depth
        self.stats = DecodeStats()
        self._container = open_input(info.path)
        self._video = self._container.streams.video[0]
        self._video.thread_type = "AUTO"
        self._copy = [self._container.streams[i] for i in copy]

    @property
    def ranged(self) -> bool:
        return self.start is not None or self.end is not None

    @property
    def copy_streams(self) -> list[av.stream.Stream]:
        """The input streams whose packets this source yields: templates for the output's."""
        return list(self._copy)

    def decoded(self) -> Iterator[av.VideoFrame]:
        """The video frames alone, decoded and not converted (what `vsr bench` times as decode)."""
        for item in self._demux_decode([]):
            if isinstance(item, av.VideoFrame):
                yield item

    def convert(self, frame: av.VideoFrame) -> Frame:
        """A decoded frame as vsr carries it: its planes where the device converts, else RGB."""
        time_base = frame.time_base or self._video.time_base or self.info.time_base
        duration = int(frame.duration or 0) or None
        if self.planes_for is not None and self.planes_for(frame.format.name):
            y, u, v = colour.planes_of(frame)
            return YuvFrame(planes=(y, u, v), pix_fmt=frame.format.name, pts=frame.pts, time_base=time_base,
                            duration=duration)
        rgb = colour.to_rgb(frame, self.info.colour, high_depth=self.high_depth)
        return RgbFrame(rgb=rgb, pts=frame.pts, time_base=time_base, duration=duration)

    def __iter__(self) -> Iterator[Item]:
        for item in self._in_range():
            if isinstance(item, av.VideoFrame):
                self.stats.count(item)
                yield self.convert(item)
            else:
                yield item

    def _in_range(self) -> Iterator[av.VideoFrame | av.Packet]:
        start, end = self.start, self.end
        if start is None:
            items = self._demux_decode(self._copy)
        else:
            self._container.seek(start, stream=self._video, backward=True)
            items = self._demux_decode(self._copy)
            # Only what follows `start` is kept while looking for it: a long GOP's earlier frames
            # would otherwise all be held in memory at once.
            head: list[av.VideoFrame | av.Packet] = []
            landed: av.VideoFrame | None = None
            for item in items:
                if not isinstance(item, av.VideoFrame):
                    head.append(item)
                elif item.pts is not None and item.pts >= start:
                    landed = item
                    head.append(item)
                    break
            if landed is not None and landed.pts == start:
                items = itertools.chain(head, items)
            else:  # the seek landed past the first frame (an unreliable index): from the beginning
                self._reopen()
                items = self._demux_decode(self._copy)
        for item in items:
            if isinstance(item, av.VideoFrame) and item.pts is not None:
                if start is not None and item.pts < start:
                    continue
                if end is not None and item.pts >= end:
                    return
            yield item

    def _reopen(self) -> None:
        copy = [s.index for s in self._copy]
        self._container.close()
        self._container = open_input(self.path)
        self._video = self._container.streams.video[0]
        self._video.thread_type = "AUTO"
        self._copy = [self._container.streams[i] for i in copy]

    def _demux_decode(self, copy: list[av.stream.Stream]) -> Iterator[av.VideoFrame | av.Packet]:
        packets = self._container.demux([self._video, *copy])
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                self.stats.demux_ended = True
                return
            except av.error.FFmpegError as exc:
                # A truncated or damaged file: keep every frame that decoded, drain the decoder, and say so.
                self.stats.ended_early = str(exc.strerror or exc)
                with contextlib.suppress(av.error.FFmpegError):
                    yield from (f for f in self._video.codec_context.decode(None) if isinstance(f, av.VideoFrame))
                self.stats.demux_ended = True
                return
            if packet.stream is not self._video:
                if packet.size:  # flush packets carry nothing for a remuxer
                    yield packet
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                self.stats.corrupt_packets += 1
                continue
            yield from (f for f in frames if isinstance(f, av.VideoFrame))

    def warnings(self) -> list[str]:
        s, out = self.stats, []
        if s.ended_early is not None:
            out.append(f"{self.path}: the input ends early ({s.ended_early}); kept every frame that decoded")
        if s.timestamp_gaps:
            out.append(f"the video timestamps jump by two frame durations or more {s.timestamp_gaps} time(s): "
                       "frames missing from a damaged input, or a variable frame rate; every timestamp is kept as it is")
        if s.corrupt_packets:
            out.append(f"{s.corrupt_packets} corrupt video packet(s) skipped")
        declared = self.info.frames_from_header
        if declared and s.frames != declared and s.demux_ended and not self.ranged:
            out.append(f"the input declares {declared} frames; {s.frames} decoded")
        return out

    def close(self) -> None:
        self._container.close()
