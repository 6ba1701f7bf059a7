"""A batch of frames through the engine: the bridge between media's frames (uint8/uint16 arrays,
YUV planes, alpha) and the engine's tensors."""

from __future__ import annotations

import numpy as np
import torch

from vsr.media.colour import ColourInfo
from vsr.media.frames import Frame, RgbFrame, YuvFrame
from vsr.runtime import yuv
from vsr.runtime.alpha import bleed, resize_alpha
from vsr.runtime.engine import Engine


def to_tensor(stack: np.ndarray) -> torch.Tensor:
    """uint16 values ride in int32: torch has no unsigned 16-bit arithmetic."""
    return torch.from_numpy(stack.astype(np.int32) if stack.dtype == np.uint16 else stack)


def to_array(t: torch.Tensor) -> np.ndarray:
    out: np.ndarray = t.numpy()
    return out.astype(np.uint16) if out.dtype == np.int32 else out


class BatchUpscaler:
    """Frames in, upscaled frames out, each keeping its timestamp. RGB frames (with alpha, for
    animated and still images) go through the engine as RGB; YUV frames are converted on the
    engine's device, to the output's planes when `planes_out` names a format it converts to,
    else to RGB."""

    def __init__(self, engine: Engine, *, colour: ColourInfo | None = None, planes_out: str | None = None) -> None:
        self.engine, self.colour, self.planes_out = engine, colour, planes_out

    def __call__(self, frames: list[Frame]) -> list[Frame]:
        yuv_frames = [f for f in frames if isinstance(f, YuvFrame)]
        rgb_frames = [f for f in frames if isinstance(f, RgbFrame)]
        if yuv_frames and rgb_frames:
            raise ValueError("a batch is all YUV frames or all RGB frames")
        return self._planes(yuv_frames) if yuv_frames else self._rgb(rgb_frames)

    def _rgb(self, frames: list[RgbFrame]) -> list[Frame]:
        stack = to_tensor(np.stack([f.rgb for f in frames]))
        alpha = None
        if frames[0].alpha is not None:  # animated images: all frames have alpha, or none
            alpha = torch.from_numpy(np.stack([f.alpha for f in frames if f.alpha is not None]))
            # The colour under transparent pixels comes from the visible edge: no fringe.
            stack = bleed(stack, alpha)
        out = to_array(self.engine(stack))
        big_alpha = list(resize_alpha(alpha, self.engine.out_size).numpy()) if alpha is not None else [None] * len(frames)
        return [RgbFrame(rgb=rgb, pts=f.pts, time_base=f.time_base, duration=f.duration, alpha=a)
                for f, rgb, a in zip(frames, out, big_alpha, strict=True)]

    def _planes(self, frames: list[YuvFrame]) -> list[Frame]:
        if self.colour is None:
            raise ValueError("YUV frames need the stream's colour description")
        c = self.colour
        src = yuv.YuvFormat(frames[0].pix_fmt, c.space, c.full_range)
        dst = yuv.YuvFormat(self.planes_out, c.space, c.full_range) if self.planes_out else None
        stacks = [to_tensor(np.stack([f.planes[i] for f in frames])) for i in range(3)]
        out = self.engine.upscale_planes(stacks, src, dst)
        if isinstance(out, torch.Tensor):
            return [RgbFrame(rgb=rgb, pts=f.pts, time_base=f.time_base, duration=f.duration)
                    for f, rgb in zip(frames, out.numpy(), strict=True)]
        y, u, v = (to_array(p) for p in out)
        assert self.planes_out is not None
        return [YuvFrame(planes=(y[k], u[k], v[k]), pix_fmt=self.planes_out, pts=f.pts, time_base=f.time_base,
                         duration=f.duration) for k, f in enumerate(frames)]
