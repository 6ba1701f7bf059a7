"""Correctness on a GPU, before timing: the CUDA path (fp16, colour conversion on the GPU, each
backend, temporal blending) against the CPU fp32 path on the same clip, timestamps and pixels;
peak GPU memory for a short and a 4× longer clip (it must not grow with length); what
`--temporal-blend 0.5` costs in throughput on the GPU (issue 6's target: under 5%); and
`--backend auto` as a user meets it (issue 18): `vsr upscale --quiet` in a fresh process says
nothing on stderr, a 250-frame clip is not made to wait for torch.compile, a second compile run
finds inductor's cache, and what the policy measured. Last, what copy/compute overlap could
save: the upload and download stages' share of a frame's cost, end to end and against the model
(`transfer_share`).

    python benchmarks/gpu_check.py --out DIR      # writes DIR/gpu-check.json; exit 1 on a failure
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
import torch

from vsr.bench.roofline import device_name
from vsr.bench.synthetic import synthetic_clip
from vsr.pipeline import RuntimeOptions, UpscaleOptions, VideoEncoding, upscale
from vsr.runtime import Backend, Precision


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def timing(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


def psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


def options(device: str, precision: Precision = "auto", *, backend: Backend = "auto", codec: str | None = None,
            temporal_blend: float = 0.0) -> UpscaleOptions:
    return UpscaleOptions(runtime=RuntimeOptions(device=device, precision=precision, backend=backend),
                          video=VideoEncoding(codec=codec), temporal_blend=temporal_blend)


def vsr_command(args: list[str], home: Path) -> tuple[float, str, dict]:
    """`vsr ARGS --quiet --json` in a fresh process with its own caches: seconds, stderr, result."""
    import os
    import subprocess
    import time

    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vsr", *args, "--quiet", "--json", "--overwrite"],
                          check=False, capture_output=True, text=True, env={**os.environ, "VSR_HOME": str(home)})
    seconds = time.perf_counter() - start
    return seconds, done.stderr, json.loads(done.stdout) if done.returncode == 0 else {"rc": done.returncode}


def auto_as_a_user_meets_it(tmp: Path) -> dict:
    """The H100 finding was: auto compiled for 25 s a clip eager did in 6.9 s, and Triton's
    autotune lines reached the terminal under --quiet."""
    home = tmp / "home"
    clip = tmp / "auto.mp4"
    synthetic_clip(clip, (640, 360), 250)
    out = str(tmp / "auto-out.mp4")
    row: dict = {}
    row["auto_first_s"], said, result = vsr_command(["upscale", str(clip), out, "--device", "cuda"], home)
    row["auto_backend"], row["auto_stderr"] = result.get("backend"), said[-500:]
    row["eager_s"], said, _ = vsr_command(["upscale", str(clip), out, "--device", "cuda", "--backend", "eager"], home)
    for run in ("compile_first_s", "compile_second_s"):  # the second must find inductor's cache
        row[run], said, _ = vsr_command(["upscale", str(clip), out, "--device", "cuda", "--backend", "compile"], home)
        row[run.replace("_s", "_stderr")] = said[-500:]
    row["auto_after_s"], said, result = vsr_command(["upscale", str(clip), out, "--device", "cuda"], home)
    row["auto_after_backend"] = result.get("backend")
    costs = home / "cache" / "backends" / "costs.json"
    row["measured"] = json.loads(costs.read_text()) if costs.exists() else None
    row["ok"] = (not any(v for k, v in row.items() if k.endswith("_stderr"))
                 and row["auto_first_s"] <= row["eager_s"] * 1.5 + 5  # never waits long for a build that cannot pay
                 and row["compile_second_s"] < row["compile_first_s"])
    print(json.dumps(row), flush=True)
    return row


def transfer_share(device: str = "cuda", sizes: tuple[tuple[int, int], ...] = ((640, 360),),
                   precision: Precision = "fp16") -> list[dict]:
    """Copy/compute overlap (pinned buffers, a copy stream) can save at most the time the copies
    take: the upload stage (planes to the GPU, converted there) and the download stage. Two
    shares: against the steady cost of a frame end to end (libx264 at the default preset, so
    mostly encoding: about 57 ms a 640×360 frame on the H100 of 2026-11-22), and against the
    model and the copies alone, which is what a frame would cost if nothing on the CPU paced
    the run (a hardware encoder, say). Under 10% of the second, leave the copies in line."""
    from vsr.bench.stages import STEADY_LEAD, run

    rows = []
    for size in sizes:
        r = run(size=size, precision=precision, backend="eager", device=device, frames=2 * STEADY_LEAD + 8,
                naive=False)
        ms = {k: 1000 / v for k, v in r["stages_fps"].items() if v}
        copies = ms["convert_upload"] + ms["download"]
        frame_ms = r.get("end_to_end_steady_ms_per_frame") or r.get("end_to_end_marginal_ms_per_frame")
        row = {"size": r["size"], "stage_ms": {k: round(v, 3) for k, v in ms.items()}, "end_to_end_ms": frame_ms,
               "transfer_share_of_a_frame": round(copies / frame_ms, 3) if frame_ms else None,
               "transfer_share_of_model_and_copies": round(copies / (copies + ms["model"]), 3)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()
    report = {"device": device_name(torch.device("cuda")), "checks": []}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = tmp / "clip.mp4"
        synthetic_clip(clip, (320, 180), 24)
        reference = tmp / "cpu.mkv"
        upscale(clip, reference, options("cpu", "fp32", codec="ffv1"), progress=False)
        ref_frames, ref_timing = frames(reference), timing(reference)
        for backend in ("eager", "compile", "tensorrt"):
            for precision in ("fp16", "bf16"):
                out = tmp / f"gpu-{backend}-{precision}.mkv"
                row = {"backend": backend, "precision": precision}
                try:
                    summary = upscale(clip, out, options("cuda", precision, backend=backend, codec="ffv1"),
                                      overwrite=True, progress=False)
                    got = frames(out)
                    row.update(backend_used=summary.backend, frames=len(got), timing_equal=timing(out) == ref_timing,
                               min_psnr_vs_cpu_fp32=round(min(psnr(a, b) for a, b in zip(got, ref_frames)), 2))
                    row["ok"] = row["timing_equal"] and len(got) == len(ref_frames) and row["min_psnr_vs_cpu_fp32"] >= 40
                except Exception as exc:
                    row.update(ok=backend == "tensorrt", error=f"{type(exc).__name__}: {exc}")  # TensorRT may be absent
                ok &= row["ok"]
                report["checks"].append(row)
                print(json.dumps(row), flush=True)
        # Temporal blending runs on the engine's device, inside the stream: the same blend as on the CPU.
        blended_cpu, blended_gpu = tmp / "blend-cpu.mkv", tmp / "blend-gpu.mkv"
        upscale(clip, blended_cpu, options("cpu", "fp32", codec="ffv1", temporal_blend=0.5), progress=False)
        upscale(clip, blended_gpu, options("cuda", "fp16", backend="eager", codec="ffv1", temporal_blend=0.5),
                progress=False)
        got = frames(blended_gpu)
        row = {"check": "temporal blend 0.5", "timing_equal": timing(blended_gpu) == ref_timing, "frames": len(got),
               "min_psnr_vs_cpu_fp32": round(min(psnr(a, b) for a, b in zip(got, frames(blended_cpu))), 2)}
        row["ok"] = row["timing_equal"] and len(got) == len(ref_frames) and row["min_psnr_vs_cpu_fp32"] >= 40
        ok &= row["ok"]
        report["checks"].append(row)
        print(json.dumps(row), flush=True)
        cost_clip = tmp / "cost.mp4"
        synthetic_clip(cost_clip, (640, 360), 96)
        fps: dict[float, list[float]] = {}
        for x in (0.0, 0.5, 0.0, 0.5):  # alternated, so drift in the machine's speed hits both
            fps.setdefault(x, []).append(upscale(cost_clip, tmp / "cost-out.mp4", options("cuda", temporal_blend=x),
                                                 overwrite=True, progress=False).fps)
        report["temporal_blend_cost"] = {"fps_off": max(fps[0.0]), "fps_blend_0.5": max(fps[0.5]),
                                         "cost_pct": round((1 - max(fps[0.5]) / max(fps[0.0])) * 100, 1)}
        print(json.dumps(report["temporal_blend_cost"]), flush=True)
        peaks = {}
        for n in (32, 128):
            src = tmp / f"len{n}.mp4"
            synthetic_clip(src, (640, 360), n)
            torch.cuda.reset_peak_memory_stats()
            upscale(src, tmp / f"len{n}-out.mp4", options("cuda"), overwrite=True, progress=False)
            peaks[n] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        report["peak_gpu_memory_mib_by_frames"] = peaks
        report["memory_flat"] = peaks[128] <= peaks[32] * 1.05 + 16
        ok &= report["memory_flat"]
        report["auto"] = auto_as_a_user_meets_it(tmp)
        ok &= report["auto"]["ok"]
    try:  # a measurement for a decision, not a pass/fail check
        report["transfer_share"] = transfer_share()
    except Exception as exc:  # the checks above must reach the report whatever happens here
        report["transfer_share"] = {"error": f"{type(exc).__name__}: {exc}"}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu-check.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
