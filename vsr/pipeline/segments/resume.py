"""A video's segmented work: its plan, its work folder and manifest, resumed where an interrupted
run of the same job left finished segments (and said so), started afresh otherwise (and said
why), recorded segment by segment, and finally joined into the output.

    open_work (resume or afresh) ─► the missing segments, done elsewhere ─► record each
        ─► join (video packets + the source's audio/subtitles) ─► the work folder goes
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from vsr.errors import InputError
from vsr.media.segment_files import join_segments
from vsr.media.video_sink import VideoSinkSpec
from vsr.media.video_source import VideoInfo
from vsr.models.descriptor import Model
from vsr.pipeline.options import UpscaleOptions
from vsr.pipeline.plan import Plan, make_plan, output_scale
from vsr.pipeline.progress import Tracker
from vsr.pipeline.segments import work_folder
from vsr.pipeline.segments.cutting import Segment
from vsr.pipeline.segments.manifest import Fingerprint, Finished, Manifest, UnreadableManifest
from vsr.pipeline.summary import Summary, summarise
from vsr.version import __version__

log = logging.getLogger(__name__)


def fingerprint(plan: Plan, options: UpscaleOptions, model_sha256: str, device: str) -> Fingerprint:
    """Everything that changes a segment's bytes (the options, the model, the kind of device and
    the libraries that compute and encode)."""
    import av
    import torch

    spec = plan.sink_spec
    assert isinstance(spec, VideoSinkSpec)
    return Fingerprint(model_sha256=model_sha256, output_size=plan.out_size, codec=spec.codec, pix_fmt=spec.pix_fmt,
                       crf=spec.crf, preset=spec.preset, precision=options.runtime.precision,
                       backend=options.runtime.backend, device="cuda" if "cuda" in device else "cpu",
                       colour_conversion=options.runtime.colour_conversion, temporal_blend=options.temporal_blend,
                       segment_seconds=options.execution.segment_seconds,
                       versions=(("vsr", __version__), ("torch", torch.__version__), ("av", av.__version__),
                                 ("libavcodec", ".".join(map(str, av.library_versions["libavcodec"])))))


@dataclass(frozen=True)
class Resolved:
    """What a run decides once for all its videos: where the workers run, and what they run."""

    device: str
    """As the executor says it."""
    precision: str
    """What the precision asked for resolves to on the workers."""
    model_sha256: str


@dataclass
class VideoWork:
    """One video being done in segments."""

    plan: Plan
    work: Path
    """Its work folder."""
    manifest: Manifest
    options: UpscaleOptions
    """With the precision resolved once for every segment."""
    model: str
    """The model's name, for the summary."""
    resumed: int = 0
    """Segments an earlier run finished."""
    resumed_frames: int = 0

    def missing(self) -> list[Segment]:
        """The segments still to do."""
        return [r.segment for r in self.manifest.segments if r.done is None]

    def record(self, index: int, finished: Finished) -> None:
        """Segment `index` is done: kept in the manifest at once, so that any later stop resumes it."""
        self.manifest.finish(index, finished)
        self.manifest.save(self.work)

    def join(self, tracker: Tracker, *, start: float, device: str, executor: str, workers: int) -> Summary:
        """The output, from the finished segments; the work folder goes. Its summary says how the
        whole video was done, resumed segments included; its seconds run from `start` (in a
        folder, the pool's start: its segments shared the workers with other files)."""
        plan = self.plan
        assert isinstance(plan.info, VideoInfo) and isinstance(plan.sink_spec, VideoSinkSpec)
        if work_folder.input_identity(plan.input) != self.manifest.input:
            raise InputError(f"{plan.input}: changed while it was being upscaled; run the same command again")
        paths = [work_folder.segment_file(self.work, r.segment.index) for r in self.manifest.segments]
        report = join_segments(plan.output, paths, plan.sink_spec, plan.info, plan.copy_streams,
                               scratch=work_folder.join_file(plan.output), replace=plan.overwrite)
        work_folder.clear(self.work)
        done = self.manifest.finished
        warnings = [*plan.warnings, *(w for d in done for w in d.warnings), *report.warnings]
        for message in warnings:
            tracker.warning(message, file=str(plan.input))
        return summarise(plan, frames=report.frames, upscaled=self.manifest.frames_done - self.resumed_frames,
                         seconds=time.perf_counter() - start, model=self.model, device=device, bytes=report.bytes,
                         warnings=warnings, backend=",".join(dict.fromkeys(d.backend for d in done)),
                         precision=",".join(dict.fromkeys(d.precision for d in done)), segments=len(done),
                         segments_resumed=self.resumed, executor=executor, workers=workers)


def open_work(info: VideoInfo, output: Path, options: UpscaleOptions, model: Model, segments: list[Segment],
              resolved: Resolved, *, overwrite: bool) -> VideoWork:
    """The plan, and the work folder's manifest: the finished segments of an interrupted run of
    the same job are kept (and said so), anything else starts afresh (and says why)."""
    plan = make_plan(info, output, options, output_scale(options, model), overwrite=overwrite)
    execution = options.execution
    work = work_folder.work_dir(output, execution.work_dir)
    identity = work_folder.input_identity(info.path)
    wanted = fingerprint(plan, options, resolved.model_sha256, resolved.device)
    work_folder.join_file(output).unlink(missing_ok=True)  # what a run killed while joining left
    try:
        previous = Manifest.load(work)
    except UnreadableManifest as exc:
        log.info("%s: starting afresh: %s", output.name, exc)
        previous = None
    manifest: Manifest | None = None
    if previous is not None:
        why = previous.differences(identity, wanted, segments) if execution.resume else ["--no-resume"]
        if why:
            log.info("%s: starting afresh: %s", output.name, "; ".join(why))
        else:
            manifest = previous
    resumed = 0
    if manifest is not None:
        for record in manifest.segments:
            index = record.segment.index
            if record.done is not None and not work_folder.intact(work, index, record.done.sha256):
                log.info("%s: segment %d of %d is damaged or missing: doing it again", output.name, index + 1,
                         len(manifest.segments))
                manifest.forget(index)
        resumed = len(manifest.finished)
        log.info("%s: resuming: %d of %d segments done", output.name, resumed, len(manifest.segments))
    else:
        work_folder.clear(work)
        manifest = Manifest.fresh(identity, wanted, segments, resolved.precision)
    manifest.save(work)
    work_folder.remove_strays(work, {r.segment.index for r in manifest.segments if r.done is not None})
    # Every segment in the precision the first run chose, whatever the workers would choose now.
    runtime = dataclasses.replace(options.runtime, precision=manifest.precision, quantise=options.runtime.may_quantise)
    return VideoWork(plan, work, manifest, dataclasses.replace(options, runtime=runtime), model.name, resumed,
                     manifest.frames_done)
