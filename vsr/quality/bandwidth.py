"""`vsr bandwidth`: what sending a video small and upscaling it at the viewer saves in bits,
against sending it at full size, as rate–distortion curves and BD-rates."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from vsr.errors import InputError
from vsr.models import DEFAULT_MODEL
from vsr.quality import degrade, metrics
from vsr.quality.evaluate import DEFAULT_FRAMES, check_size, frame_rate, progress_bar, read_frames, score, upscaler
from vsr.quality.plot import check_plot, plot_rd

log = logging.getLogger(__name__)

# BD-rate is only defined where two curves overlap in quality, and a video sent at 1/4 size and
# upscaled meets the full-size stream's quality only where that one is at a high CRF
# (bigbuckbunny ×4: the upscaled stream tops out at 30.7 dB PSNR-Y; direct comes down to it near CRF 42).
DEFAULT_CRFS = [20, 27, 34, 41, 48]


def bandwidth(reference: Path, *, scale: int | None = None, model: str | None = None, codec: str = "libx264",
              crfs: list[int] | None = None, device: str = "auto", frames: int | None = DEFAULT_FRAMES,
              plot: Path | None = None, overwrite: bool = False, progress: bool = False) -> dict[str, Any]:
    """Rate–distortion of sending the video small and upscaling it at the viewer, against
    sending it at full size, with BD-rates. `progress`: a progress bar on stderr (frames
    through each CRF's three methods)."""
    crfs = DEFAULT_CRFS if crfs is None else crfs
    _check_crfs(crfs, codec)
    if plot is not None:  # before minutes of encoding, not after
        check_plot(plot, overwrite=overwrite)
    model = model or DEFAULT_MODEL
    if scale is None:
        from vsr.models.catalogue import load_model

        scale = load_model(model).scale
    label, sr_up = upscaler(model, scale, device=device)
    _, bicubic = upscaler("bicubic", scale)
    hr = [degrade.crop_to_multiple(f, 2 * scale) for f in read_frames(reference, frames)]
    if len(hr) < 2:
        raise InputError(f"{reference}: bandwidth needs a video of at least 2 frames")
    check_size(reference, hr[0], scale)
    rate = frame_rate(reference)
    seconds = len(hr) / float(rate)
    lr = [degrade.area_downscale(f, scale) for f in hr]
    rows = []
    with tempfile.TemporaryDirectory(prefix="vsr-bandwidth-") as tmp, progress_bar(progress, "bandwidth") as bar:
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
        plot_rd(result, plot, replace=overwrite)
    return result


# The encoders with a constant-rate-factor mode, and the top of their CRF scale. Others ignore
# `crf` and would give every point the same bytes.
CRF_RANGES = {"libx264": 51, "libx265": 51, "libvpx-vp9": 63, "libaom-av1": 63, "libsvtav1": 63}


def _check_crfs(crfs: list[int], codec: str) -> None:
    import av

    try:
        av.codec.Codec(codec, "w")
    except av.codec.codec.UnknownCodecError:
        raise InputError(f"`codec`: {codec} is not an encoder this FFmpeg has", option="codec") from None
    if codec not in CRF_RANGES:
        raise InputError(f"`codec`: {codec} has no CRF mode; use one of {', '.join(CRF_RANGES)}", option="codec")
    if len(set(crfs)) < 4:
        raise InputError("`crf`: BD-rate needs at least 4 different CRF values", option="crf")
    top = CRF_RANGES[codec]
    bad = [c for c in crfs if not 0 <= c <= top]
    if bad:
        raise InputError(f"`crf` {bad[0]}: {codec}'s CRF runs from 0 to {top}", option="crf")


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


