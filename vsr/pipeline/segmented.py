"""Segmented runs: a long video cut at keyframes, its segments upscaled by workers (local
processes or a Ray cluster) into a work folder, kept there for resume, and joined by a remux.

    plan_segments ─► manifest (resume or afresh) ─► executor runs the missing segments
        ─► join_segments (video packets + the source's audio/subtitles) ─► the work folder goes

A folder spread over several workers goes the same way: every file's segments, and the files
that are not cut (images, animations, short videos) whole, share one pool of workers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsr.errors import VsrError
from vsr.media.kinds import ANIMATED_OUTPUTS, suffix
from vsr.media.segment_files import join_segments
from vsr.media.sources import InputInfo
from vsr.media.video_sink import VideoSinkSpec
from vsr.media.video_source import VideoInfo
from vsr.models.descriptor import Model
from vsr.pipeline import manifest as manifests
from vsr.pipeline.executors import Executor, InProcess, LocalProcesses
from vsr.pipeline.manifest import Manifest, segment_file
from vsr.pipeline.options import UpscaleOptions
from vsr.pipeline.plan import Plan, make_plan
from vsr.pipeline.progress import frame_bar
from vsr.pipeline.run import FileFailure, Summary, output_scale
from vsr.pipeline.segments import Segment, plan_segments
from vsr.pipeline.worker import FileJob, Job, JobResult, SegmentJob

log = logging.getLogger(__name__)


def cut(info: InputInfo, output: Path, options: UpscaleOptions) -> list[Segment] | None:
    """The segments of a video going to a video output; None for anything else."""
    if not isinstance(info, VideoInfo) or suffix(output) in ANIMATED_OUTPUTS:
        return None
    return plan_segments(info, options.execution.segment_seconds, temporal_blend=options.temporal_blend)


def devices(options: UpscaleOptions) -> list[str]:
    from vsr.runtime.device import resolve_devices

    return [str(d) for d in resolve_devices(options.runtime.device)]


def make_executor(options: UpscaleOptions, model: Model) -> Executor:
    """Ray, or local processes, or (one worker) this process with the model already loaded."""
    from vsr.models.catalogue import portable_reference

    names = devices(options)
    workers = options.execution.workers or len(names)
    if options.execution.executor == "ray":
        from vsr.pipeline.ray_executor import RayExecutor

        return RayExecutor(portable_reference(options.runtime.model), names, workers,
                           address=options.execution.ray_address)
    if workers == 1:
        return InProcess(model, names[0])
    return LocalProcesses(portable_reference(options.runtime.model), names, workers)


def fingerprint(plan: Plan, options: UpscaleOptions, model_sha256: str) -> dict[str, Any]:
    """Every option that changes a segment's bytes; a resumed run must match it exactly."""
    spec = plan.sink_spec
    assert isinstance(spec, VideoSinkSpec)
    return {"model_sha256": model_sha256, "output_size": list(plan.out_size), "codec": spec.codec,
            "pix_fmt": spec.pix_fmt, "crf": spec.crf, "preset": spec.preset, "precision": options.runtime.precision,
            "colour_conversion": options.runtime.colour_conversion, "temporal_blend": options.temporal_blend,
            "segment_seconds": options.execution.segment_seconds}


