"""`vsr eval` and `vsr bandwidth`: how good the output is, and what sending it small saves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vsr.cli.common import (
    DeviceOption,
    JsonOption,
    ModelOption,
    OverwriteOption,
    QuietOption,
    TemporalBlendOption,
    configure_logging,
    report,
)
from vsr.models import DEFAULT_MODEL


def eval_command(
    references: Annotated[list[Path], typer.Argument(help="High-resolution videos or images: the ground truth.")],
    lr: Annotated[list[Path] | None, typer.Option("--lr", metavar="<path>", help="The paired low-resolution input, one per "
                                                  "reference (default: area-downscaled from the reference).")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", metavar="<str>", help="A model name or file, or "
                                                    "bicubic/lanczos; repeat for several (default: the built-in model "
                                                    "and bicubic).")] = None,
    scale: Annotated[int | None, typer.Option(help="Scale factor (default: the first model's).")] = None,
    degrade_crf: Annotated[int | None, typer.Option(help="Pass the low-resolution frames through libx264 at this CRF.")] = None,
    temporal_blend: TemporalBlendOption = 0.0,
    frames: Annotated[int, typer.Option(help="At most this many frames per reference.")] = 60,
    device: DeviceOption = "auto",
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """PSNR/SSIM on the luma (border cropped by the scale), RGB PSNR, flicker and fps per reference and model."""
    from vsr.errors import InputError
    from vsr.quality.evaluate import evaluate

    configure_logging(quiet)
    if frames < 1:
        raise InputError(f"invalid --frames {frames}: at least 1")
    if not 0 <= temporal_blend < 1:
        raise InputError(f"invalid --temporal-blend {temporal_blend}: 0 (off) up to, not including, 1")
    rows = evaluate(references, lr=lr, models=model, scale=scale, degrade_crf=degrade_crf,
                    temporal_blend=temporal_blend, frames=frames, device=device, progress=not quiet)

    def lines() -> list[str]:
        out = [f"{'reference':<28} {'model':<34} {'PSNR-Y':>7} {'SSIM-Y':>7} {'PSNR':>7} {'flicker':>8} {'fps':>8}"]
        for r in rows:
            flicker = "-" if r["flicker"] is None else f"{r['flicker']:.3f}"
            out.append(f"{Path(r['reference']).name[:28]:<28} {r['model'][:34]:<34} {r['psnr']:>7.2f} "
                       f"{r['ssim']:>7.4f} {r['psnr_rgb']:>7.2f} {flicker:>8} {r['fps'] or 0:>8.2f}")
        return out

    report(rows, as_json=as_json, lines=lines)


def bandwidth_command(
    reference: Annotated[Path, typer.Argument(help="A high-resolution video.")],
    scale: Annotated[int | None, typer.Option(help="Scale factor (default: the model's).")] = None,
    model: ModelOption = DEFAULT_MODEL,
    codec: Annotated[str, typer.Option(help="The encoder for all three methods.")] = "libx264",
    crf: Annotated[str | None, typer.Option(
        help="Comma-separated CRF values, at least 4 (default: 20,27,34,41,48, wide enough for the full-size "
             "stream's quality to come down to the upscaled one's).")] = None,
    device: DeviceOption = "auto",
    frames: Annotated[int, typer.Option(help="At most this many frames.")] = 60,
    plot: Annotated[Path | None, typer.Option(
        help="Write the rate-distortion curves to this .png (or .svg, .pdf; needs matplotlib).")] = None,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Send it small, upscale at the viewer: bytes and quality against sending it at full size, with BD-rates."""
    from vsr.errors import InputError
    from vsr.quality.bandwidth import bandwidth

    configure_logging(quiet)
    try:
        crfs = [int(v) for v in crf.split(",") if v.strip()] if crf is not None else None
    except ValueError:
        raise InputError(f"invalid --crf {crf!r}: comma-separated integers, e.g. 20,24,28,32") from None
    result = bandwidth(reference, scale=scale, model=model, codec=codec, crfs=crfs, device=device, frames=frames,
                       plot=plot, overwrite=overwrite, progress=not quiet)

    def lines() -> list[str]:
        out = [f"{'method':<8} {'crf':>4} {'bytes':>10} {'kbps':>10} {'PSNR-Y':>7} {'SSIM-Y':>7}"]
        out += [f"{r['method']:<8} {r['crf']:>4} {r['bytes']:>10} {r['kbps']:>10.1f} {r['psnr']:>7.2f} {r['ssim']:>7.4f}"
                for r in result["rows"]]
        for key, value in result["bd_rate"].items():
            shown = ("n/a" if quiet else "n/a (the warning above says why)") if value is None else f"{value:+.1f}%"
            out.append(f"BD-rate {key}: {shown}")
        return out

    # The table stays on stdout with --quiet: it is the result, not chatter.
    report({"rows": result["rows"], "bd_rate": result["bd_rate"]}, as_json=as_json, lines=lines)
