"""Segments of an upscaled video: each encoded on its own into Matroska, its packets' exact
timestamps beside it, and joined into the output by remuxing (no re-encode).

Matroska holds any codec and its parameters, but rounds timestamps to milliseconds; the sidecar
keeps every packet's pts, dts and duration exactly, in the source's time base, so the joined
output has the timestamps a single stream would have had.

Each segment's encoder starts afresh, so its decode timestamps begin a reorder delay before its
first frame and overlap the previous segment's last ones. The joiner gives the whole stream the
decode timestamps one encoder would: the presentation times in order, shifted by the largest
reorder depth any packet needs.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.stream

from vsr.atomic import AtomicFile, atomic_write
from vsr.errors import BackendError
from vsr.media import containers
from vsr.media.frames import SinkReport
from vsr.media.stream_copy import CopiedStreams
from vsr.media.video_sink import VideoSink, VideoSinkSpec
from vsr.media.video_source import VideoInfo, open_input

Timing = list[list[int]]  # per packet, in decode order: pts, dts, duration, keyframe (0/1)


def timing_path(segment: Path) -> Path:
    return segment.with_suffix(".timing.json")


class SegmentSink(VideoSink):
    """A segment's frames, encoded as the output's video stream is, into `path` (.mkv), and the
    sidecar of exact packet timestamps, written when the segment is finished."""

    def __init__(self, path: Path, spec: VideoSinkSpec) -> None:
        # The container's metadata, rotation and other streams come once, at the join.
        super().__init__(path, replace(spec, rotation=0, metadata={}, stream_metadata={}))
        self.timing: Timing = []

    def mux_video(self, packet: av.Packet) -> None:
        if packet.pts is None:
            raise BackendError(f"{self.path}: the encoder gave a packet without a timestamp")
        dts = packet.pts if packet.dts is None else packet.dts
        self.timing.append([packet.pts, dts, packet.duration or 0, int(packet.is_keyframe)])
        super().mux_video(packet)

    def finish(self) -> SinkReport:
        report = super().finish()  # the encoder's last packets come here
        try:
            with atomic_write(timing_path(self.path)) as tmp:
                tb = self.spec.time_base
                tmp.write_text(json.dumps({"time_base": [tb.numerator, tb.denominator], "packets": self.timing}))
        except BaseException:
            self.path.unlink(missing_ok=True)
            raise
        return report


def read_timing(segment: Path, time_base: Fraction) -> Timing:
    try:
        data = json.loads(timing_path(segment).read_text())
        packets = data["packets"]
        stored = Fraction(*data["time_base"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackendError(f"{timing_path(segment)}: unreadable segment timing ({exc})") from exc
    if stored != time_base:
        raise BackendError(f"{timing_path(segment)}: timestamps in {stored}, expected {time_base}")
    return [list(map(int, p)) for p in packets]


def decode_timestamps(pts: Sequence[int]) -> list[int]:
    """Decode timestamps for packets in decode order with presentation times `pts`: strictly
    increasing, each at or before its packet's pts, as one encoder with a fixed reorder delay
    gives them. The delay is the largest number of places any packet is presented later than
    it is decoded."""
    order = sorted(pts)
    if len(set(order)) != len(order):
        raise BackendError("two video packets share a presentation time; the segments cannot be joined")
    delay = max((j - bisect.bisect_left(order, p) for j, p in enumerate(pts)), default=0)
    step = min((b - a for a, b in itertools.pairwise(order)), default=1)
    return [order[j - delay] if j >= delay else order[0] - (delay - j) * step for j in range(len(pts))]


def join_segments(output: Path, segments: Sequence[Path], spec: VideoSinkSpec, source: VideoInfo,
                  copy: Sequence[int] = (), *, scratch: Path | None = None, replace: bool = False) -> SinkReport:
    """The segments' video packets, in order and with their exact timestamps, and the `copy`
    streams of the source (audio, subtitles) packet for packet, muxed into `output` atomically
    (through `scratch`, if given). Container and stream metadata, rotation and the video's timing
    come from the source; a file found at `output` is replaced only with `replace`."""
    timings = [read_timing(s, spec.time_base) for s in segments]
    dts = decode_timestamps([p[0] for timing in timings for p in timing])
    target = AtomicFile(output, scratch, replace=replace)
    container: av.container.OutputContainer | None = None
    try:
        container = av.open(str(target.tmp), mode="w", format=containers.format_for(output))
        container.metadata.update(spec.metadata)
        video = _video_stream(container, segments, spec)
        with open_input(source.path) as src:
            copied = CopiedStreams(container, output, [src.streams[i] for i in copy])
            frames = 0
            merged = heapq.merge(_video_packets(segments, timings, dts, spec.time_base, video),
                                 _copied_packets(src, copy), key=lambda item: item[0])
            for _, kind, packet in merged:
                if kind == 0:
                    container.mux(packet)
                    frames += 1
                else:
                    copied.mux(packet)
            copied.finish()
        container.close()
        container = None
        target.publish()
    except BaseException:
        if container is not None:
            with contextlib.suppress(Exception):  # being thrown away
                container.close()
        target.discard()
        raise
    return SinkReport(output, frames, output.stat().st_size, tuple(copied.warnings))


def _video_stream(container: av.container.OutputContainer, segments: Sequence[Path],
                  spec: VideoSinkSpec) -> av.VideoStream:
    """The output's video stream, from the first segment's; every segment must have been encoded
    with the same parameters, or its packets would not decode in this stream."""
    with av.open(str(segments[0])) as first:
        template = first.streams.video[0]
        extradata = template.codec_context.extradata
        stream = container.add_stream_from_template(template)
    assert isinstance(stream, av.VideoStream)
    for other in segments[1:]:
        with av.open(str(other)) as segment:
            if segment.streams.video[0].codec_context.extradata != extradata:
                raise BackendError(f"{other}: encoded with other parameters than {segments[0].name}; "
                                   "run again with `no_resume`", option="no_resume")
    stream.time_base = spec.time_base
    if spec.rotation:
        stream.set_display_rotation(spec.rotation)
    stream.metadata.update(spec.stream_metadata)
    return stream


def _video_packets(segments: Sequence[Path], timings: Sequence[Timing], dts: Sequence[int], time_base: Fraction,
                   stream: av.VideoStream) -> Iterator[tuple[Fraction, int, av.Packet]]:
    k = 0
    for path, timing in zip(segments, timings):
        count = 0
        with av.open(str(path)) as segment:
            for packet in segment.demux(segment.streams.video[0]):
                if not packet.size:
                    continue
                if count == len(timing):
                    raise BackendError(f"{path}: holds more packets than its timing ({len(timing)})")
                pts, _, duration, _ = timing[count]
                packet.stream = stream
                packet.time_base = time_base
                packet.pts, packet.dts = pts, dts[k]
                # The timing's duration is exact; where the encoder gave none, the MKV's (rounded to
                # its milliseconds) is still better than none: an MP4's last sample needs one.
                if duration:
                    packet.duration = duration
                yield dts[k] * time_base, 0, packet
                count += 1
                k += 1
        if count != len(timing):
            raise BackendError(f"{path}: holds {count} packets, its timing {len(timing)}")


def _copied_packets(src: av.container.InputContainer, copy: Sequence[int]) -> Iterator[tuple[Fraction, int, av.Packet]]:
    if not copy:
        return
    last = Fraction(-10**9)
    for packet in src.demux([src.streams[i] for i in copy]):
        if not packet.size:
            continue
        when = packet.dts if packet.dts is not None else packet.pts
        if when is not None and packet.time_base is not None:
            last = when * packet.time_base
        yield last, 1, packet
