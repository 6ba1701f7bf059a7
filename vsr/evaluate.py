"""`vsr eval` and `vsr bandwidth`: how good the upscaled output is, and what it saves in bits.

Evaluation follows the super-resolution literature: the low-resolution input is the reference
area-downscaled by the scale (optionally through H.264 at a CRF, a realistic stream), metrics are
on the BT.601 luma with `scale` pixels cropped from each border (vsr.metrics).
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from vsr import metrics
from vsr.errors import InputError
from vsr.media import degrade
from vsr.media.image import is_image, read_image

log = logging.getLogger(__name__)

BASELINES = ("bicubic", "lanczos")
DEFAULT_FRAMES = 60
# BD-rate is only defined where two curves overlap in quality, and a video sent at 1/4 size and
# upscaled meets the full-size stream's quality only where that one is at a high CRF
# (bigbuckbunny ×4: the upscaled stream tops out at 30.7 dB PSNR-Y; direct comes down to it near CRF 42).
DEFAULT_CRFS = [20, 27, 34, 41, 48]


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
    from vsr.media import reader

    container = reader.open_input(path)
    with container:
        return reader.probe(container, path).average_rate or Fraction(25)


def _no_tick(frames: int) -> None:
    pass


def upscaler(name: str, scale: int, *, device: str = "auto", temporal_blend: float = 0.0) -> tuple[str, Callable]:
    """(label, function from a list of LR frames to SR frames, in stream order). The function's
    optional `tick(n)` is told as frames are done (a progress bar)."""
    if name == "bicubic":
        def bicubic(frames, tick=_no_tick):
            x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()
            y = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
            tick(len(frames))
            return list(y.clamp_(0, 255).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy())
        return "bicubic", bicubic
    if name == "lanczos":
        from PIL import Image

        def lanczos(frames, tick=_no_tick):
            out = [np.asarray(Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale),
                                                        Image.Resampling.LANCZOS)) for f in frames]
            tick(len(frames))
            return out
        return "lanczos", lanczos
    from vsr.engine import Engine, resolve_device, resolve_precision
    from vsr.model import load_model
    from vsr.temporal import TemporalBlend

    net = load_model(name)
    if scale > net.scale:
        raise InputError(f"--scale {scale} is above {net.name}'s native ×{net.scale}")
    dev = resolve_device(device)
    dtype = resolve_precision("auto", dev, net)

    def run(frames, tick=_no_tick):
        h, w = frames[0].shape[:2]
        engine = Engine(model=net, device=dev, dtype=dtype, out_size=(h * scale, w * scale),
                        temporal=TemporalBlend(temporal_blend) if temporal_blend else None)
        out = []
        for f in frames:  # one stream, frame by frame
            out.append(engine(torch.from_numpy(f[None]))[0].numpy())
            tick(1)
        return out
    label = net.name + (f" (blend {temporal_blend:g})" if temporal_blend else "")
    return label, run


def _progress_bar(progress: bool, desc: str):
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


def _check_size(ref: Path, hr: np.ndarray, scale: int) -> None:
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
    from vsr.catalogue import DEFAULT_MODEL

    models = models or [DEFAULT_MODEL, "bicubic"]
    if lr is not None and len(lr) != len(references):
        raise InputError(f"--lr: {len(lr)} file(s) for {len(references)} reference(s); give one per reference")
    if scale is None:
        learned = [m for m in models if m not in BASELINES]
        if learned:
            from vsr.model import load_model

            scale = load_model(learned[0]).scale
        else:
            scale = 4
    if scale < 1:
        raise InputError(f"invalid --scale {scale}")
    ups = [upscaler(m, scale, device=device, temporal_blend=temporal_blend if m not in BASELINES else 0.0)
           for m in models]
    rows = []
    with _progress_bar(progress, "eval") as bar:
        for i, ref in enumerate(references):
            rows += _evaluate_one(ref, lr[i] if lr is not None else None, ups, scale, degrade_crf, frames, bar)
    return rows


def _evaluate_one(ref: Path, lr: Path | None, ups: list[tuple[str, Callable]], scale: int, degrade_crf: int | None,
                  frames: int | None, bar) -> list[dict[str, Any]]:
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
                             f"is {full_w}x{full_h}; give the matching --scale or low-resolution file")
        hr = [f[: h * scale, : w * scale] for f in raw[: len(low)]]
    else:
        hr = [degrade.crop_to_multiple(f, 2 * scale) for f in raw]
        low = _low_res(hr, scale, degrade_crf)
    _check_size(ref, hr[0], scale)
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


def bandwidth(reference: Path, *, scale: int | None = None, model: str | None = None, codec: str = "libx264",
              crfs: list[int] | None = None, device: str = "auto", frames: int | None = DEFAULT_FRAMES,
              plot: Path | None = None, overwrite: bool = False, progress: bool = False) -> dict[str, Any]:
    """Rate–distortion of sending the video small and upscaling it at the viewer, against
    sending it at full size, with BD-rates. `progress`: a progress bar on stderr (frames
    through each CRF's three methods)."""
    from vsr.catalogue import DEFAULT_MODEL

    crfs = DEFAULT_CRFS if crfs is None else crfs
    _check_crfs(crfs, codec)
    if plot is not None:  # before minutes of encoding, not after
        _check_plot(plot, overwrite)
    model = model or DEFAULT_MODEL
    if scale is None:
        from vsr.model import load_model

        scale = load_model(model).scale
    label, sr_up = upscaler(model, scale, device=device)
    _, bicubic = upscaler("bicubic", scale)
    hr = [degrade.crop_to_multiple(f, 2 * scale) for f in read_frames(reference, frames)]
    if len(hr) < 2:
        raise InputError(f"{reference}: bandwidth needs a video of at least 2 frames")
    _check_size(reference, hr[0], scale)
    rate = frame_rate(reference)
    seconds = len(hr) / float(rate)
    lr = [degrade.area_downscale(f, scale) for f in hr]
    rows = []
    with tempfile.TemporaryDirectory(prefix="vsr-bandwidth-") as tmp, _progress_bar(progress, "bandwidth") as bar:
        bar.total = 3 * len(hr) * len(crfs)
        for crf in crfs:
            direct_path, small_path = Path(tmp) / f"direct{crf}.mp4", Path(tmp) / f"small{crf}.mp4"
            direct_bytes = degrade.encode(hr, direct_path, crf=crf, rate=rate, codec=codec)
            small_bytes = degrade.encode(lr, small_path, crf=crf, rate=rate, codec=codec)
            decoded_small = list(degrade.decode(small_path))
            decoded_direct = list(degrade.decode(direct_path))
            bar.update(len(hr))
            for method, size, out in (("direct", direct_bytes, decoded_direct),
                                      ("sr", small_bytes, sr_up(decoded_small, bar.update)),
                                      ("bicubic", small_bytes, bicubic(decoded_small, bar.update))):
                quality = score(out, hr, scale)
                rows.append({"method": method, "crf": crf, "bytes": size, "kbps": round(size * 8 / seconds / 1000, 2),
                             "psnr": quality["psnr"], "ssim": quality["ssim"]})
    curve = {m: [r for r in rows if r["method"] == m] for m in ("direct", "sr", "bicubic")}
    bd_rates = {f"sr_vs_{base}_{key}": curve_bd_rate(curve[base], curve["sr"], key)
                for base in ("direct", "bicubic") for key in ("psnr", "ssim")}
    result = {"reference": str(reference), "model": label, "scale": scale, "codec": codec, "frames": len(hr),
              "rows": rows, "bd_rate": bd_rates}
    if plot is not None:
        plot_rd(result, plot)
    return result


# The encoders with a constant-rate-factor mode, and the top of their CRF scale. Others ignore
# `crf` and would give every point the same bytes.
CRF_RANGES = {"libx264": 51, "libx265": 51, "libvpx-vp9": 63, "libaom-av1": 63, "libsvtav1": 63}
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def _check_crfs(crfs: list[int], codec: str) -> None:
    import av

    try:
        av.codec.Codec(codec, "w")
    except av.codec.codec.UnknownCodecError:
        raise InputError(f"--codec: {codec} is not an encoder this FFmpeg has") from None
    if codec not in CRF_RANGES:
        raise InputError(f"--codec: {codec} has no CRF mode; use one of {', '.join(CRF_RANGES)}")
    if len(set(crfs)) < 4:
        raise InputError("--crf: BD-rate needs at least 4 different CRF values")
    top = CRF_RANGES[codec]
    bad = [c for c in crfs if not 0 <= c <= top]
    if bad:
        raise InputError(f"--crf {bad[0]}: {codec}'s CRF runs from 0 to {top}")


def _check_plot(path: Path, overwrite: bool) -> None:
    from vsr.atomic import check_output

    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(f"--plot {path}: a {', '.join(PLOT_SUFFIXES)} file")
    check_output(path, overwrite=overwrite)
    _pyplot()


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise InputError("--plot needs matplotlib: pip install 'vsr[plot]'") from exc
    return plt


def curve_bd_rate(a: list[dict], b: list[dict], key: str) -> float | None:
    """BD-rate (%) of rate–distortion rows `b` against `a` at equal `key` (psnr or ssim); None,
    with a warning that says what to change, where their qualities do not overlap."""
    try:
        return round(metrics.bd_rate([r["kbps"] for r in a], [r[key] for r in a],
                                     [r["kbps"] for r in b], [r[key] for r in b]), 2)
    except ValueError as exc:
        name_a, name_b = a[0]["method"], b[0]["method"]
        if "overlap" not in str(exc):
            log.warning("BD-rate %s vs %s (%s): n/a, %s", name_b, name_a, key, exc)
            return None
        hint = " (higher CRFs bring direct down to the upscaled quality)" if "direct" in (name_a, name_b) else ""
        log.warning("BD-rate %s vs %s (%s): n/a, the curves do not overlap: %s %.4g-%.4g, %s %.4g-%.4g; "
                    "add CRFs that bring them together%s", name_b, name_a, key,
                    name_a, min(r[key] for r in a), max(r[key] for r in a),
                    name_b, min(r[key] for r in b), max(r[key] for r in b), hint)
        return None


def plot_rd(result: dict[str, Any], path: Path) -> None:
    """The rate–distortion curves of every method in `result["rows"]`, PSNR and SSIM side by side,
    written atomically (the format from the suffix)."""
    from vsr.atomic import publish, temporary_beside

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("psnr", "ssim")):
        for method in dict.fromkeys(r["method"] for r in result["rows"]):  # in order of appearance
            points = [r for r in result["rows"] if r["method"] == method]
            ax.plot([r["kbps"] for r in points], [r[key] for r in points], "o-", label=method)
        ax.set_xscale("log")
        ax.set_xlabel("kbit/s")
        ax.set_ylabel(f"{key.upper()} (Y)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"{Path(result['reference']).name}: {result['model']} ×{result['scale']}, {result['codec']}")
    fig.tight_layout()
    tmp = temporary_beside(path)
    try:
        fig.savefig(tmp, dpi=120)
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
