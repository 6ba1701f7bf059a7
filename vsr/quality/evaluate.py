"""`vsr eval`: how good the upscaled output is.

Evaluation follows the super-resolution literature: the low-resolution input is the reference
area-downscaled by the scale (optionally through H.264 at a CRF, a realistic stream), metrics are
on the BT.601 luma with `scale` pixels cropped from each border (vsr.quality.metrics).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from vsr.errors import InputError
from vsr.media.image import read_image
from vsr.media.kinds import is_image
from vsr.media.video_source import probe
from vsr.models import DEFAULT_MODEL
from vsr.quality import degrade, metrics

log = logging.getLogger(__name__)

BASELINES = ("bicubic", "lanczos")
DEFAULT_FRAMES = 60


def read_frames(path: Path, limit: int | None) -> Iterator[np.ndarray]:
    """RGB frames of a video, or the one frame of an image."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if is_image(path):
        yield read_image(path)[0]
        return
    yield from islice(degrade.decode(path), limit)


def frame_rate(path: Path) -> Fraction:
    if is_image(path):
        return Fraction(25)
    return probe(path).average_rate or Fraction(25)


def _no_tick(frames: int) -> None:
    pass


# LR frames in stream order → SR frames; `tick(n)` is told as frames are done (a progress bar).
Upscaler = Callable[[list[np.ndarray], Callable[[int], None]], list[np.ndarray]]


def upscaler(name: str, scale: int, *, device: str = "auto", temporal_blend: float = 0.0) -> tuple[str, Upscaler]:
    """(label, function from a list of LR frames to SR frames, in stream order). The function's
    optional `tick(n)` is told as frames are done (a progress bar)."""
    if name == "bicubic":
        def bicubic(frames: list[np.ndarray], tick: Callable[[int], None] = _no_tick) -> list[np.ndarray]:
            x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()
            y = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
            tick(len(frames))
            return list(y.clamp_(0, 255).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy())
        return "bicubic", bicubic
    if name == "lanczos":
        from PIL import Image

        def lanczos(frames: list[np.ndarray], tick: Callable[[int], None] = _no_tick) -> list[np.ndarray]:
            out = [np.asarray(Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale),
                                                        Image.Resampling.LANCZOS)) for f in frames]
            tick(len(frames))
            return out
        return "lanczos", lanczos
    from vsr.models.catalogue import load_model
    from vsr.runtime.device import resolve_device, resolve_precision
    from vsr.runtime.engine import Engine
    from vsr.runtime.temporal import TemporalBlend

    net = load_model(name)
    if scale > net.scale:
        raise InputError(f"`scale` {scale} is above {net.name}'s native ×{net.scale}", option="scale")
    dev = resolve_device(device)
    dtype = resolve_precision("auto", dev, net)

    def run(frames: list[np.ndarray], tick: Callable[[int], None] = _no_tick) -> list[np.ndarray]:
        h, w = frames[0].shape[:2]
        engine = Engine(model=net, device=dev, dtype=dtype, out_size=(h * scale, w * scale),
                        temporal=TemporalBlend(temporal_blend) if temporal_blend else None)
        out = []
        for f in frames:  # one stream, frame by frame
            out.append(engine(torch.from_numpy(f[None]))[0].numpy())
            tick(1)
        for message in engine.warnings:  # out-of-memory tiling, a half-precision redo: said once
            log.warning("%s: %s", net.name, message)
        return out
    label = net.name + (f" (blend {temporal_blend:g})" if temporal_blend else "")
    return label, run


def progress_bar(progress: bool, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=0, desc=desc, unit="frame", file=sys.stderr, disable=not progress, dynamic_ncols=True, leave=False)


def score(sr: list[np.ndarray], hr: list[np.ndarray], crop: int) -> dict[str, float | None]:
    flicker = metrics.Flicker(crop)
    psnr, ssim, psnr_rgb = [], [], []
    for s, h in zip(sr, hr):
        psnr.append(metrics.psnr_y(s, h, crop))
        ssim.append(metrics.ssim_y(s, h, crop))
        psnr_rgb.append(metrics.psnr_rgb(s, h, crop))
        flicker.add(s, h)
    return {"psnr": round(float(np.mean(psnr)), 4), "ssim": round(float(np.mean(ssim)), 5),
            "psnr_rgb": round(float(np.mean(psnr_rgb)), 4),
            "flicker": None if flicker.value is None else round(flicker.value, 4)}


