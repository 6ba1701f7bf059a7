"""Streaming with a model specialised to the video: does sending it small and upscaling at the
viewer save bits, with the built-in model and with one fine-tuned on the same video?

realesr-animevideov3 is fine-tuned on frames 30-131 of bigbuckbunny (libx264 at a random CRF
from 18 to 42 per batch, the range a stream would use), then `vsr bandwidth` runs on frames 0-23,
which training never saw, with both models. The CRF list reaches 51 so that the full-size stream's
curve comes down to the quality of the upscaled ones and the BD-rate against it is defined.

    python benchmarks/streaming.py      # CPU: about 25 min; writes results/streaming-cpu-<date>.json
                                        # and results/streaming-bigbuckbunny.png (needs matplotlib)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from finetune import parse_run_args, write_result
from quality import sample_clips

from vsr.quality.bandwidth import bandwidth, curve_bd_rate
from vsr.quality.evaluate import frame_rate
from vsr.quality.plot import plot_rd
from vsr.train.trainer import finetune

HERE = Path(__file__).parent
MODEL, CLIP, STEPS = "realesr-animevideov3", "bigbuckbunny", 300
TRAIN_FRAMES, TEST_FRAMES, TRAIN_CRF = "30:132", 24, "18:42"
CRFS = [18, 26, 34, 42, 48, 51]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    args, head = parse_run_args(parser)
    clip = sample_clips()[CLIP]
    with tempfile.TemporaryDirectory(prefix="vsr-streaming-") as tmp:
        tuned = Path(tmp) / f"{CLIP}.safetensors"
        start = time.perf_counter()
        summary = finetune(MODEL, {"data": [str(clip)], "frames": TRAIN_FRAMES, "val": [str(clip)],
                                   "val_frames": f"0:{TEST_FRAMES}", "degrade_crf": TRAIN_CRF,
                                   "pretrain_steps": args.steps, "device": args.device}, out=tuned, progress=False)
        finetune_seconds = round(time.perf_counter() - start, 1)
        built_in = bandwidth(clip, model=MODEL, crfs=CRFS, frames=TEST_FRAMES, device=args.device)
        specialised = bandwidth(clip, model=str(tuned), crfs=CRFS, frames=TEST_FRAMES, device=args.device)
        model_bytes = tuned.stat().st_size
    curve = {"direct": [r for r in built_in["rows"] if r["method"] == "direct"],
             "bicubic": [r for r in built_in["rows"] if r["method"] == "bicubic"],
             "sr": [r for r in built_in["rows"] if r["method"] == "sr"],
             "sr fine-tuned": [{**r, "method": "sr fine-tuned"} for r in specialised["rows"] if r["method"] == "sr"]}
    bd_rate = {f"{b}_vs_{a}_{key}".replace(" ", "_"): curve_bd_rate(curve[a], curve[b], key)
               for b, a in (("sr", "direct"), ("sr fine-tuned", "direct"), ("bicubic", "direct"),
                            ("sr", "bicubic"), ("sr fine-tuned", "bicubic"), ("sr fine-tuned", "sr"))
               for key in ("psnr", "ssim")}
    rows = [r for rs in curve.values() for r in rs]
    plot = HERE / "results" / f"streaming-{CLIP}.png"
    plot_rd({"reference": str(clip), "model": f"{MODEL} and fine-tuned", "scale": built_in["scale"],
             "codec": built_in["codec"], "rows": rows}, plot)
    result = {**head, "clip": clip.name, "model": MODEL, "scale": built_in["scale"], "codec": built_in["codec"],
              "finetune": {"steps": args.steps, "frames": TRAIN_FRAMES, "degrade_crf": TRAIN_CRF,
                           "seconds": finetune_seconds, "precision": summary["precision"],
                           "validation": {"before": summary["initial"], "after": summary["final"]},
                           "model_bytes": model_bytes},
              "test_frames": f"0:{TEST_FRAMES}", "seconds_of_video": round(built_in["frames"] / float(frame_rate(clip)), 3),
              "crfs": CRFS,
              "rows": rows, "bd_rate": bd_rate, "plot": plot.name}
    write_result(args, "streaming", result)


if __name__ == "__main__":
    main()
