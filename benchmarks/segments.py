"""Segments on this machine: what cutting a video costs against one stream, what a second
worker gains, and what resume saves after a run is killed at 60%.

All runs are `vsr upscale` in a fresh process (the CLI, as a user runs it), realesr-animevideov3
×4, default precision, libx264 default preset, on a generated clip (25 fps, a keyframe a second;
320×180 → 1280×720 by default). Each configuration runs `--repeat` times, interleaved, and the
fastest run counts (the VM is shared and noisy).

Short segments make the cost of cutting measurable: it is a fixed cost per cut (a seek, an
encoder's start and drain, a keyframe), so the result also gives that cost per cut, and what it
comes to at the default 120-s segments on this machine.

    python benchmarks/segments.py                 # about 10 min on 2 cores; writes results/segments-<s>s-<machine>-<date>.json
    python benchmarks/segments.py --seconds 8     # a shorter clip
    python benchmarks/segments.py --tiny-model --size 160x90 --segment-seconds 1 --repeat 5   # the cost of a cut

`--tiny-model` runs an untrained tiny network (the registry's smallest compact example) instead:
the model then costs next to nothing, the pipeline's own work is what is timed, and a cut's cost
is at its largest share, well above this VM's run-to-run noise.
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
from vsr.pipeline import DEFAULT_SEGMENT_SECONDS

HERE = Path(__file__).parent
RATE = 25


def tiny_model(folder: Path) -> Path:
    from vsr.models import registry
    from vsr.models.catalogue import write_model
    from vsr.models.descriptor import describe_network

    spec = registry.get_spec("compact")
    hp = spec.examples[0]
    path = folder / "tiny.safetensors"
    write_model(path, describe_network(registry.build(spec, hp), spec, hp, name="tiny"), source="benchmark",
                licence="benchmark")
    return path


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
    parser.add_argument("--size", default="320x180", help="the generated clip's WIDTHxHEIGHT")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each configuration; the fastest counts")
    parser.add_argument("--tiny-model", action="store_true", help="an untrained tiny network: the pipeline's cost alone")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    frames = round(args.seconds * RATE)
    segmented = ["--segment-seconds", str(args.segment_seconds)]
    configurations = {
        "one stream": ["--segment-seconds", "0"],
        "segments, 1 worker": [*segmented, "--workers", "1"],
        "segments, 2 workers": [*segmented, "--workers", "2"],
    }
    with tempfile.TemporaryDirectory(prefix="vsr-segments-") as tmp:
        model = "tiny" if args.tiny_model else "realesr-animevideov3"
        if args.tiny_model:
            chosen = ["--model", str(tiny_model(Path(tmp)))]
            configurations = {name: [*extra, *chosen] for name, extra in configurations.items()}
            segmented = [*segmented, *chosen]
        src = Path(tmp) / "clip.mp4"
        synthetic_clip(src, size, frames, keyframe_every=RATE)
        upscale(src, Path(tmp) / "warm.mp4", *configurations["one stream"])  # kernels chosen, files cached
        times: dict[str, list[float]] = {name: [] for name in configurations}
        summaries: dict[str, dict] = {}
        for _ in range(args.repeat):
            for name, extra in configurations.items():
                seconds, summaries[name] = upscale(src, Path(tmp) / "out.mp4", *extra)
                times[name].append(seconds)
                print(f"{name}: {seconds:.1f} s", flush=True)
        best = {name: min(t) for name, t in times.items()}
        ran, finished = killed_at(src, Path(tmp) / "resumed.mp4", 0.6, *segmented, "--workers", "1")
        rerun, summary = upscale(src, Path(tmp) / "resumed.mp4", *segmented, "--workers", "1")
        print(f"killed after {ran:.1f} s with {finished} segments done; the rerun took {rerun:.1f} s", flush=True)
    one, seg1, seg2 = best["one stream"], best["segments, 1 worker"], best["segments, 2 workers"]
    segments = summaries["segments, 1 worker"]["segments"]
    per_cut = (seg1 - one) / max(1, segments - 1)
    per_video_second = one / args.seconds  # wall seconds to do one second of video here
    result = {
        "date": datetime.date.today().isoformat(), "device": device_name(torch.device("cpu")),
        "clip": f"{size[0]}x{size[1]} {RATE} fps, {frames} frames, a keyframe a second", "model": model,
        "segment_seconds": args.segment_seconds, "segments": segments,
        "precision": summaries["one stream"]["precision"],
        "wall_seconds": {k: [round(v, 2) for v in t] for k, t in times.items()},
        "segmenting_overhead_pct": round((seg1 / one - 1) * 100, 1),
        "bytes": {k: v["bytes"] for k, v in summaries.items()},  # a keyframe at every cut costs bits
        "size_overhead_pct": round((summaries["segments, 1 worker"]["bytes"] / summaries["one stream"]["bytes"] - 1)
                                   * 100, 1),
        "cost_per_cut_s": round(per_cut, 3),
        "overhead_at_default_segments_pct": round(per_cut / (per_video_second * DEFAULT_SEGMENT_SECONDS) * 100, 3),
        "two_workers_speedup": round(seg1 / seg2, 3),
        "resume": {"killed_after_s": round(ran, 1), "segments_done_then": finished,
                   "segments_resumed": summary["segments_resumed"], "rerun_s": round(rerun, 1),
                   "full_run_s": round(seg1, 1), "saving_pct": round((1 - rerun / seg1) * 100, 1)},
    }
    print(json.dumps(result, indent=2))
    machine = re.sub(r"[^a-z0-9]+", "-", result["device"].lower()).strip("-")[:40]
    args.results.mkdir(parents=True, exist_ok=True)
    name = f"segments-{args.segment_seconds:g}s-{'tiny-' if args.tiny_model else ''}{machine}-{result['date']}.json"
    (args.results / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
