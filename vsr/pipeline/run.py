"""Running one plan: the engine it needs, the stages, and the summary of what was done."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from vsr.errors import InputError
from vsr.media.colour import ColourInfo
from vsr.media.kinds import OutputKind
from vsr.media.sinks import open_sink
from vsr.media.sources import open_source
from vsr.media.video_source import VideoInfo
from vsr.models.descriptor import Model
from vsr.pipeline import runner
from vsr.pipeline.batches import BatchUpscaler
from vsr.pipeline.options import UpscaleOptions
from vsr.pipeline.plan import Plan
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
    segments: int = 1  # how the work was cut (1: one stream)
    segments_resumed: int = 0  # segments an interrupted run had finished, reused
    executor: str = "local"
    workers: int = 1

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
                  batch=batch, frames=plan.estimated_frames or None, quantise=runtime.may_quantise,
                  temporal=TemporalBlend(options.temporal_blend) if options.temporal_blend else None)


@dataclass(frozen=True)
class FrameRoute:
    """How a plan's frames travel: as YUV planes converted on the engine's device (for the pixel
    formats `planes_for` accepts, and back to `planes_out` for a video encoder), or as RGB."""

    colour: ColourInfo | None
    planes_for: Callable[[str], bool] | None
    planes_out: str | None

    def process(self, engine: Engine) -> BatchUpscaler:
        return BatchUpscaler(engine, colour=self.colour, planes_out=self.planes_out)


def frame_route(plan: Plan, engine: Engine, options: UpscaleOptions) -> FrameRoute:
    from vsr.runtime import yuv
    from vsr.runtime.device import colour_on_device

    info = plan.info
    colour = info.colour if isinstance(info, VideoInfo) else None
    if colour is None or not colour_on_device(options.runtime.colour_conversion, engine.device):
        return FrameRoute(colour, None, None)
    # Planes go straight to a video encoder; other outputs (and formats the device does not
    # convert) take RGB.
    planes_out = plan.pix_fmt if plan.kind is OutputKind.VIDEO and yuv.supported(plan.pix_fmt) else None
    return FrameRoute(colour, yuv.supported, planes_out)


def run_plan(plan: Plan, engine: Engine, options: UpscaleOptions, *, progress: bool,
             on_frame: Callable[[int], None] | None = None, say_warnings: bool = True) -> Summary:
    """Decode, upscale and write as planned; warnings are returned, and logged once here unless
    the caller (a worker's driver) says them."""
    route = frame_route(plan, engine, options)
    start = time.perf_counter()
    with open_source(plan.info, copy=plan.copy_streams, planes_for=route.planes_for) as source:
        process = route.process(engine)
        sink = open_sink(plan.kind, plan.output, plan.sink_spec, source.copy_streams, replace=plan.overwrite)
        try:
            report = runner.run(source, sink, process, batch=engine.batch, progress=progress, on_frame=on_frame)
            engine.finish()
        finally:  # what was found is said, once, also when the run failed
            said = _once([*plan.warnings, *source.warnings(), *engine.warnings])
            for message in said if say_warnings else ():
                log.warning("%s", message)
    for message in report.warnings if say_warnings else ():
        log.warning("%s", message)
    warnings = _once([*said, *report.warnings])
    seconds = time.perf_counter() - start
    return Summary(input=str(plan.input), output=str(plan.output), frames=report.frames, seconds=round(seconds, 3),
                   fps=round(report.frames / seconds, 3) if seconds else 0.0, input_size=plan.in_size,
                   output_size=plan.out_size, codec=plan.codec, pix_fmt=plan.pix_fmt, model=engine.model.name,
                   device=str(engine.device), bytes=report.bytes, warnings=warnings, backend=engine.backend_used,
                   precision=engine.precision_used)


def _once(messages: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(messages))
