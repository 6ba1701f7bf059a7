"""SRGAN from scratch on real footage: SRResNet ×4 pre-trained with pixel loss, then GAN-trained
(vanilla adversarial loss, BatchNorm discriminator, the discriminator's features as the
perceptual loss since no VGG weights ship with vsr). Trained on the first frames of the sample
clips, measured on later frames of the same clips, against bicubic; the SRResNet (after the
pixel phase) and the SRGAN (after the GAN phase) are both measured.

    python benchmarks/srgan.py --device cuda --results $OUT      # a GPU session (the default sizes)
    python benchmarks/srgan.py --pretrain-steps 20 --gan-steps 20 --num-block 2   # a CPU smoke run
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from finetune import parse_run_args, unseen_frames_score, write_result
from quality import sample_clips

from vsr.train.trainer import train

TRAIN_FRAMES = "0:60"  # of each clip
TEST = {"bikes": (150, 250), "bigbuckbunny": (80, 132)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-steps", type=int, default=20000)
    parser.add_argument("--gan-steps", type=int, default=20000)
    parser.add_argument("--num-block", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    args, head = parse_run_args(parser)
    clips = sample_clips()
    result = {**head, "arch": "srresnet", "scale": 4, "degradation": "area ÷4",
              "pretrain_steps": args.pretrain_steps, "gan_steps": args.gan_steps, "num_block": args.num_block,
              "batch_size": args.batch_size, "clips": {}}
    with tempfile.TemporaryDirectory(prefix="vsr-srgan-") as tmp:
        out = Path(tmp) / "run"
        models = {"bicubic": "bicubic"}
        options = {"arch": "srresnet", "scale": 4, "num_block": args.num_block, "batch_size": args.batch_size,
                   "patch_size": 96, "device": args.device, "val_every": max(1, args.pretrain_steps // 10),
                   "checkpoint_every": max(1, args.pretrain_steps // 4), "adversarial": "vanilla",
                   "adversarial_weight": 1e-3, "d_norm": "batch", "perceptual_weight": 1.0, "pixel_weight": 1.0}
        start = time.perf_counter()
        for name in TEST:
            result["clips"][name] = {"train_frames": TRAIN_FRAMES, "test_frames": list(TEST[name])}
        data = [str(clips[name]) for name in TEST]
        phase1 = train({**options, "data": data, "frames": TRAIN_FRAMES, "pretrain_steps": args.pretrain_steps,
                        "gan_steps": 0, "name": "srresnet", "export": str(Path(tmp) / "srresnet.safetensors")},
                       out=out, progress=False)
        models["srresnet"] = phase1["export"]
        result["srresnet_seconds"] = round(time.perf_counter() - start, 1)
        result["precision"] = phase1["precision"]
        if args.gan_steps:
            # A second run from the SRResNet, so both phases' generators can be measured.
            start = time.perf_counter()
            phase2 = train({**options, "data": data, "frames": TRAIN_FRAMES, "init": phase1["export"], "name": "srgan",
                            "pretrain_steps": 0, "gan_steps": args.gan_steps,
                            "export": str(Path(tmp) / "srgan.safetensors")}, out=Path(tmp) / "gan", progress=False)
            models["srgan"] = phase2["export"]
            result["srgan_seconds"] = round(time.perf_counter() - start, 1)
            result["validation"] = {"srresnet": phase1["final"], "srgan": phase2["final"]}
        for name in TEST:
            result["clips"][name]["unseen_frames"] = unseen_frames_score(clips[name], TEST[name], models, args.device,
                                                                         crf=None)
    write_result(args, "srgan", result)

if __name__ == "__main__":
    main()
