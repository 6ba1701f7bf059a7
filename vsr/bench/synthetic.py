"""A deterministic moving test clip: what `vsr bench` times when not given a video."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def pattern(width: int, height: int, index: int) -> np.ndarray:
    """A moving test picture with edges, gradients and texture (deterministic)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = index * 3.0
    r = 128 + 100 * np.sin((x + t) / 23.0) * np.cos(y / 17.0)
    g = 128 + 100 * np.sin((x - 2 * t) / 11.0 + y / 29.0)
    b = (x * 255.0 / max(1, width - 1) + t) % 256
    img = np.stack([r, g, b], axis=-1)
    cx, cy = (width / 2 + width / 3 * np.sin(index / 9)), height / 2
    img[(np.abs(x - cx) < width / 10) & (np.abs(y - cy) < height / 8)] = (250, 240, 20)
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_clip(path: Path, size: tuple[int, int], frames: int, *, keyframe_every: int | None = None) -> None:
    """`frames` of `pattern` at 25 fps, libx264 CRF 18; a keyframe every `keyframe_every` frames
    (default: the encoder's choice), which is where segments can start."""
    options = {"crf": "18"} if keyframe_every is None else {"crf": "18", "g": str(keyframe_every)}
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(*size, i), format="rgb24").reformat(format="yuv420p")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
