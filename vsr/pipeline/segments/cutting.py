"""Cutting a video into segments at keyframes, where it is long enough to be worth it.

One pass over the video's packets (no decoding) finds every frame's presentation time and the
keyframes. A segment starts at the first keyframe at or after `seconds` past the previous
segment's start and holds the frames presented before the next one, so every frame belongs to
exactly one segment whatever the GOP structure. An input with one keyframe, packets without
timestamps, timestamps that go back (files joined end to end, a wrapped MPEG-TS clock: a range
of times would then name frames from two places), or no more than `seconds` of video is one
segment.

With temporal blending, each output frame depends on the ones before it; a segment then runs
the frames just before its start through the model first (its warm-up, not written), until
what the blend remembers of frames further back is below a quantisation step, so the result
does not depend on where the cuts fall.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vsr.media.kinds import ANIMATED_OUTPUTS, suffix
from vsr.media.sources import InputInfo
from vsr.media.video_source import VideoInfo, open_input
from vsr.pipeline.options import UpscaleOptions

BACKWARDS_SECONDS = 2  # B-frames reorder by a fraction of this; further back is a discontinuity


@dataclass(frozen=True)
class Segment:
    """Frames presented in [start, end), in the stream's time base; None: the stream's start or end."""

    index: int
    start: int | None
    end: int | None
    frames: int
    """Frames presented in the segment, as the scan counted their packets."""
    warmup_from: int | None = None
    """The first frame run through the model before `start`, not written (temporal blending)."""


def warmup_frames(temporal_blend: float) -> int:
    """How many frames before a segment prime the temporal blend: enough that frames further
    back weigh less than 1/512, below an 8-bit step."""
    if temporal_blend <= 0:
        return 0
    return math.ceil(math.log(1 / 512) / math.log(temporal_blend))


def scan(info: VideoInfo) -> tuple[list[int], list[int]] | None:
    """Every video packet's presentation time, sorted, and the keyframes' (a demux, no decode);
    None when some packet has none, or when the times go back further than reordered frames do."""
    times, keys = [], []
    latest = None
    back = int(BACKWARDS_SECONDS / info.time_base)
    with open_input(info.path) as container:
        video = container.streams.video[0]
        try:
            for packet in container.demux(video):
                if not packet.size:
                    continue
                if packet.pts is None or (latest is not None and packet.pts < latest - back):
                    return None
                latest = packet.pts if latest is None else max(latest, packet.pts)
                times.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
        except av.error.FFmpegError:
            pass  # a damaged tail: the segments cover what was read, the last one runs to the end
    return sorted(times), sorted(set(keys))


def plan_segments(info: VideoInfo, seconds: float, *, temporal_blend: float = 0.0) -> list[Segment]:
    """The segments of `info`'s video, about `seconds` long each; one when it cannot or need not
    be cut."""
    found = scan(info) if seconds > 0 else None
    if not found or not found[0]:
        return [Segment(0, None, None, info.estimated_frames or 0)]
    times, keys = found
    step = Fraction(seconds) / info.time_base
    starts: list[int] = []
    for key in keys:
        if key > times[0] and key >= (starts[-1] if starts else times[0]) + step:
            starts.append(key)
    bounds: list[int | None] = [None, *starts, None]
    warmup = warmup_frames(temporal_blend)
    segments = []
    for i, (start, end) in enumerate(itertools.pairwise(bounds)):
        first = 0 if start is None else bisect.bisect_left(times, start)
        last = len(times) if end is None else bisect.bisect_left(times, end)
        warmup_from = times[max(0, first - warmup)] if start is not None and warmup else None
        segments.append(Segment(i, start, end, last - first, warmup_from))
    return segments


def cut(info: InputInfo, output: Path, options: UpscaleOptions) -> list[Segment] | None:
    """The segments of a video going to a video output; None for anything else (images,
    animations, a video going to an animated image: those run as one stream)."""
    if not isinstance(info, VideoInfo) or suffix(output) in ANIMATED_OUTPUTS:
        return None
    return plan_segments(info, options.execution.segment_seconds, temporal_blend=options.temporal_blend)