@dataclass
class VideoJob:
    """One video being done in segments: its plan, work folder and manifest."""

    plan: Plan
    work: Path
    manifest: Manifest
    options: UpscaleOptions  # with the precision resolved once for every segment
    resumed: int = 0
    warnings: list[str] = field(default_factory=list)

    def jobs(self, prefix: str) -> list[SegmentJob]:
        return [SegmentJob(f"{prefix}{s.index}", self.plan, s, self.work, self.options)
                for s in self.manifest.plan() if self.manifest.done(s.index) is None]

    def record(self, index: int, result: JobResult) -> None:
        assert result.sha256 is not None
        self.manifest.finish(index, frames=result.frames, sha256=result.sha256, warnings=list(result.warnings))
        self.manifest.save(self.work)

    @property
    def frames_done(self) -> int:
        return sum(s["done"]["frames"] for s in self.manifest.segments if s["done"])

    @property
    def frames_total(self) -> int:
        return sum(s["frames"] for s in self.manifest.segments)

    def join(self) -> Summary:
        plan = self.plan
        assert isinstance(plan.info, VideoInfo) and isinstance(plan.sink_spec, VideoSinkSpec)
        paths = [segment_file(self.work, s["index"]) for s in self.manifest.segments]
        report = join_segments(plan.output, paths, plan.sink_spec, plan.info, plan.copy_streams,
                               scratch=manifests.join_file(plan.output))
        manifests.clear(self.work)
        found = [w for s in self.manifest.segments for w in s["done"]["warnings"]]
        warnings = tuple(dict.fromkeys([*plan.warnings, *self.warnings, *found, *report.warnings]))
        return Summary(input=str(plan.input), output=str(plan.output), frames=report.frames, seconds=0.0, fps=0.0,
                       input_size=plan.in_size, output_size=plan.out_size, codec=plan.codec, pix_fmt=plan.pix_fmt,
                       model="", device="", bytes=report.bytes, warnings=warnings, backend="", precision="",
                       segments=len(self.manifest.segments), segments_resumed=self.resumed)


def prepare_video(info: VideoInfo, output: Path, options: UpscaleOptions, model: Model,
                  segments: list[Segment]) -> VideoJob:
    """The plan, and the work folder's manifest: the finished segments of an interrupted run of
    the same job are kept (and said so), anything else starts afresh (and says why)."""
    from vsr.models.catalogue import resolve
    from vsr.runtime.device import precision_name, resolve_device, resolve_precision

    plan = make_plan(info, output, options, output_scale(options, model))
    execution = options.execution
    work = manifests.work_dir(output, execution.work_dir)
    identity = manifests.input_identity(info.path)
    wanted = fingerprint(plan, options, manifests.file_sha256(resolve(options.runtime.model)))
    manifests.join_file(output).unlink(missing_ok=True)  # what a run killed while joining left
    try:
        previous = manifests.Manifest.load(work)
    except manifests.UnreadableManifest as exc:
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
        for s in manifest.segments:
            done = s["done"]
            if done and not _intact(work, s["index"], done["sha256"]):
                log.info("%s: segment %d of %d is damaged or missing: doing it again", output.name, s["index"] + 1,
                         len(manifest.segments))
                s["done"] = None
        resumed = sum(1 for s in manifest.segments if s["done"])
        log.info("%s: resuming: %d of %d segments done", output.name, resumed, len(manifest.segments))
    else:
        manifests.clear(work)
        precision = precision_name(resolve_precision(options.runtime.precision, resolve_device(options.runtime.device),
                                                     model))
        manifest = Manifest.fresh(identity, wanted, segments, {"precision": precision})
    manifest.save(work)
    manifests.remove_strays(work, {s["index"] for s in manifest.segments if s["done"]})
    # Every segment in the precision the first run chose, whatever this machine would choose now.
    runtime = dataclasses.replace(options.runtime, precision=manifest.resolved["precision"])
    return VideoJob(plan, work, manifest, dataclasses.replace(options, runtime=runtime), resumed)


def _intact(work: Path, index: int, sha256: str) -> bool:
    try:
        return manifests.segment_checksum(work, index) == sha256
    except OSError:
        return False


