"""`vsr train` and `vsr finetune`: the options they share are declared once, in TRAINING_OPTIONS."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from vsr.cli.common import JsonOption, OverwriteOption, QuietOption, configure_logging, report

ConfigOption = Annotated[Path | None, typer.Option(help="A TOML file of options (names as the options, e.g. "
                                                       "patch_size = 96); the command line wins.")]
ResumeOption = Annotated[bool, typer.Option("--resume", help="Continue the run from its latest checkpoint.")]


def _print_run(summary: dict[str, Any], as_json: bool, quiet: bool) -> None:
    from vsr.train.trainer import GENERATOR_NAMES

    first, last = summary["initial"], summary["final"]
    report(summary, as_json=as_json, quiet=quiet, lines=lambda: [
        f"{summary['export']}: {summary['steps']} steps in {summary['seconds']:.0f} s; validation PSNR-Y "
        f"{first['psnr']:.2f} → {last['psnr']:.2f} dB, SSIM-Y {first['ssim']:.4f} → {last['ssim']:.4f} "
        f"({GENERATOR_NAMES[summary['generator']]})"])


def _options(values: dict[str, Any], *skip: str) -> dict[str, Any]:
    """A command's keyword arguments that are training options (the rest are the command's own)."""
    from vsr.train.config import TrainConfig

    fields = TrainConfig.__dataclass_fields__
    return {k: v for k, v in values.items() if k in fields and k not in skip}


# The options `vsr train` and `vsr finetune` share, in the order --help lists them (after each
# command's own, before --config). None means "not given", so a --config file or a resumed
# run's saved options can supply the value.
TRAINING_OPTIONS = {
    "data": Annotated[list[Path] | None, typer.Option(
        "--data", metavar="<path>", help="An image, video or folder of them to train on; repeat for more.")],
    "val": Annotated[list[Path] | None, typer.Option(
        "--val", metavar="<path>", help="Validation images/videos (default: hold out --val-fraction of --data).")],
    "val_fraction": Annotated[float | None, typer.Option(
        help="Held out for validation: the last part of each video, a random part of the images [0.1].")],
    "frames": Annotated[str | None, typer.Option(help="START:END frames of each training video (e.g. 0:100).")],
    "val_frames": Annotated[str | None, typer.Option(help="START:END frames of each --val video (e.g. 100:).")],
    "frame_step": Annotated[int | None, typer.Option(help="Use every Nth frame of a video [1].")],
    "patch_size": Annotated[int | None, typer.Option(help="High-resolution crop size, a multiple of the scale [128].")],
    "batch_size": Annotated[int | None, typer.Option(help="Crops per step [16; finetune 8].")],
    "degrade_downscale": Annotated[str | None, typer.Option(help="area or bicubic [area].")],
    "degrade_blur": Annotated[str | None, typer.Option(help="Gaussian blur σ in HR pixels before downscaling: V or A:B.")],
    "degrade_noise": Annotated[str | None, typer.Option(help="Gaussian noise σ in 8-bit levels: V or A:B.")],
    "degrade_jpeg": Annotated[str | None, typer.Option(help="JPEG quality: V or A:B.")],
    "degrade_crf": Annotated[str | None, typer.Option(
        help="H.264 (libx264) CRF, V or A:B: match the streams you will upscale.")],
    "temporal_weight": Annotated[float | None, typer.Option(
        help="Train against flicker: the loss on how the output changes between neighbouring video frames "
        "against how the truth does, at this weight; 1 is the recommended strength, 0 off. Inference stays "
        "frame by frame, at no cost [0].")],
    "gan_steps": Annotated[int | None, typer.Option(help="GAN-phase steps after the pixel-loss phase [0].")],
    "pixel_loss": Annotated[str | None, typer.Option(help="l1, mse or charbonnier [l1].")],
    "pixel_weight": Annotated[float | None, typer.Option(help="Pixel-loss weight in the GAN phase [1.0].")],
    "perceptual_weight": Annotated[float | None, typer.Option(help="Perceptual-loss weight in the GAN phase [1.0].")],
    "vgg": Annotated[Path | None, typer.Option(
        help="VGG19 weights (torchvision state dict) for the perceptual loss; default: the discriminator's features.")],
    "vgg_layer": Annotated[str | None, typer.Option(help="VGG19 layer, before its ReLU [conv5_4].")],
    "adversarial": Annotated[str | None, typer.Option(help="vanilla (SRGAN) or ragan (ESRGAN) [ragan].")],
    "adversarial_weight": Annotated[float | None, typer.Option(help="Adversarial-loss weight [0.005].")],
    "adversarial_rampup": Annotated[int | None, typer.Option(
        help="GAN steps over which the adversarial weight rises from 0 [0].")],
    "label_smoothing": Annotated[float | None, typer.Option(help="One-sided label smoothing: real target 1 − this [0].")],
    "d_updates": Annotated[int | None, typer.Option(help="Discriminator updates per generator update [1].")],
    "d_norm": Annotated[str | None, typer.Option(help="Discriminator normalisation: spectral, batch or none [spectral].")],
    "lr_g": Annotated[float | None, typer.Option(help="Generator learning rate [2e-4; finetune 1e-4].")],
    "lr_d": Annotated[float | None, typer.Option(help="Discriminator learning rate [1e-4].")],
    "lr_schedule": Annotated[str | None, typer.Option(
        help="constant, cosine (to 0 over each phase) or multistep (× --lr-gamma at each --lr-milestones step) [constant].")],
    "lr_milestones": Annotated[str | None, typer.Option(
        help="multistep: steps into each phase, comma-separated, e.g. 50000,100000.")],
    "lr_gamma": Annotated[float | None, typer.Option(help="multistep: the factor at each milestone [0.5].")],
    "ema": Annotated[float | None, typer.Option(
        help="Decay of the generator's moving average (warmed up over the first steps), 0 = off "
        "[0.999; finetune 0.99].")],
    "export_generator": Annotated[str | None, typer.Option(
        help="What the export holds: ema (the moving average), raw (the last step's weights) or auto "
        "(the better on validation PSNR) [auto].")],
    "val_every": Annotated[int | None, typer.Option(help="Validate every N steps [500; finetune 50].")],
    "checkpoint_every": Annotated[int | None, typer.Option(help="Save a checkpoint every N steps [500; finetune 100].")],
    "seed": Annotated[int | None, typer.Option(help="Random seed: same seed, same data and options → same weights [0].")],
    "device": Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N [auto].")],
    "precision": Annotated[str | None, typer.Option(
        help="Mixed precision of the forward passes: auto (bf16 on CUDA where it has it, else fp16 with loss "
        "scaling; on a CPU bf16 where it runs the network clearly faster, else fp32), fp32, bf16 or fp16 [auto].")],
}


def _with_training_options(command: Callable[..., None]) -> Callable[..., None]:
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
    def with_options(**values: Any) -> None:
        command(**values)

    with_options.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_options.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return with_options


@_with_training_options
def train_command(
    out: Annotated[Path, typer.Option(help="The run's folder: config, checkpoints, log and the exported model.")],
    arch: Annotated[str | None, typer.Option(help="srresnet (SRGAN), rrdb (ESRGAN) or compact [compact].")] = None,
    scale: Annotated[int | None, typer.Option(help="2, 3, 4 or 8 [4].")] = None,
    num_feat: Annotated[int | None, typer.Option(help="Feature channels [64].")] = None,
    num_block: Annotated[int | None, typer.Option(
        help="Residual blocks (srresnet 16, rrdb 23) or convolutions (compact 16).")] = None,
    num_grow_ch: Annotated[int | None, typer.Option(help="rrdb: growth channels [32].")] = None,
    activation: Annotated[str | None, typer.Option(help="compact: prelu, relu or leakyrelu [prelu].")] = None,
    batch_norm: Annotated[bool | None, typer.Option(
        "--batch-norm/--no-batch-norm", help="srresnet: BatchNorm as in SRGAN [on].")] = None,
    base: Annotated[str | None, typer.Option(
        help="srresnet, rrdb: bicubic (learn the residual over the bicubic upscale; starts as bicubic) or none "
             "(the published network) [bicubic].")] = None,
    pretrain_steps: Annotated[int | None, typer.Option(help="Pixel-loss steps before the GAN phase [1000].")] = None,
    name: Annotated[str | None, typer.Option(help="The exported model's name [the --out folder's name].")] = None,
    export: Annotated[Path | None, typer.Option(help="Where to write the model [OUT/NAME.safetensors].")] = None,
    config: ConfigOption = None, resume: ResumeOption = False, overwrite: OverwriteOption = False,
    quiet: QuietOption = False, as_json: JsonOption = False,
    **options: Any,
) -> None:
    """Train an SRGAN/ESRGAN-style model: pixel-loss pre-training, then optional GAN training."""
    from vsr.train.trainer import train

    configure_logging(quiet)
    summary = train(_options({**locals(), **options}), out=out, config_file=config, resume=resume,
                    overwrite=overwrite, progress=not quiet)
    _print_run(summary, as_json, quiet)


@_with_training_options
def finetune_command(
    model: Annotated[str, typer.Option(help="The model to start from: a name or file.")],
    out: Annotated[Path, typer.Option(help="The specialised model to write (.safetensors).")],
    steps: Annotated[int | None, typer.Option(help="Pixel-loss steps [300].")] = None,
    scale: Annotated[int | None, typer.Option(help="Checked against the model's scale.")] = None,
    work_dir: Annotated[Path | None, typer.Option(help="Checkpoints and log [OUT's name + -finetune].")] = None,
    name: Annotated[str | None, typer.Option(help="The exported model's name [MODEL-finetuned].")] = None,
    config: ConfigOption = None, resume: ResumeOption = False, overwrite: OverwriteOption = False,
    quiet: QuietOption = False, as_json: JsonOption = False,
    **options: Any,
) -> None:
    """Specialise a model to one domain or one video; degrade the training input as your real input was
    (e.g. --degrade-crf near the CRF of the streams you will upscale)."""
    from vsr.train.trainer import finetune

    configure_logging(quiet)
    values = _options({**locals(), **options}, "model")
    values["pretrain_steps"] = steps
    summary = finetune(model, values, out=out, work_dir=work_dir, config_file=config, resume=resume,
                       overwrite=overwrite, progress=not quiet)
    _print_run(summary, as_json, quiet)
