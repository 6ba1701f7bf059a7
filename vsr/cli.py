"""The `vsr` command. Commands only parse, call the library and print; errors become one line
`vsr: error: …` with the error's exit code (2 bad input or usage, 1 runtime, 130 Ctrl-C)."""

from __future__ import annotations

import enum
import functools
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from vsr import __version__
from vsr.errors import VsrError

app = typer.Typer(
    name="vsr",
    help="Video, GIF and image super-resolution.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
models_app = typer.Typer(help="List, inspect, import and convert models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


def _log_warnings(quiet: bool) -> None:
    """Library warnings go to stderr as `vsr: warning: ...`; --quiet keeps only errors."""
    import logging

    logging.basicConfig(format="vsr: warning: %(message)s")
    logging.getLogger().setLevel(logging.ERROR if quiet else logging.WARNING)  # also when configured before


JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
QuietOption = Annotated[bool, typer.Option("--quiet", help="No progress bar or warnings.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")]
Fp16Option = Annotated[bool, typer.Option("--fp16", help="Store the weights in half precision.")]
TemporalBlendOption = Annotated[float, typer.Option(
    help="0 = off; up to 0.9: blend each frame with the previous output where the source did not change "
         "(less flicker, no ghosting on motion).")]


class GifPalette(str, enum.Enum):
    auto = "auto"
    global_ = "global"
    per_frame = "per-frame"


class Backend(str, enum.Enum):
    auto = "auto"
    eager = "eager"
    compile = "compile"
    tensorrt = "tensorrt"


class Dither(str, enum.Enum):
    none = "none"
    bayer = "bayer"
    floyd_steinberg = "floyd-steinberg"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vsr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Show the version and exit.")] = None,
) -> None:
    """Video, GIF and image super-resolution."""


@models_app.command("list")
def models_list(as_json: JsonOption = False) -> None:
    """List the built-in and imported models."""
    from vsr.catalogue import list_models

    entries = list_models()
    if as_json:
        typer.echo(json.dumps([e.as_dict() for e in entries], indent=2))
        return
    for e in entries:
        kind = "built-in" if e.builtin else "imported"
        typer.echo(f"{e.name:<28} {e.arch:<10} x{e.scale:<3} {kind:<9} {e.path}")


@models_app.command("info")
def models_info(model: Annotated[str, typer.Argument(help="A model name or file.")], as_json: JsonOption = False) -> None:
    """Show a model's architecture, hyperparameters, size, source and licence."""
    from vsr.catalogue import describe

    info = describe(model)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        typer.echo(f"{key + ':':<18}{json.dumps(value) if isinstance(value, dict) else value}")


@models_app.command("import")
def models_import(
    path: Annotated[Path, typer.Argument(help="A .param (with its .bin beside it), .pth, .pt, .ckpt or .safetensors file.")],
    name: Annotated[Optional[str], typer.Option(help="The name to use it by (default: the file's stem).")] = None,
    overwrite: OverwriteOption = False,
    fp16: Fp16Option = False,
) -> None:
    """Validate a model file and add it to the catalogue as safetensors."""
    from vsr.catalogue import import_model

    entry = import_model(path, name=name, overwrite=overwrite, half=fp16)
    typer.echo(f"imported {entry.name} ({entry.arch} x{entry.scale}) to {entry.path}")


@models_app.command("convert")
def models_convert(
    src: Annotated[Path, typer.Argument(help="Any supported model file.")],
    dst: Annotated[Path, typer.Argument(help="The .safetensors file to write.")],
    name: Annotated[Optional[str], typer.Option(help="The model's name in the metadata.")] = None,
    source: Annotated[Optional[str], typer.Option(help="Where the weights came from.")] = None,
    licence: Annotated[Optional[str], typer.Option(help="The weights' licence.")] = None,
    overwrite: OverwriteOption = False,
    fp16: Fp16Option = False,
) -> None:
    """Convert a model file to safetensors with full metadata (how weights/ is made)."""
    from vsr.catalogue import convert_model
    from vsr.errors import OutputError

    if dst.suffix != ".safetensors":
        raise OutputError(f"{dst}: the output must be a .safetensors file")
    if dst.exists() and not overwrite:
        raise OutputError(f"{dst}: exists; use --overwrite to replace it")
    if not dst.parent.is_dir():
        raise OutputError(f"{dst.parent}: no such folder")
    model = convert_model(src, dst, name=name, source=source, licence=licence, half=fp16)
    typer.echo(f"wrote {dst} ({model.arch} x{model.scale}, {model.num_parameters} parameters)")


@app.command("upscale")
def upscale_command(
    input: Annotated[Path, typer.Argument(help="The video, animated image, image or folder to upscale.")],
    output: Annotated[Path, typer.Argument(help="Where to write the result; the container follows the extension.")],
    scale: Annotated[Optional[float], typer.Option(help="Output scale (default: the model's); at most the model's.")] = None,
    model: Annotated[str, typer.Option(help="A model name or file.")] = "realesr-animevideov3",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32, fp16 or bf16.")] = "auto",
    batch_size: Annotated[Optional[int], typer.Option(help="Frames per model call (default: automatic).")] = None,
    tile: Annotated[int, typer.Option(help="Tile size in pixels, 0 = off (engaged automatically on out-of-memory).")] = 0,
    backend: Annotated[Backend, typer.Option(help="auto (fastest available), eager, compile (torch.compile) or "
                                             "tensorrt (needs vsr[tensorrt] and a CUDA GPU).")] = Backend.auto,
    codec: Annotated[Optional[str], typer.Option(help="Any PyAV encoder (default: libx264; libvpx-vp9 for .webm).")] = None,
    crf: Annotated[Optional[int], typer.Option(help="The encoder's constant rate factor.")] = None,
    preset: Annotated[Optional[str], typer.Option(help="The encoder's preset.")] = None,
    pix_fmt: Annotated[Optional[str], typer.Option(help="Output pixel format (default: the input's).")] = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Leave the audio tracks out.")] = False,
    gif_palette: Annotated[GifPalette, typer.Option(help="GIF output: one palette for all frames, one per frame, or "
                                                    "auto (global when the source's colours fit one palette).")] = GifPalette.auto,
    dither: Annotated[Dither, typer.Option(help="GIF output: dithering when reducing to 256 colours.")] = Dither.floyd_steinberg,
    quality: Annotated[Optional[int], typer.Option(help="WebP/JPEG output quality 0-100 (default: lossless WebP, JPEG 95).")] = None,
    background: Annotated[Optional[str], typer.Option(help="Colour under transparent pixels when the output has no alpha "
                                                      "(video); default: the file's background colour, else black.")] = None,
    temporal_blend: TemporalBlendOption = 0.0,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Upscale a video, an animated GIF/WebP/APNG, an image or a folder.

    Video keeps every frame's timestamp, the audio tracks and the colours; animated images keep
    their delays, loop count and transparency.
    """
    from vsr.errors import BackendError
    from vsr.pipeline import upscale

    _log_warnings(quiet)
    result = upscale(input, output, model=model, scale=scale, device=device, precision=precision,
                     batch_size=batch_size, tile=tile, backend=backend.value, codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt,
                     audio=not no_audio, overwrite=overwrite, gif_palette=gif_palette.value, dither=dither.value,
                     quality=quality, background=background, temporal_blend=temporal_blend, progress=not quiet)
    results = result if isinstance(result, list) else [result]
    rows = [r if isinstance(r, dict) else r.as_dict() for r in results]
    if as_json:
        typer.echo(json.dumps(rows if isinstance(result, list) else rows[0], indent=2))
    elif not quiet:
        for r in rows:
            if "error" in r:
                typer.echo(f"{r['input']}: failed: {r['error']}")
            else:
                typer.echo(f"{r['output']}: {r['frames']} frame(s) {r['input_size'][0]}x{r['input_size'][1]} → "
                           f"{r['output_size'][0]}x{r['output_size'][1]} in {r['seconds']:.1f} s ({r['fps']:.2f} fps)")
    failed = [r for r in rows if "error" in r]
    if failed:
        raise BackendError(f"{len(failed)} of {len(rows)} files failed (listed above)")


@app.command("bench")
def bench_command(
    model: Annotated[str, typer.Option(help="A model name or file.")] = "realesr-animevideov3",
    size: Annotated[str, typer.Option(help="Input frame size WxH for the generated clip.")] = "640x360",
    batch_size: Annotated[Optional[int], typer.Option(help="Frames per model call (default: automatic).")] = None,
    precision: Annotated[str, typer.Option(help="auto, fp32, fp16 or bf16.")] = "auto",
    backend: Annotated[Backend, typer.Option(help="auto, eager, compile or tensorrt.")] = Backend.auto,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    frames: Annotated[int, typer.Option(help="Frames to time.")] = 32,
    input: Annotated[Optional[Path], typer.Option(help="Time this video instead of a generated clip.")] = None,
    no_naive: Annotated[bool, typer.Option("--no-naive", help="Skip the naive baseline.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Measure each stage's throughput, end-to-end fps, FLOP/s and memory, against a naive baseline."""
    from vsr.bench import run
    from vsr.errors import InputError

    try:
        width, height = (int(v) for v in size.lower().split("x"))
        if width < 1 or height < 1:
            raise ValueError
    except ValueError:
        raise InputError(f"invalid --size {size!r}: use WxH, e.g. 640x360") from None
    if frames < 1:
        raise InputError(f"invalid --frames {frames}: at least 1")
    if input is not None and not input.is_file():
        raise InputError(f"{input}: no such file")
    result = run(model=model, size=(width, height), batch_size=batch_size, precision=precision, backend=backend.value,
                 device=device, frames=frames, input=input, naive=not no_naive)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"{result['model']} x{result['scale']} on {result['device_name']}, {result['size']}, "
               f"{result['precision']}, {result['backend']}, batch {result['batch_size']}, {result['frames']} frames")
    for stage, fps in result["stages_fps"].items():
        typer.echo(f"  {stage:<16}{fps:>10.2f} fps")
    typer.echo(f"  {'end to end':<16}{result['end_to_end_fps']:>10.2f} fps"
               + (f"  ({result['end_to_end_marginal_ms_per_frame']:.1f} ms per extra frame)"
                  if "end_to_end_marginal_ms_per_frame" in result else ""))
    typer.echo(f"  model: {result['model_output_mpix_per_s']:.2f} output Mpx/s, {result['model_tflops']:.3f} TFLOP/s "
               f"= {100 * result['roofline_fraction']:.1f}% of the {result['roofline_tflops']:.2f} TFLOP/s measured roofline")
    if "naive_fps" in result:
        typer.echo(f"  naive baseline: {result['naive_fps']:.2f} fps; speed-up {result['speedup_model_vs_naive']}x "
                   f"(model), {result['speedup_end_to_end_vs_naive']}x (end to end)")
    memory = f"peak RSS {result['peak_rss_mib']} MiB"
    if result["peak_gpu_memory_mib"] is not None:
        memory += f", peak GPU memory {result['peak_gpu_memory_mib']} MiB"
    typer.echo("  " + memory)


@app.command("eval")
def eval_command(
    references: Annotated[list[Path], typer.Argument(help="High-resolution videos or images: the ground truth.")],
    lr: Annotated[Optional[list[Path]], typer.Option("--lr", metavar="<path>", help="The paired low-resolution input, one per reference "
                                                     "(default: area-downscaled from the reference).")] = None,
    model: Annotated[Optional[list[str]], typer.Option("--model", metavar="<str>", help="A model name or file, or bicubic/lanczos; "
                                                       "repeat for several (default: the built-in model and bicubic).")] = None,
    scale: Annotated[Optional[int], typer.Option(help="Scale factor (default: the first model's).")] = None,
    degrade_crf: Annotated[Optional[int], typer.Option(help="Pass the low-resolution frames through libx264 at this CRF.")] = None,
    temporal_blend: TemporalBlendOption = 0.0,
    frames: Annotated[int, typer.Option(help="At most this many frames per reference.")] = 60,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """PSNR/SSIM on the luma (border cropped by the scale), RGB PSNR, flicker and fps per reference and model."""
    from vsr.errors import InputError
    from vsr.evaluate import evaluate

    _log_warnings(quiet)
    if frames < 1:
        raise InputError(f"invalid --frames {frames}: at least 1")
    if not 0 <= temporal_blend < 1:
        raise InputError(f"invalid --temporal-blend {temporal_blend}: 0 (off) up to, not including, 1")
    rows = evaluate(references, lr=lr, models=model, scale=scale, degrade_crf=degrade_crf,
                    temporal_blend=temporal_blend, frames=frames, device=device, progress=not quiet)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'reference':<28} {'model':<34} {'PSNR-Y':>7} {'SSIM-Y':>7} {'PSNR':>7} {'flicker':>8} {'fps':>8}")
    for r in rows:
        flicker = "-" if r["flicker"] is None else f"{r['flicker']:.3f}"
        typer.echo(f"{Path(r['reference']).name[:28]:<28} {r['model'][:34]:<34} {r['psnr']:>7.2f} {r['ssim']:>7.4f} "
                   f"{r['psnr_rgb']:>7.2f} {flicker:>8} {r['fps'] or 0:>8.2f}")


@app.command("bandwidth")
def bandwidth_command(
    reference: Annotated[Path, typer.Argument(help="A high-resolution video.")],
    scale: Annotated[Optional[int], typer.Option(help="Scale factor (default: the model's).")] = None,
    model: Annotated[str, typer.Option(help="A model name or file.")] = "realesr-animevideov3",
    codec: Annotated[str, typer.Option(help="The encoder for all three methods.")] = "libx264",
    crf: Annotated[Optional[str], typer.Option(
        help="Comma-separated CRF values, at least 4 (default: 20,27,34,41,48, wide enough for the full-size "
             "stream's quality to come down to the upscaled one's).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    frames: Annotated[int, typer.Option(help="At most this many frames.")] = 60,
    plot: Annotated[Optional[Path], typer.Option(
        help="Write the rate-distortion curves to this .png (or .svg, .pdf; needs matplotlib).")] = None,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Send it small, upscale at the viewer: bytes and quality against sending it at full size, with BD-rates."""
    from vsr.errors import InputError
    from vsr.evaluate import bandwidth

    _log_warnings(quiet)
    try:
        crfs = [int(v) for v in crf.split(",") if v.strip()] if crf is not None else None
    except ValueError:
        raise InputError(f"invalid --crf {crf!r}: comma-separated integers, e.g. 20,24,28,32") from None
    result = bandwidth(reference, scale=scale, model=model, codec=codec, crfs=crfs, device=device, frames=frames, plot=plot,
                       overwrite=overwrite, progress=not quiet)
    if as_json:
        typer.echo(json.dumps({"rows": result["rows"], "bd_rate": result["bd_rate"]}, indent=2))
        return
    typer.echo(f"{'method':<8} {'crf':>4} {'bytes':>10} {'kbps':>10} {'PSNR-Y':>7} {'SSIM-Y':>7}")
    for r in result["rows"]:
        typer.echo(f"{r['method']:<8} {r['crf']:>4} {r['bytes']:>10} {r['kbps']:>10.1f} {r['psnr']:>7.2f} {r['ssim']:>7.4f}")
    for key, value in result["bd_rate"].items():
        typer.echo(f"BD-rate {key}: " + (("n/a" if quiet else "n/a (the warning above says why)") if value is None else f"{value:+.1f}%"))


ConfigOption = Annotated[Optional[Path], typer.Option(help="A TOML file of options (names as the options, e.g. "
                                                       "patch_size = 96); the command line wins.")]
ResumeOption = Annotated[bool, typer.Option("--resume", help="Continue the run from its latest checkpoint.")]


def _print_run(summary: dict, as_json: bool, quiet: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    elif not quiet:
        first, last = summary["initial"], summary["final"]
        typer.echo(f"{summary['export']}: {summary['steps']} steps in {summary['seconds']:.0f} s; validation PSNR-Y "
                   f"{first['psnr']:.2f} → {last['psnr']:.2f} dB, SSIM-Y {first['ssim']:.4f} → {last['ssim']:.4f}")


def _options(values: dict, *skip: str) -> dict:
    """A command's keyword arguments that are training options (the rest are the command's own)."""
    from vsr.train.config import TrainConfig

    fields = TrainConfig.__dataclass_fields__
    return {k: v for k, v in values.items() if k in fields and k not in skip}


# The options `vsr train` and `vsr finetune` share, in the order --help lists them (after each
# command's own, before --config). None means "not given", so a --config file or a resumed
# run's saved options can supply the value.
TRAINING_OPTIONS = {
    "data": Annotated[Optional[list[Path]], typer.Option(
        "--data", metavar="<path>", help="An image, video or folder of them to train on; repeat for more.")],
    "val": Annotated[Optional[list[Path]], typer.Option(
        "--val", metavar="<path>", help="Validation images/videos (default: hold out --val-fraction of --data).")],
    "val_fraction": Annotated[Optional[float], typer.Option(
        help="Held out for validation: the last part of each video, a random part of the images [0.1].")],
    "frames": Annotated[Optional[str], typer.Option(help="START:END frames of each training video (e.g. 0:100).")],
    "val_frames": Annotated[Optional[str], typer.Option(help="START:END frames of each --val video (e.g. 100:).")],
    "frame_step": Annotated[Optional[int], typer.Option(help="Use every Nth frame of a video [1].")],
    "patch_size": Annotated[Optional[int], typer.Option(help="High-resolution crop size, a multiple of the scale [128].")],
    "batch_size": Annotated[Optional[int], typer.Option(help="Crops per step [16; finetune 8].")],
    "degrade_downscale": Annotated[Optional[str], typer.Option(help="area or bicubic [area].")],
    "degrade_blur": Annotated[Optional[str], typer.Option(help="Gaussian blur σ in HR pixels before downscaling: V or A:B.")],
    "degrade_noise": Annotated[Optional[str], typer.Option(help="Gaussian noise σ in 8-bit levels: V or A:B.")],
    "degrade_jpeg": Annotated[Optional[str], typer.Option(help="JPEG quality: V or A:B.")],
    "degrade_crf": Annotated[Optional[str], typer.Option(
        help="H.264 (libx264) CRF, V or A:B: match the streams you will upscale.")],
    "gan_steps": Annotated[Optional[int], typer.Option(help="GAN-phase steps after the pixel-loss phase [0].")],
    "pixel_loss": Annotated[Optional[str], typer.Option(help="l1, mse or charbonnier [l1].")],
    "pixel_weight": Annotated[Optional[float], typer.Option(help="Pixel-loss weight in the GAN phase [1.0].")],
    "perceptual_weight": Annotated[Optional[float], typer.Option(help="Perceptual-loss weight in the GAN phase [1.0].")],
    "vgg": Annotated[Optional[Path], typer.Option(
        help="VGG19 weights (torchvision state dict) for the perceptual loss; default: the discriminator's features.")],
    "vgg_layer": Annotated[Optional[str], typer.Option(help="VGG19 layer, before its ReLU [conv5_4].")],
    "adversarial": Annotated[Optional[str], typer.Option(help="vanilla (SRGAN) or ragan (ESRGAN) [ragan].")],
    "adversarial_weight": Annotated[Optional[float], typer.Option(help="Adversarial-loss weight [0.005].")],
    "adversarial_rampup": Annotated[Optional[int], typer.Option(help="GAN steps over which the adversarial weight rises from 0 [0].")],
    "label_smoothing": Annotated[Optional[float], typer.Option(help="One-sided label smoothing: real target 1 − this [0].")],
    "d_updates": Annotated[Optional[int], typer.Option(help="Discriminator updates per generator update [1].")],
    "d_norm": Annotated[Optional[str], typer.Option(help="Discriminator normalisation: spectral, batch or none [spectral].")],
    "lr_g": Annotated[Optional[float], typer.Option(help="Generator learning rate [2e-4; finetune 1e-4].")],
    "lr_d": Annotated[Optional[float], typer.Option(help="Discriminator learning rate [1e-4].")],
    "lr_schedule": Annotated[Optional[str], typer.Option(
        help="constant, cosine (to 0 over each phase) or multistep (× --lr-gamma at each --lr-milestones step) [constant].")],
    "lr_milestones": Annotated[Optional[str], typer.Option(
        help="multistep: steps into each phase, comma-separated, e.g. 50000,100000.")],
    "lr_gamma": Annotated[Optional[float], typer.Option(help="multistep: the factor at each milestone [0.5].")],
    "ema": Annotated[Optional[float], typer.Option(help="Decay of the generator's moving average, 0 = off [0.999; finetune 0.99].")],
    "val_every": Annotated[Optional[int], typer.Option(help="Validate every N steps [500; finetune 50].")],
    "checkpoint_every": Annotated[Optional[int], typer.Option(help="Save a checkpoint every N steps [500; finetune 100].")],
    "seed": Annotated[Optional[int], typer.Option(help="Random seed: same seed, same data and options → same weights [0].")],
    "device": Annotated[Optional[str], typer.Option(help="auto, cpu, cuda or cuda:N [auto].")],
    "precision": Annotated[Optional[str], typer.Option(
        help="Mixed precision of the forward passes: auto (bf16 on CUDA where it has it, else fp16 with loss "
        "scaling; on a CPU bf16 where it runs the network clearly faster, else fp32), fp32, bf16 or fp16 [auto].")],
}


def _with_training_options(command):
    """Typer reads a command's options from its signature, so declaring the shared options once
    means writing them into each command's signature here: `command` gets them in **options."""
    signature = inspect.signature(command, eval_str=True)
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values()
           if p.kind is not inspect.Parameter.VAR_KEYWORD]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
              for name, annotation in TRAINING_OPTIONS.items()]
    at = [p.name for p in own].index("config")
    parameters = own[:at] + shared + own[at:]

    @functools.wraps(command)
    def with_options(**values):
        return command(**values)

    with_options.__signature__ = signature.replace(parameters=parameters)
    with_options.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return with_options


@app.command("train")
@_with_training_options
def train_command(
    out: Annotated[Path, typer.Option(help="The run's folder: config, checkpoints, log and the exported model.")],
    arch: Annotated[Optional[str], typer.Option(help="srresnet (SRGAN), rrdb (ESRGAN) or compact [compact].")] = None,
    scale: Annotated[Optional[int], typer.Option(help="2, 3, 4 or 8 [4].")] = None,
    num_feat: Annotated[Optional[int], typer.Option(help="Feature channels [64].")] = None,
    num_block: Annotated[Optional[int], typer.Option(help="Residual blocks (srresnet 16, rrdb 23) or convolutions (compact 16).")] = None,
    num_grow_ch: Annotated[Optional[int], typer.Option(help="rrdb: growth channels [32].")] = None,
    activation: Annotated[Optional[str], typer.Option(help="compact: prelu, relu or leakyrelu [prelu].")] = None,
    batch_norm: Annotated[Optional[bool], typer.Option("--batch-norm/--no-batch-norm", help="srresnet: BatchNorm as in SRGAN [on].")] = None,
    pretrain_steps: Annotated[Optional[int], typer.Option(help="Pixel-loss steps before the GAN phase [1000].")] = None,
    name: Annotated[Optional[str], typer.Option(help="The exported model's name [the --out folder's name].")] = None,
    export: Annotated[Optional[Path], typer.Option(help="Where to write the model [OUT/NAME.safetensors].")] = None,
    config: ConfigOption = None, resume: ResumeOption = False, overwrite: OverwriteOption = False,
    quiet: QuietOption = False, as_json: JsonOption = False,
    **options,
) -> None:
    """Train an SRGAN/ESRGAN-style model: pixel-loss pre-training, then optional GAN training."""
    from vsr.train.trainer import train

    _log_warnings(quiet)
    summary = train(_options({**locals(), **options}), out=out, config_file=config, resume=resume,
                    overwrite=overwrite, progress=not quiet)
    _print_run(summary, as_json, quiet)


@app.command("finetune")
@_with_training_options
def finetune_command(
    model: Annotated[str, typer.Option(help="The model to start from: a name or file.")],
    out: Annotated[Path, typer.Option(help="The specialised model to write (.safetensors).")],
    steps: Annotated[Optional[int], typer.Option(help="Pixel-loss steps [300].")] = None,
    scale: Annotated[Optional[int], typer.Option(help="Checked against the model's scale.")] = None,
    work_dir: Annotated[Optional[Path], typer.Option(help="Checkpoints and log [OUT's name + -finetune].")] = None,
    name: Annotated[Optional[str], typer.Option(help="The exported model's name [MODEL-finetuned].")] = None,
    config: ConfigOption = None, resume: ResumeOption = False, overwrite: OverwriteOption = False,
    quiet: QuietOption = False, as_json: JsonOption = False,
    **options,
) -> None:
    """Specialise a model to one domain or one video; degrade the training input as your real input was
    (e.g. --degrade-crf near the CRF of the streams you will upscale)."""
    from vsr.train.trainer import finetune

    _log_warnings(quiet)
    values = _options({**locals(), **options}, "model")
    values["pretrain_steps"] = steps
    summary = finetune(model, values, out=out, work_dir=work_dir, config_file=config, resume=resume,
                       overwrite=overwrite, progress=not quiet)
    _print_run(summary, as_json, quiet)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code, turning every expected failure into one line."""
    command = typer.main.get_command(app)
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # a bare `vsr` is a request for help, not a usage error
        argv = ["--help"]
    try:
        code = command.main(args=argv, prog_name="vsr", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt) as exc:  # click turns Ctrl-C in a prompt into Abort
        return _fail("interrupted", 130, exc)
    except VsrError as exc:
        return _fail(str(exc), exc.exit_code, exc)
    except Exception as exc:
        # Click's usage errors (bad option, missing argument); Typer vendors Click in recent
        # releases, so they are recognised by shape rather than by class.
        if callable(getattr(exc, "format_message", None)) and isinstance(getattr(exc, "exit_code", None), int):
            return _fail(exc.format_message(), exc.exit_code, exc)
        # A bug: still one line, the traceback under VSR_DEBUG=1.
        return _fail(f"unexpected {type(exc).__name__}: {exc} (set VSR_DEBUG=1 for the traceback)", 1, exc)
    # Typer turns Ctrl-C inside a command into exit code 130, returned rather than raised here.
    if code == 130:
        print("vsr: error: interrupted", file=sys.stderr)
    return code if isinstance(code, int) else 0


def _fail(message: str, code: int, exc: BaseException) -> int:
    if os.environ.get("VSR_DEBUG") == "1":
        import traceback

        traceback.print_exception(exc)
    print(f"vsr: error: {message}", file=sys.stderr)
    return code
