"""A worker: a model loaded once on one device, running tasks (vsr.pipeline.workers.tasks). The
same code runs in the driver's process, in local worker processes and in Ray actors."""

from __future__ import annotations

import dataclasses
import logging

from vsr.media.frames import RgbFrame, YuvFrame
from vsr.media.segment_files import SegmentSink
from vsr.media.video_sink import VideoSinkSpec
from vsr.media.video_source import VideoInfo, VideoSource
from vsr.models.descriptor import Model
from vsr.pipeline.options import UpscaleOptions
from vsr.pipeline.plan import Plan, checked_input, make_plan, output_scale
from vsr.pipeline.progress import Cancellation, Tracker
from vsr.pipeline.segments.manifest import Finished
from vsr.pipeline.segments.work_folder import segment_checksum, segment_file
from vsr.pipeline.stream.one_stream import build_engine, frame_route, upscale_stream
from vsr.pipeline.stream.pump import OnFrames, Pump
from vsr.pipeline.workers.tasks import FileTask, SegmentTask, Task, TaskResult
from vsr.runtime import Precision
from vsr.runtime.engine import Engine

log = logging.getLogger(__name__)

EngineKey = tuple[tuple[int, int], tuple[int, int], str, str]  # sizes in and out, precision, backend


class Worker:
    """A model on one device; engines are kept per frame size, so a compiled or TensorRT backend
    is built once for all the segments of a video."""

    def __init__(self, model: str | Model, device: str) -> None:
        from vsr.models.catalogue import load_model

        self.model = load_model(model) if isinstance(model, str) else model
        self.device = device
        self._engines: dict[EngineKey, Engine] = {}

    def _options(self, options: UpscaleOptions) -> UpscaleOptions:
        return dataclasses.replace(options, runtime=dataclasses.replace(options.runtime, device=self.device))

    @staticmethod
    def _engine_key(plan: Plan, options: UpscaleOptions) -> EngineKey:
        return plan.in_size, plan.out_size, options.runtime.precision, options.runtime.backend

    def _engine(self, plan: Plan, options: UpscaleOptions) -> Engine:
        key = self._engine_key(plan, options)
        if key not in self._engines:
            self._engines[key] = build_engine(self.model, plan, options)
        return self._engines[key]

    def precision(self, requested: Precision) -> str:
        return resolved_precision(requested, self.device, self.model)

    def run(self, task: Task, on_frames: OnFrames, cancellation: Cancellation | None = None) -> TaskResult:
        """Do `task`, telling `on_frames(n)` of frames as they are written; `cancellation`
        stops it (in this process: worker processes are stopped by their driver)."""
        if isinstance(task, SegmentTask):
            return self._segment(task, on_frames, cancellation)
        return self._file(task, on_frames, cancellation)

    def _segment(self, task: SegmentTask, on_frames: OnFrames, cancellation: Cancellation | None) -> TaskResult:
        from vsr.runtime.temporal import TemporalBlend

        options = self._options(task.options)
        plan, segment = task.plan, task.segment
        assert isinstance(plan.info, VideoInfo) and isinstance(plan.sink_spec, VideoSinkSpec)
        built = self._engines.get(self._engine_key(plan, options))
        engine = self._engine(plan, options)
        engine.temporal = TemporalBlend(options.temporal_blend) if options.temporal_blend else None
        # What the engine said while it was built goes with the first segment it runs; after
        # that, each segment reports only what is new (the summary drops repeats).
        before = len(engine.warnings) if built is not None else 0
        route = frame_route(plan, engine, options)
        process = route.process(engine)
        if segment.warmup_from is not None:  # prime the temporal blend with the frames just before
            with VideoSource(plan.info, start=segment.warmup_from, end=segment.start,
                             planes_for=route.planes_for) as warmup:
                frames = [item for item in warmup if isinstance(item, RgbFrame | YuvFrame)]  # a few: see warmup_frames
                for i in range(0, len(frames), engine.batch):
                    process(frames[i:i + engine.batch])
        path = segment_file(task.work, segment.index)
        with VideoSource(plan.info, start=segment.start, end=segment.end, planes_for=route.planes_for) as source:
            report = Pump(source, SegmentSink(path, plan.sink_spec), process, batch=engine.batch, on_frames=on_frames,
                          cancellation=cancellation).run()
            found = source.warnings()
        if report.frames != segment.frames:  # the scan counted packets; a damaged one decodes to nothing
            found.append(f"segment {segment.index + 1}: {segment.frames} frames expected, {report.frames} decoded")
        finished = Finished(frames=report.frames, sha256=segment_checksum(task.work, segment.index),
                            warnings=(*found, *report.warnings, *engine.warnings[before:]),
                            backend=engine.backend_used, precision=engine.precision_used)
        return TaskResult(task.key, segment=finished)

    def _file(self, task: FileTask, on_frames: OnFrames, cancellation: Cancellation | None) -> TaskResult:
        options = self._options(task.options)
        info = checked_input(task.input, task.output, options, overwrite=task.overwrite)
        plan = make_plan(info, task.output, options, output_scale(options, self.model), overwrite=task.overwrite)
        # The driver's tracker hears of frames through `on_frames`; this one only carries the cancellation.
        summary = upscale_stream(plan, self._engine(plan, options), options, Tracker(cancellation=cancellation),
                                 on_frames=on_frames, say_warnings=False)
        return TaskResult(task.key, summary=summary)



def resolved_precision(requested: Precision, device: str, model: Model) -> str:
    """The precision `requested` resolves to for `model` on `device` (auto: what pays there)."""
    import torch

    from vsr.runtime.device import precision_name, resolve_precision

    return precision_name(resolve_precision(requested, torch.device(device), model))
