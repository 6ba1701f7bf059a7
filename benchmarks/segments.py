"""Segments on this machine: what cutting a video costs against one stream, what a second
worker gains, and what resume saves after a run is killed at 60%.

All runs are `vsr upscale` in a fresh process (the CLI, as a user runs it), realesr-animevideov3
×4, default precision, libx264 default preset, on a generated 320×180 clip (25 fps, a keyframe a
second) → 1280×720. Each configuration runs twice, interleaved, and the faster run counts (the
VM is shared and noisy).

    python benchmarks/segments.py                 # about 10 min on 2 cores; writes results/segments-<s>s-<machine>-<date>.json
    python benchmarks/segments.py --seconds 8     # a shorter clip
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from vsr.bench.roofline import device_name
from vsr.bench.synthetic import synthetic_clip

HERE = Path(__file__).parent
SIZE, RATE = (320, 180), 25


def upscale(src: Path, out: Path, *extra: str) -> tuple[float, dict]:
    command = [sys.executable, "-m", "vsr", "upscale", str(src), str(out), "--overwrite", "--quiet", "--json", *extra]
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, json.loads(run.stdout)


def killed_at(src: Path, out: Path, fraction: float, *extra: str) -> tuple[float, int]:
    """Start a segmented run, SIGKILL it once `fraction` of the frames are in finished segments;
    the seconds it ran and the segments it finished."""
    command = [sys.executable, "-m", "vsr", "upscale", str(src), str(out), "--quiet", "--json", *extra]
    manifest = out.with_name(f".{out.name}.vsr-work") / "manifest.json"
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = 0
    while proc.poll() is None:
        try:
            segments = json.loads(manifest.read_text())["segments"]
        except (OSError, ValueError, KeyError):
            segments = []
        frames = sum(s["frames"] for s in segments) or 1
        done_frames = sum(s["frames"] for s in segments if s["done"])
        if done_frames >= fraction * frames:
            done = sum(1 for s in segments if s["done"])
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return time.perf_counter() - start, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=16.0, help="length of the generated clip")
    parser.add_argument("--segment-seconds", type=float, default=2.0)
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args()
    frames = round(args.seconds * RATE)
    segmented = ["--segment-seconds", str(args.segment_seconds)]
    configurations = {
        "one stream": ["--segment-seconds", "0"],
        "segments, 1 worker": [*segmented, "--workers", "1"],
        "segments, 2 workers": [*segmented, "--workers", "2"],
    }
    with tempfile.TemporaryDirectory(prefix="vsr-segments-") as tmp:
        src = Path(tmp) / "clip.mp4"
        synthetic_clip(src, SIZE, frames, keyframe_every=RATE)
        upscale(src, Path(tmp) / "warm.mp4", "--segment-seconds", "0")  # kernels chosen, files cached
        times: dict[str, list[float]] = {name: [] for name in configurations}
        summaries: dict[str, dict] = {}
        for _ in range(2):
            for name, extra in configurations.items():
                seconds, summaries[name] = upscale(src, Path(tmp) / "out.mp4", *extra)
                times[name].append(seconds)
                print(f"{name}: {seconds:.1f} s", flush=True)
        best = {name: min(t) for name, t in times.items()}
        ran, finished = killed_at(src, Path(tmp) / "resumed.mp4", 0.6, *segmented, "--workers", "1")
        rerun, summary = upscale(src, Path(tmp) / "resumed.mp4", *segmented, "--workers", "1")
        print(f"killed after {ran:.1f} s with {finished} segments done; the rerun took {rerun:.1f} s", flush=True)
    one, seg1, seg2 = best["one stream"], best["segments, 1 worker"], best["segments, 2 workers"]
    result = {
        "date": datetime.date.today().isoformat(), "device": device_name(torch.device("cpu")),
        "clip": f"{SIZE[0]}x{SIZE[1]} {RATE} fps, {frames} frames, a keyframe a second", "model": "realesr-animevideov3",
        "segment_seconds": args.segment_seconds, "segments": summaries["segments, 1 worker"]["segments"],
        "precision": summaries["one stream"]["precision"],
        "wall_seconds": {k: [round(v, 2) for v in t] for k, t in times.items()},
        "segmenting_overhead_pct": round((seg1 / one - 1) * 100, 1),
        "two_workers_speedup": round(seg1 / seg2, 3),
        "resume": {"killed_after_s": round(ran, 1), "segments_done_then": finished,
                   "segments_resumed": summary["segments_resumed"], "rerun_s": round(rerun, 1),
                   "full_run_s": round(seg1, 1), "saving_pct": round((1 - rerun / seg1) * 100, 1)},
    }
    print(json.dumps(result, indent=2))
    machine = re.sub(r"[^a-z0-9]+", "-", result["device"].lower()).strip("-")[:40]
    args.results.mkdir(parents=True, exist_ok=True)
    name = f"segments-{args.segment_seconds:g}s-{machine}-{result['date']}.json"
    (args.results / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