def check_size(ref: Path, hr: np.ndarray, scale: int) -> None:
    """SSIM's 11×11 window must fit inside the frame once `scale` pixels go from each border."""
    h, w = hr.shape[:2]
    if min(h, w) - 2 * scale < 11:
        raise InputError(f"{ref}: {w}x{h} is too small to evaluate at ×{scale} "
                         f"(at least {11 + 2 * scale} pixels a side after cropping to a multiple of {2 * scale})")


def _low_res(hr: list[np.ndarray], scale: int, degrade_crf: int | None) -> list[np.ndarray]:
    lr = [degrade.area_downscale(f, scale) for f in hr]
    return degrade.h264_round_trip(lr, degrade_crf) if degrade_crf is not None else lr


def evaluate(references: list[Path], *, lr: list[Path] | None = None, models: list[str] | None = None,
             scale: int | None = None, degrade_crf: int | None = None, temporal_blend: float = 0.0,
             frames: int | None = DEFAULT_FRAMES, device: str = "auto", progress: bool = False) -> list[dict[str, Any]]:
    """One row per (reference, model): psnr, ssim (Y), psnr_rgb, flicker, fps, frames. `progress`:
    a progress bar of upscaled frames on stderr."""
    models = models or [DEFAULT_MODEL, "bicubic"]
    if lr is not None and len(lr) != len(references):
        raise InputError(f"`lr`: {len(lr)} file(s) for {len(references)} reference(s); give one per reference", option="lr")
    if scale is None:
        learned = [m for m in models if m not in BASELINES]
        if learned:
            from vsr.models.catalogue import load_model

            scale = load_model(learned[0]).scale
        else:
            scale = 4
    if scale < 1:
        raise InputError(f"invalid `scale` {scale}", option="scale")
    ups = [upscaler(m, scale, device=device, temporal_blend=temporal_blend if m not in BASELINES else 0.0)
           for m in models]
    rows = []
    with progress_bar(progress, "eval") as bar:
        for i, ref in enumerate(references):
            rows += _evaluate_one(ref, lr[i] if lr is not None else None, ups, scale, degrade_crf, frames, bar)
    return rows


def _evaluate_one(ref: Path, lr: Path | None, ups: list[tuple[str, Upscaler]], scale: int, degrade_crf: int | None,
                  frames: int | None, bar: Any) -> list[dict[str, Any]]:
    raw = list(read_frames(ref, frames))
    if not raw:
        raise InputError(f"{ref}: no frames")
    if lr is not None:
        low = list(islice(read_frames(lr, len(raw)), len(raw)))
        if not low:
            raise InputError(f"{lr}: no frames")
        h, w = low[0].shape[:2]
        # The pair must match: the reference is the low-resolution frame × scale, give or take
        # the few pixels an odd reference size loses.
        full_h, full_w = raw[0].shape[:2]
        if not (0 <= full_h - h * scale < scale and 0 <= full_w - w * scale < scale):
            raise InputError(f"{lr}: {w}x{h} × {scale} is {w * scale}x{h * scale}, but the reference {ref} "
                             f"is {full_w}x{full_h}; give the matching `scale` or low-resolution file", option="scale")
        hr = [f[: h * scale, : w * scale] for f in raw[: len(low)]]
    else:
        hr = [degrade.crop_to_multiple(f, 2 * scale) for f in raw]
        low = _low_res(hr, scale, degrade_crf)
    check_size(ref, hr[0], scale)
    bar.total += len(low) * len(ups)
    bar.refresh()
    rows = []
    for label, up in ups:
        start = time.perf_counter()
        sr = up(low, bar.update)
        seconds = time.perf_counter() - start
        rows.append({"reference": str(ref), "model": label, **score(sr, hr, scale),
                     "fps": round(len(sr) / seconds, 3) if seconds else None, "frames": len(sr)})
    return rows