class Progress:
    """One bar for the whole job, on stderr, across workers."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.bar = frame_bar(total, enabled=enabled, initial=done)

    def __call__(self, frames: int) -> None:
        self.bar.update(frames)

    def close(self) -> None:
        self.bar.close()


def run_video(info: VideoInfo, output: Path, options: UpscaleOptions, model: Model, segments: list[Segment], *,
              progress: bool) -> Summary:
    """One video in segments, resumable."""
    start = time.perf_counter()
    with manifests.claim(output):
        video = prepare_video(info, output, options, model, segments)
        executor = make_executor(options, model)
        bar = Progress(video.frames_total, video.frames_done, progress)
        results: list[JobResult] = []

        def finished(result: JobResult) -> None:
            video.record(int(result.key), result)
            results.append(result)

        try:
            executor.run(video.jobs(""), finished, bar)
        except BaseException:
            executor.close(wait=False)
            raise
        finally:
            bar.close()
        executor.close()
        summary = video.join()
    return _summarised(summary, results, model, options, executor, start)


def _summarised(summary: Summary, results: Sequence[JobResult], model: Model, options: UpscaleOptions,
                executor: Executor, start: float) -> Summary:
    """The joined video's summary with how the work was done; its warnings said once, here."""
    seconds = time.perf_counter() - start
    done_here = sum(r.frames for r in results)
    warnings = tuple(dict.fromkeys([*summary.warnings, *(w for r in results for w in r.warnings)]))
    for message in warnings:
        log.warning("%s", message)
    first = results[0] if results else None
    return dataclasses.replace(summary, seconds=round(seconds, 3), fps=round(done_here / seconds, 3) if seconds else 0.0,
                               model=model.name, device=options.runtime.device, warnings=warnings,
                               backend=first.backend if first else "", precision=first.precision if first else
                               options.runtime.precision, executor=executor.name, workers=executor.workers)


def run_folder(files: Sequence[tuple[Path, InputInfo | VsrError, Path]], options: UpscaleOptions, model: Model, *,
               overwrite: bool, progress: bool) -> list[Summary | FileFailure]:
    """Files of a folder over one pool of workers: long videos in segments, the rest whole.
    `files` are (input, probed info or why it cannot be read, output)."""
    with contextlib.ExitStack() as claims:
        return _run_folder(files, options, model, overwrite=overwrite, progress=progress, claims=claims)


def _run_folder(files: Sequence[tuple[Path, InputInfo | VsrError, Path]], options: UpscaleOptions, model: Model, *,
                overwrite: bool, progress: bool, claims: contextlib.ExitStack) -> list[Summary | FileFailure]:
    start = time.perf_counter()
    videos: dict[str, VideoJob] = {}
    jobs: list[Job] = []
    outcome: dict[Path, Summary | FileFailure] = {}
    for n, (path, info, output) in enumerate(files):
        if isinstance(info, VsrError):
            outcome[path] = FileFailure(str(path), str(info))
            continue
        try:
            segments = cut(info, output, options)
            if segments is not None and len(segments) > 1:
                assert isinstance(info, VideoInfo)
                claims.enter_context(manifests.claim(output))
                video = prepare_video(info, output, options, model, segments)
                videos[f"{n}:"] = video
                jobs += video.jobs(f"{n}:")
            else:
                jobs.append(FileJob(f"{n}", path, output, options, overwrite, info.frames))
        except VsrError as exc:
            outcome[path] = FileFailure(str(path), str(exc))
    by_key = {f"{n}": path for n, (path, _, _) in enumerate(files)}
    results: dict[str, list[JobResult]] = {}
    executor = make_executor(options, model)
    total = sum(j.frames for j in jobs) + sum(v.frames_done for v in videos.values())
    bar = Progress(total, sum(v.frames_done for v in videos.values()), progress)

    def finished(result: JobResult) -> None:
        prefix, _, index = result.key.partition(":")
        if index:
            videos[f"{prefix}:"].record(int(index), result)
            results.setdefault(f"{prefix}:", []).append(result)
        else:
            assert result.summary is not None
            outcome[by_key[prefix]] = dataclasses.replace(result.summary, executor=executor.name,
                                                          workers=executor.workers)
            for message in result.summary.warnings:
                log.warning("%s", message)

    def failed(key: str, exc: VsrError) -> None:
        prefix = key.partition(":")[0]
        videos.pop(f"{prefix}:", None)
        outcome[by_key[prefix]] = FileFailure(str(by_key[prefix]), str(exc))

    try:
        executor.run(jobs, finished, bar, failed)
    except BaseException:
        executor.close(wait=False)
        raise
    finally:
        bar.close()
    executor.close()
    for prefix, video in videos.items():
        path = by_key[prefix.rstrip(":")]
        try:
            outcome[path] = _summarised(video.join(), results.get(prefix, []), model, options, executor, start)
        except VsrError as exc:
            outcome[path] = FileFailure(str(path), str(exc))
    return [outcome[path] for path, _, _ in files if path in outcome]
