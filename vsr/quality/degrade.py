"""Making the low-resolution side of an evaluation: area (box) downscaling and a real H.264 round
trip at a given CRF, as a stream would have gone through before reaching the viewer."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsr.media.frames import RgbFrame
from vsr.media.video_source import VideoSource, probe


def area_downscale(rgb: np.ndarray, scale: int) -> np.ndarray:
    """HWC uint8 → the mean of each scale×scale block (H and W must be multiples of `scale`)."""
    h, w = rgb.shape[:2]
    blocks = rgb.reshape(h // scale, scale, w // scale, scale, 3).astype(np.float32)
    return np.rint(blocks.mean(axis=(1, 3))).astype(np.uint8)


def crop_to_multiple(rgb: np.ndarray, multiple: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    return rgb[: h - h % multiple, : w - w % multiple]


def encode(frames: Iterable[np.ndarray], path: Path, *, crf: int, rate: Fraction = Fraction(25),
           codec: str = "libx264", preset: str = "medium") -> int:
    """RGB frames → an H.264 (BT.709-tagged, 4:2:0) file at `crf`; returns its video bytes."""
    size = 0
    with av.open(str(path), "w") as out:
        stream: av.VideoStream | None = None
        for i, rgb in enumerate(frames):
            if stream is None:
                added = out.add_stream(codec, rate=rate, options={"crf": str(crf), "preset": preset})
                assert isinstance(added, av.VideoStream), codec
                stream = added
                stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
                stream.codec_context.colorspace = stream.codec_context.color_primaries = 1
                stream.codec_context.color_trc = 1
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
                format="yuv420p", dst_colorspace="itu709")
            frame.colorspace, frame.pts = 1, i
            for packet in stream.encode(frame):
                size += packet.size
                out.mux(packet)
        if stream is not None:
            for packet in stream.encode(None):
                size += packet.size
                out.mux(packet)
    return size


def decode(path: Path) -> Iterator[np.ndarray]:
    """RGB frames of a file, converted with the matrix it is tagged with."""
    with VideoSource(probe(path)) as source:
        for item in source:
            if isinstance(item, RgbFrame):
                yield item.rgb


def h264_round_trip(frames: list[np.ndarray], crf: int) -> list[np.ndarray]:
    """The frames as they come out of an H.264 stream at `crf` (even sizes required)."""
    with tempfile.TemporaryDirectory(prefix="vsr-degrade-") as tmp:
        path = Path(tmp) / "lr.mp4"
        encode(frames, path, crf=crf)
        return list(decode(path))
