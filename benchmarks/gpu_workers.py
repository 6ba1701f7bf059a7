"""On a GPU machine: how many segment workers to run on one GPU (or one per GPU).

A single `vsr upscale` stream on a GPU is held back by its one libx264 encoder at 4× the input
size: on an H100 the model ran at 450–750 fps at 640×360 and the whole pipeline at 18–31 fps
(../shared/gpu-results/h100-2026-11-22.md). Segment workers each run their own decoder, engine
and encoder, so N workers on one GPU should reach up to N× that, until the CPU cores (each
libx264 encode at 2560×1440 wants several) or the GPU run out. This measures it.

    python benchmarks/gpu_workers.py --out $OUT      # about 10 min; writes gpu-workers.json

Each run is the CLI in a fresh process, realesr-animevideov3 ×4, fp16 eager (compile would add
its build time to every worker), libx264 default preset, on a generated 640×360 clip of
--seconds at 25 fps with a keyframe a second, cut into --segment-seconds segments.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from vsr.bench.roofline import device_name
from vsr.bench.synthetic import synthetic_clip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--segment-seconds", type=float, default=4.0)
    parser.add_argument("--workers", default="1,2,4,8", help="comma-separated worker counts to try")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU here", file=sys.stderr)
        return 2
    frames = round(args.seconds * 25)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vsr-gpu-workers-") as tmp:
        src = Path(tmp) / "clip.mp4"
        synthetic_clip(src, (640, 360), frames, keyframe_every=25)
        base = [sys.executable, "-m", "vsr", "upscale", str(src), str(Path(tmp) / "out.mp4"), "--overwrite", "--quiet",
                "--json", "--device", "cuda", "--precision", "fp16", "--backend", "eager"]
        cases = [("one stream", ["--segment-seconds", "0"])]
        cases += [(f"{n} worker(s)", ["--segment-seconds", str(args.segment_seconds), "--workers", n])
                  for n in args.workers.split(",")]
        for name, extra in cases:
            start = time.perf_counter()
            run = subprocess.run([*base, *extra], capture_output=True, text=True, check=False)
            wall = time.perf_counter() - start
            row = {"case": name, "wall_s": round(wall, 2), "fps_wall": round(frames / wall, 2)}
            if run.returncode == 0:
                summary = json.loads(run.stdout)
                row.update(segments=summary["segments"], workers=summary["workers"], fps=summary["fps"])
            else:
                row["error"] = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"rc {run.returncode}"
            rows.append(row)
            print(json.dumps(row), flush=True)
    report = {"device": device_name(torch.device("cuda")), "cpu_cores": os.cpu_count(), "frames": frames,
              "clip": "640x360 → 2560x1440, 25 fps", "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu-workers.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
