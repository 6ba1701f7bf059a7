"""`vsr.upscale` and `vsr.upscale_folder`: probe the input, plan the output, build the engine,
run the stages, report.

    probe_input ─► make_plan ─► build_engine ─► open source and sink ─► runner.run ─► Summary
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vsr.atomic import check_output
from vsr.errors import InputError, OutputError, VsrError
from vsr.media.kinds import OutputKind, is_media
from vsr.media.sinks import open_sink
from vsr.media.sources import InputInfo, open_source
from vsr.media.video_source import VideoInfo
from vsr.models.descriptor import Model
from vsr.pipeline import runner
from vsr.pipeline.batches import BatchUpscaler
from vsr.pipeline.options import UpscaleOptions
from vsr.pipeline.plan import Plan, check_output_kind, make_plan, probe_input
from vsr.runtime.engine import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Summary:
    """What one upscale did; `--json` prints `as_dict()`."""

    input: str
    output: str
    frames: int
    seconds: float
    fps: float
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    codec: str
    pix_fmt: str
    model: str
    device: str
    bytes: int
    warnings: tuple[str, ...]
    backend: str
    precision: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FileFailure:
    """A file of a folder that could not be upscaled, and why."""

    input: str
    error: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FolderReport:
    """One entry per file of the folder, in name order: its summary, or why it failed."""

    input: str
    output: str
    files: tuple[Summary | FileFailure, ...]

    @property
    def failures(self) -> list[FileFailure]:
        return [f for f in self.files if isinstance(f, FileFailure)]

    def as_rows(self) -> list[dict[str, Any]]:
        return [f.as_dict() for f in self.files]


def upscale(input: str | Path, output: str | Path, options: UpscaleOptions | None = None, *,
            overwrite: bool = False, progress: bool = True) -> Summary:
    """Upscale a video, an animated image (GIF, WebP, APNG) or a still image.

    Video: every frame keeps its timestamp, every audio track is remuxed, colours and 10-bit
    depth are kept. Animated images keep their delays, loop count and transparency. The output
    appears only when complete; an existing file is replaced only with `overwrite`.
    """
    options = options or UpscaleOptions()
    from vsr.models.catalogue import load_model

    info = probe_input(Path(input), Path(output))
    check_output(Path(output), overwrite=overwrite, input_path=Path(input))
    check_output_kind(info, Path(output), options)
    return _upscale_one(info, Path(output), options, load_model(options.runtime.model), progress=progress)


def upscale_folder(input: str | Path, output: str | Path, options: UpscaleOptions | None = None, *,
                   overwrite: bool = False, progress: bool = True) -> FolderReport:
    """Every image and video in a folder (not recursive), under the same names in the output
    folder; a file that fails is reported and the rest go on."""
    options = options or UpscaleOptions()
    input_dir, output_dir = Path(input), Path(output)
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: {'is not a folder' if input_dir.exists() else 'no such folder'}")
    if not output_dir.parent.is_dir():
        raise OutputError(f"{output_dir}: the folder {output_dir.parent} does not exist")
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"{output_dir}: exists and is not a folder")
    files = sorted(p for p in input_dir.iterdir() if p.is_file() and is_media(p))
    if not files:
        raise InputError(f"{input_dir}: no images or videos in this folder")
    from vsr.models.catalogue import load_model

    model = load_model(options.runtime.model)
    output_scale(options, model)  # one usage error, not one failure per file
    output_dir.mkdir(exist_ok=True)
    results: list[Summary | FileFailure] = []
    for path in files:
        target = output_dir / path.name
        try:
            info = probe_input(path, target)
            check_output(target, overwrite=overwrite, input_path=path)
            check_output_kind(info, target, options)
            results.append(_upscale_one(info, target, options, model, progress=progress))
        except VsrError as exc:  # reported in the folder's report, once
            results.append(FileFailure(input=str(path), error=str(exc)))
    return FolderReport(input=str(input_dir), output=str(output_dir), files=tuple(results))


def output_scale(options: UpscaleOptions, model: Model) -> float:
    """--scale, or the model's own; a model cannot go above its native scale."""
    scale = float(options.scale if options.scale is not None else model.scale)
    if scale > model.scale:
        raise InputError(f"--scale {scale:g} is above {model.name}'s native ×{model.scale}; "
                         f"use a ×{math.ceil(scale)} model or a smaller --scale")
    return scale


def build_engine(model: Model, plan: Plan, options: UpscaleOptions) -> Engine:
    """The engine for a plan: device, precision, batch and backend as asked, sized for its frames."""
    from vsr.runtime.device import resolve_device, resolve_precision
    from vsr.runtime.temporal import TemporalBlend

    runtime = options.runtime
    device = resolve_device(runtime.device)
    # One picture: one frame a batch, and building a compiled or TensorRT engine would cost more
    # than it saves.
    single = plan.frames == 1
    backend = "eager" if runtime.backend == "auto" and single else runtime.backend
    batch = 1 if single else runtime.batch_size or (4 if device.type == "cuda" else 1)
    (in_w, in_h), (out_w, out_h) = plan.in_size, plan.out_size
    return Engine(model=model, device=device, dtype=resolve_precision(runtime.precision, device, model),
                  out_size=(out_h, out_w), tile=runtime.tile, backend=backend, in_size=(in_h, in_w),
                  batch=batch,
                  temporal=TemporalBlend(options.temporal_blend) if options.temporal_blend else None)


def run_plan(plan: Plan, engine: Engine, options: UpscaleOptions, *, progress: bool) -> Summary:
    """Decode, upscale and write as planned; warnings are logged once, here, and returned."""
    from vsr.runtime import yuv
    from vsr.runtime.device import colour_on_device, precision_name

    info = plan.info
    colour = info.colour if isinstance(info, VideoInfo) else None
    device_colour = colour is not None and colour_on_device(options.runtime.colour_conversion, engine.device)
    # Planes go straight to a video encoder; other outputs (and formats the device does not
    # convert) take RGB.
    planes_out = plan.pix_fmt if device_colour and plan.kind is OutputKind.VIDEO and yuv.supported(plan.pix_fmt) \
        else None
    start = time.perf_counter()
    with open_source(info, copy=plan.copy_streams, planes_for=yuv.supported if device_colour else None) as source:
        process = BatchUpscaler(engine, colour=colour, planes_out=planes_out)
        sink = open_sink(plan.kind, plan.output, plan.sink_spec, source.copy_streams)
        try:
            report = runner.run(source, sink, process, batch=engine.batch, progress=progress)
        finally:  # what was found is said, once, also when the run failed
            said = _once([*plan.warnings, *source.warnings(), *engine.warnings])
            for message in said:
                log.warning("%s", message)
    for message in report.warnings:
        log.warning("%s", message)
    warnings = _once([*said, *report.warnings])
    seconds = time.perf_counter() - start
    return Summary(input=str(plan.input), output=str(plan.output), frames=report.frames, seconds=round(seconds, 3),
                   fps=round(report.frames / seconds, 3) if seconds else 0.0, input_size=plan.in_size,
                   output_size=plan.out_size, codec=plan.codec, pix_fmt=plan.pix_fmt, model=engine.model.name,
                   device=str(engine.device), bytes=report.bytes, warnings=warnings, backend=engine.backend_used,
                   precision=precision_name(engine.dtype))


def _upscale_one(info: InputInfo, output: Path, options: UpscaleOptions, model: Model, *, progress: bool) -> Summary:
    plan = make_plan(info, output, options, output_scale(options, model))
    return run_plan(plan, build_engine(model, plan, options), options, progress=progress)


def _once(messages: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(messages))
