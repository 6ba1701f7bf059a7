"""One input as one stream in this process: the engine it needs, how its frames travel (YUV planes
converted on the device, or RGB), the pump, and the summary.

    make_plan ─► build_engine ─► open source and sink ─► Pump ─► Summary
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from vsr.media.colour import ColourInfo
from vsr.media.kinds import OutputKind
from vsr.media.sinks import open_sink
from vsr.media.sources import open_source
from vsr.media.video_source import VideoInfo
from vsr.models.descriptor import Model
from vsr.pipeline.options import UpscaleOptions
from vsr.pipeline.plan import Plan
from vsr.pipeline.progress import Tracker
from vsr.pipeline.stream.batches import BatchUpscaler
from vsr.pipeline.stream.pump import OnFrames, Pump
from vsr.pipeline.summary import Summary, once, summarise
from vsr.runtime.engine import Engine


def build_engine(model: Model, plan: Plan, options: UpscaleOptions) -> Engine:
    """The engine for a plan: device, precision, batch and backend as asked, sized for its frames."""
    return engine_for(model, options, in_size=plan.in_size, out_size=plan.out_size,
                      frames=1 if plan.single_picture else plan.estimated_frames)


def engine_for(model: Model, options: UpscaleOptions, *, in_size: tuple[int, int], out_size: tuple[int, int],
               frames: int | None) -> Engine:
    """The engine for frames of `in_size` going to `out_size` (width, height); `frames`: how many
    it will see (None: unknown)."""
    from vsr.runtime.device import resolve_device, resolve_precision
    from vsr.runtime.temporal import TemporalBlend

    runtime = options.runtime
    device = resolve_device(runtime.device)
    # One picture: one frame a batch, and building a compiled or TensorRT engine would cost more
    # than it saves.
    single = frames == 1
    backend = "eager" if runtime.backend == "auto" and single else runtime.backend
    batch = 1 if single else runtime.batch_size or (4 if device.type == "cuda" else 1)
    (in_w, in_h), (out_w, out_h) = in_size, out_size
    return Engine(model=model, device=device, dtype=resolve_precision(runtime.precision, device, model),
                  out_size=(out_h, out_w), tile=runtime.tile, backend=backend, in_size=(in_h, in_w),
                  batch=batch, frames=frames or None, quantise=runtime.may_quantise,
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


def told(tracker: Tracker, on_frames: OnFrames | None) -> OnFrames:
    """Frames written, told to the tracker and to a caller's own `on_frames`."""
    if on_frames is None:
        return tracker.frames

    def both(n: int) -> None:
        tracker.frames(n)
        on_frames(n)

    return both


def upscale_stream(plan: Plan, engine: Engine, options: UpscaleOptions, tracker: Tracker, *,
                   on_frames: OnFrames | None = None, say_warnings: bool = True) -> Summary:
    """Decode, upscale and write as planned. Frames written are told to the tracker (the caller
    tells it the stage and the total), and warnings once here unless the caller (a worker's
    driver) tells them; all are returned in the summary."""
    route = frame_route(plan, engine, options)
    start = time.perf_counter()
    with open_source(plan.info, copy=plan.copy_streams, planes_for=route.planes_for) as source:
        process = route.process(engine)
        sink = open_sink(plan.kind, plan.output, plan.sink_spec, source.copy_streams, replace=plan.overwrite)
        try:
            report = Pump(source, sink, process, batch=engine.batch, on_frames=told(tracker, on_frames),
                          cancellation=tracker.cancellation).run()
            engine.finish()
        finally:  # what was found is said, once, also when the run failed
            said = once([*plan.warnings, *source.warnings(), *engine.warnings])
            for message in said if say_warnings else ():
                tracker.warning(message)
    for message in report.warnings if say_warnings else ():
        tracker.warning(message)
    return summarise(plan, frames=report.frames, upscaled=report.frames, seconds=time.perf_counter() - start,
                     model=engine.model.name, device=str(engine.device), bytes=report.bytes,
                     warnings=[*said, *report.warnings], backend=engine.backend_used, precision=engine.precision_used)
