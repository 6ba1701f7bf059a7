"""A worker: a model loaded once on one device, running jobs. The same code runs in the driver's
process, in local worker processes and in Ray actors; jobs and results are plain, picklable data.

A job is a segment of a video (encoded into the work folder, joined later by the driver) or a
whole file (an image, an animation, a short video: written straight to its output).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vsr.media.frames import RgbFrame, YuvFrame
from vsr.media.segment_files import SegmentSink
from vsr.media.video_sink import VideoSinkSpec
from vsr.media.video_source import VideoInfo, VideoSource
from vsr.models.descriptor import Model
from vsr.pipeline import runner
from vsr.pipeline.manifest import segment_checksum, segment_file
from vsr.pipeline.options import UpscaleOptions
from vsr.pipeline.plan import Plan, make_plan, probe_input
from vsr.pipeline.run import Summary, build_engine, frame_route, output_scale, run_plan
from vsr.pipeline.segments import Segment
from vsr.runtime import Precision
from vsr.runtime.engine import Engine

log = logging.getLogger(__name__)

OnFrames = Callable[[int], None]  # frames just finished, for a progress bar


@dataclass(frozen=True)
class JobKey:
    """Which job of a run: a file (its place in the run), and a segment of it or the whole."""

    file: int
    segment: int | None = None


@dataclass(frozen=True)
class SegmentJob:
    key: JobKey
    plan: Plan  # the whole video's plan (a video sink); the segment is the part to do
    segment: Segment
    work: Path  # the work folder the segment's files go to
    options: UpscaleOptions  # with the precision the run resolved

    @property
    def frames(self) -> int:
        return self.segment.frames


@dataclass(frozen=True)
class FileJob:
    key: JobKey
    input: Path
    output: Path
    options: UpscaleOptions
    overwrite: bool
    frames: int  # expected, for the progress bar


Job = SegmentJob | FileJob


@dataclass(frozen=True)
class JobResult:
    key: JobKey
    frames: int
    warnings: tuple[str, ...]
    backend: str
    precision: str
    sha256: str | None = None  # a segment's files
    summary: Summary | None = None  # a whole file's


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

    def run(self, job: Job, on_frames: OnFrames) -> JobResult:
        if isinstance(job, SegmentJob):
            return self._segment(job, on_frames)
        return self._file(job, on_frames)

    def _segment(self, job: SegmentJob, on_frames: OnFrames) -> JobResult:
        from vsr.runtime.temporal import TemporalBlend

        options = self._options(job.options)
        plan, segment = job.plan, job.segment
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
        path = segment_file(job.work, segment.index)
        with VideoSource(plan.info, start=segment.start, end=segment.end, expected_frames=segment.frames,
                         planes_for=route.planes_for) as source:
            report = runner.run(source, SegmentSink(path, plan.sink_spec), process, batch=engine.batch,
                                progress=False, on_frame=on_frames)
            found = source.warnings()
        if report.frames != segment.frames:  # the scan counted packets; a damaged one decodes to nothing
            found.append(f"segment {segment.index + 1}: {segment.frames} frames expected, {report.frames} decoded")
        return JobResult(job.key, report.frames, (*found, *report.warnings, *engine.warnings[before:]),
                         engine.backend_used, engine.precision_used, sha256=segment_checksum(job.work, segment.index))

    def _file(self, job: FileJob, on_frames: OnFrames) -> JobResult:
        from vsr.atomic import check_output
        from vsr.pipeline.plan import check_output_kind

        options = self._options(job.options)
        info = probe_input(job.input, job.output, options.max_pixels)
        check_output(job.output, overwrite=job.overwrite, input_path=job.input)
        check_output_kind(info, job.output, options)
        plan = make_plan(info, job.output, options, output_scale(options, self.model), overwrite=job.overwrite)
        summary = run_plan(plan, self._engine(plan, options), options, progress=False, on_frame=on_frames,
                           say_warnings=False)
        return JobResult(job.key, summary.frames, summary.warnings, summary.backend, summary.precision,
                         summary=summary)



def resolved_precision(requested: Precision, device: str, model: Model) -> str:
    """The precision `requested` resolves to for `model` on `device` (auto: what pays there)."""
    import torch

    from vsr.runtime.device import precision_name, resolve_precision

    return precision_name(resolve_precision(requested, torch.device(device), model))
