"""`vsr bench`: each stage's throughput, end to end, FLOP/s and memory, against a naive baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vsr.cli.common import (
    BackendOption,
    BatchSizeOption,
    DeviceOption,
    JsonOption,
    ModelOption,
    PrecisionOption,
    report,
)
from vsr.models import DEFAULT_MODEL


def bench_command(
    model: ModelOption = DEFAULT_MODEL,
    size: Annotated[str, typer.Option(help="Input frame size WxH for the generated clip.")] = "640x360",
    batch_size: BatchSizeOption = None,
    precision: PrecisionOption = "auto",
    backend: BackendOption = "auto",
    device: DeviceOption = "auto",
    frames: Annotated[int, typer.Option(help="Frames to time.")] = 32,
    input: Annotated[Path | None, typer.Option(help="Time this video instead of a generated clip.")] = None,
    no_naive: Annotated[bool, typer.Option("--no-naive", help="Skip the naive baseline.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Measure each stage's throughput, end-to-end fps, FLOP/s and memory, against a naive baseline."""
    from vsr.bench.stages import run
    from vsr.errors import InputError

    try:
        width, height = (int(v) for v in size.lower().split("x"))
        if width < 1 or height < 1:
            raise ValueError
    except ValueError:
        raise InputError(f"invalid --size {size!r}: use WxH, e.g. 640x360") from None
    if frames < 1:
        raise InputError(f"invalid --frames {frames}: at least 1")
    if batch_size is not None and batch_size < 1:
        raise InputError(f"invalid --batch-size {batch_size}: must be at least 1")
    if input is not None and not input.is_file():
        raise InputError(f"{input}: no such file")
    result = run(model=model, size=(width, height), batch_size=batch_size, precision=precision, backend=backend,
                 device=device, frames=frames, input=input, naive=not no_naive)
    report(result, as_json=as_json, lines=lambda: _lines(result))


def _lines(r: dict[str, Any]) -> list[str]:
    out = [f"{r['model']} x{r['scale']} on {r['device_name']}, {r['size']}, {r['precision']}, {r['backend']}, "
           f"batch {r['batch_size']}, {r['frames']} frames"]
    out += [f"  {stage:<16}{fps:>10.2f} fps" for stage, fps in r["stages_fps"].items()]
    marginal = r.get("end_to_end_marginal_ms_per_frame")
    out.append(f"  {'end to end':<16}{r['end_to_end_fps']:>10.2f} fps"
               + (f"  ({marginal:.1f} ms per extra frame)" if marginal is not None else ""))
    out.append(f"  model: {r['model_output_mpix_per_s']:.2f} output Mpx/s, {r['model_tflops']:.3f} TFLOP/s "
               f"= {100 * r['roofline_fraction']:.1f}% of the {r['roofline_tflops']:.2f} TFLOP/s measured roofline")
    if "naive_fps" in r:
        out.append(f"  naive baseline: {r['naive_fps']:.2f} fps; speed-up {r['speedup_model_vs_naive']}x "
                   f"(model), {r['speedup_end_to_end_vs_naive']}x (end to end)")
    memory = f"peak RSS {r['peak_rss_mib']} MiB"
    if r["peak_gpu_memory_mib"] is not None:
        memory += f", peak GPU memory {r['peak_gpu_memory_mib']} MiB"
    out.append("  " + memory)
    return out
