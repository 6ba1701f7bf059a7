"""One frame upscaled as a whole run would upscale it, to look at before committing to the run:
the frame at a moment of a video (or of an animation), or a still image, beside the same frame
resized to the output size by a bicubic filter.

Only the frames up to the one asked for are decoded (a video seeks to the keyframe before it),
and the model runs once, eagerly: a preview takes about the time of one frame.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vsr.errors import InputError
from vsr.media.frames import RgbFrame
from vsr.media.sources import InputInfo, open_source
from vsr.media.video_source import VideoInfo, VideoSource
from vsr.pipeline.options import UpscaleOptions
from vsr.pipeline.plan import output_scale, probe_input, scaled


@dataclass(frozen=True)
class Preview:
    """A frame before and after, both at the output's size."""

    before: np.ndarray
    """HWC uint8 RGB: the input frame resized (bicubic) to the output size."""
    after: np.ndarray
    """HWC uint8 RGB: the frame as the model upscales it."""
    time: float
    """Seconds into the input of the frame shown (the first at or after the moment asked for)."""
    alpha: np.ndarray | None = None
    """HW uint8, the output's transparency, where the input has any."""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return self.after.shape[1], self.after.shape[0]


def preview(input: str | Path, time: float = 0.0, options: UpscaleOptions | None = None) -> Preview:
    """The frame of `input` at `time` seconds (a still image: itself), upscaled with `options`."""
    from vsr.models.catalogue import load_model
    from vsr.pipeline.stream.batches import BatchUpscaler
    from vsr.pipeline.stream.one_stream import engine_for

    options = options or UpscaleOptions()
    if not time >= 0:
        raise InputError(f"`time` {time}: seconds from the start, 0 or more", option="time")
    path = Path(input)
    info = probe_input(path, path.with_suffix(".png"), options.max_pixels)
    model = load_model(options.runtime.model)
    size = scaled(info.width, info.height, output_scale(options, model))
    frame = _frame_at(info, time)
    single = dataclasses.replace(options, temporal_blend=0.0)  # one frame has nothing to blend with
    engine = engine_for(model, single, in_size=(info.width, info.height), out_size=size, frames=1)
    [out] = BatchUpscaler(engine, colour=info.colour if isinstance(info, VideoInfo) else None)([frame])
    assert isinstance(out, RgbFrame)
    first = info.first_pts or 0 if isinstance(info, VideoInfo) else 0
    seconds = float((frame.pts - first) * frame.time_base) if frame.pts is not None else 0.0
    return Preview(before=_resized(_eight_bit(frame.rgb), size), after=_eight_bit(out.rgb), time=max(0.0, seconds),
                   alpha=out.alpha)


def _frame_at(info: InputInfo, time: float) -> RgbFrame:
    """The first frame presented at or after `time` seconds; the last one where `time` is past the end."""
    if isinstance(info, VideoInfo):
        if info.duration is not None:  # past the end: its last frame
            frame = 1 / float(info.average_rate) if info.average_rate else 0.0
            time = min(time, max(0.0, info.duration - frame))
        start = round(Fraction(time) / info.time_base) + (info.first_pts or 0)
        with VideoSource(info, start=start) as source:
            found = next((item for item in source if isinstance(item, RgbFrame)), None)
        if found is not None:
            return found
        time = float("inf")  # the duration overstated the frames: the last one there is
    last: RgbFrame | None = None
    with open_source(info) as every:
        for item in every:
            if isinstance(item, RgbFrame):
                last = item
                if item.pts is not None and item.pts * item.time_base >= time:
                    return item
    if last is None:
        raise InputError(f"{info.path}: no frame could be decoded")
    return last


def _eight_bit(rgb: np.ndarray) -> np.ndarray:
    return (rgb >> 8).astype(np.uint8) if rgb.dtype == np.uint16 else rgb


def _resized(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))

