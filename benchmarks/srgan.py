"""SRGAN from scratch on real footage: an SRResNet ×4 trained with pixel loss, then GAN-trained
(vanilla adversarial loss, BatchNorm discriminator, the discriminator's features as the
perceptual loss since no VGG weights ship with vsr). Trained on the first frames of the sample
clips, measured on later frames of the same clips against bicubic: PSNR-Y, SSIM-Y and sharpness
(the luma gradient energy as a fraction of the truth's; see vsr.quality.metrics.gradient_energy)
of the SRResNet (after the pixel phase) and of the SRGAN (after the GAN phase). esrgan.py runs
the same with ESRGAN's RRDB network and losses.

    python benchmarks/srgan.py --device cuda --results $OUT      # a GPU session (the default sizes)
    python benchmarks/srgan.py --pretrain-steps 500 --gan-steps 300 --num-block 4   # a CPU run
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from finetune import parse_run_args, unseen_frames_score, write_result
from quality import sample_clips

from vsr.models.interpolation import interpolate_files
from vsr.quality.metrics import gradient_energy
from vsr.train.trainer import train

TRAIN_FRAMES = "0:60"  # of each clip; the last tenth is held out for validation
TEST = {"bikes": (150, 250), "bigbuckbunny": (80, 132)}
SCALE = 4


def sharpness(sr: list[np.ndarray], hr: list[np.ndarray]) -> dict[str, float]:
    return {"sharpness": round(float(np.mean([gradient_energy(s, h, SCALE) for s, h in zip(sr, hr)])), 4)}


def from_scratch(description: str, stem: str, arch: str, pixel_name: str, gan_name: str, options: dict[str, Any],
                 gan_options: Callable[[bool], dict[str, Any]], defaults: dict[str, int]) -> None:
    """Train `arch` from scratch with pixel loss, then continue it with a GAN phase as a second run
    (so both phases' generators can be measured); score both and bicubic on unseen frames."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--pretrain-steps", type=int, default=defaults["pretrain_steps"])
    parser.add_argument("--gan-steps", type=int, default=defaults["gan_steps"])
    parser.add_argument("--num-block", type=int, default=defaults["num_block"])
    parser.add_argument("--batch-size", type=int, default=None, help="[the trainer's default]")
    parser.add_argument("--patch-size", type=int, default=None, help="[the trainer's default]")
    parser.add_argument("--clips", default=",".join(TEST))
    parser.add_argument("--vgg", help="VGG19 weights for the perceptual loss [the discriminator's features]")
    parser.add_argument("--adversarial-weight", type=float, default=None, help="[the recipe's]")
    parser.add_argument("--adversarial-rampup", type=int, default=None, help="[the recipe's]")
    parser.add_argument("--perceptual-weight", type=float, default=None, help="[the recipe's]")
    parser.add_argument("--keep", type=Path, help="write both phases' exports here [a temporary folder]")
    parser.add_argument("--pixel-phase", type=Path,
                        help="an earlier run's pixel-phase export (--keep): skip that phase, to try GAN options")
    parser.add_argument("--tag", help="added to the result file's name, to keep runs with other options apart")
    parser.add_argument("--interpolate", default="",
                        help="also score the GAN phase's weights interpolated towards the pixel phase's at these "
                             "alphas (comma-separated; ESRGAN's network interpolation, `vsr models interpolate`)")
    parser.add_argument("--gan-phase", type=Path, help="an earlier run's GAN-phase export (--keep): score it again")
    args, head = parse_run_args(parser)
    if args.gan_phase and not args.pixel_phase:
        parser.error("--gan-phase needs the --pixel-phase it grew from")
    if args.interpolate and not (args.gan_steps or args.gan_phase):
        parser.error("--interpolate needs a GAN phase (--gan-steps or --gan-phase)")
    clips = sample_clips()
    names = args.clips.split(",")
    sizes = {k: v for k, v in (("batch_size", args.batch_size), ("patch_size", args.patch_size)) if v is not None}
    overrides = {k: v for k, v in (("vgg", args.vgg), ("adversarial_weight", args.adversarial_weight),
                                   ("adversarial_rampup", args.adversarial_rampup),
                                   ("perceptual_weight", args.perceptual_weight)) if v is not None}
    gan: dict[str, Any] = {**gan_options(args.vgg is not None), **overrides}
    result: dict[str, Any] = {**head, "arch": arch, "scale": SCALE, "degradation": "area ÷4",
                              "pretrain_steps": args.pretrain_steps, "gan_steps": args.gan_steps,
                              "num_block": args.num_block, **sizes, "options": options, "gan_options": gan,
                              "clips": {name: {"train_frames": TRAIN_FRAMES, "test_frames": list(TEST[name])}
                                        for name in names}}
    with tempfile.TemporaryDirectory(prefix=f"vsr-{stem}-") as tmp:
        keep = args.keep or Path(tmp)
        keep.mkdir(parents=True, exist_ok=True)
        models = {"bicubic": "bicubic"}
        common = {"arch": arch, "scale": SCALE, "num_block": args.num_block, "device": args.device, **sizes,
                  "data": [str(clips[name]) for name in names], "frames": TRAIN_FRAMES, **options}
        if args.pixel_phase:
            models[pixel_name] = str(args.pixel_phase)
            result["pixel_phase_from"] = args.pixel_phase.name
        else:
            start = time.perf_counter()
            phase1 = train({**common, "pretrain_steps": args.pretrain_steps, "gan_steps": 0, "name": pixel_name,
                            "val_every": max(1, args.pretrain_steps // 10),
                            "checkpoint_every": max(1, args.pretrain_steps // 4),
                            "export": str(keep / f"{pixel_name}.safetensors")}, out=Path(tmp) / "pixel",
                           progress=False)
            models[pixel_name] = phase1["export"]
            result[f"{pixel_name}_seconds"] = round(time.perf_counter() - start, 1)
            result["precision"] = phase1["precision"]
            result["validation"] = {pixel_name: phase1["final"]}
        if args.gan_phase:
            models[gan_name] = str(args.gan_phase)
            result["gan_phase_from"] = args.gan_phase.name
            for key in ("gan_steps", "gan_options"):  # that run's, not these arguments'
                result.pop(key)
        elif args.gan_steps:
            start = time.perf_counter()
            phase2 = train({**common, **gan, "init": models[pixel_name], "name": gan_name, "pretrain_steps": 0,
                            "gan_steps": args.gan_steps, "val_every": max(1, args.gan_steps // 10),
                            "checkpoint_every": max(1, args.gan_steps // 4),
                            "export": str(keep / f"{gan_name}.safetensors")}, out=Path(tmp) / "gan", progress=False)
            models[gan_name] = phase2["export"]
            result[f"{gan_name}_seconds"] = round(time.perf_counter() - start, 1)
            result["precision"] = phase2["precision"]
            result.setdefault("validation", {})[gan_name] = phase2["final"]
        for alpha in (float(a) for a in args.interpolate.split(",") if a):
            path = keep / f"{gan_name}-interpolated-{alpha:g}.safetensors"
            interpolate_files(models[pixel_name], models[gan_name], path, alpha, replace=True)
            models[f"{gan_name}@{alpha:g}"] = str(path)
        for name in names:
            rows = unseen_frames_score(clips[name], TEST[name], models, args.device, crf=None, measures=sharpness)
            for label in models:
                rows[label]["psnr_vs_bicubic_db"] = round(rows[label]["psnr"] - rows["bicubic"]["psnr"], 3)
            for label in (label for label in rows if label.startswith(gan_name)):
                rows[label]["psnr_vs_pixel_phase_db"] = round(rows[label]["psnr"] - rows[pixel_name]["psnr"], 3)
            result["clips"][name]["unseen_frames"] = rows
    write_result(args, f"{stem}-{args.tag}" if args.tag else stem, result)


def main() -> None:
    # SRGAN (Ledig et al. 2017), but L1 pre-training where the paper's SRResNet used MSE.
    from_scratch(__doc__.splitlines()[0], "srgan", "srresnet", "srresnet", "srgan", options={},
                 gan_options=lambda vgg: {"adversarial": "vanilla", "adversarial_weight": 1e-3, "d_norm": "batch",
                                          "perceptual_weight": 1.0, "pixel_weight": 1.0},
                 defaults={"pretrain_steps": 20000, "gan_steps": 20000, "num_block": 16})


if __name__ == "__main__":
    main()
