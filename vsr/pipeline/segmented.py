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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsr.errors import InputError, VsrError, as_failure
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
from vsr.pipeline.worker import FileJob, Job, JobKey, JobResult, OnFrames, SegmentJob
from vsr.version import __version__

log = logging.getLogger(__name__)


def cut(info: InputInfo, output: Path, options: UpscaleOptions) -> list[Segment] | None:
    """The segments of a video going to a video output; None for anything else."""
    if not isinstance(info, VideoInfo) or suffix(output) in ANIMATED_OUTPUTS:
        return None
    return plan_segments(info, options.execution.segment_seconds, temporal_blend=options.temporal_blend)


def devices(options: UpscaleOptions) -> list[str]:
    """The devices --device names on this machine."""
    from vsr.runtime.device import resolve_devices

    return [str(d) for d in resolve_devices(options.runtime.device)]


def make_executor(options: UpscaleOptions, model: Model) -> Executor:
    """Ray (placed from what the cluster has), or local processes, or (one worker) this process
    with the model already loaded."""
    from vsr.models.catalogue import portable_reference

    execution = options.execution
    if execution.executor == "ray":
        from vsr.pipeline.ray_executor import RayExecutor

        return RayExecutor(portable_reference(options.runtime.model), options.runtime.device, execution.workers,
                           address=execution.ray_address)
    names = devices(options)
    workers = execution.workers or len(names)
    if workers == 1:
        return InProcess(model, names[0])
    return LocalProcesses(model, portable_reference(options.runtime.model), names, workers)


def fingerprint(plan: Plan, options: UpscaleOptions, model_sha256: str, device: str) -> dict[str, Any]:
    """Everything that changes a segment's bytes (the options, the model, the kind of device and
    the libraries that compute and encode); a resumed run must match it exactly, or the joined
    video would mix two renderings."""
    import av
    import torch

    spec = plan.sink_spec
    assert isinstance(spec, VideoSinkSpec)
    return {"model_sha256": model_sha256, "output_size": list(plan.out_size), "codec": spec.codec,
            "pix_fmt": spec.pix_fmt, "crf": spec.crf, "preset": spec.preset, "precision": options.runtime.precision,
            "backend": options.runtime.backend, "device": "cuda" if "cuda" in device else "cpu",
            "colour_conversion": options.runtime.colour_conversion, "temporal_blend": options.temporal_blend,
            "segment_seconds": options.execution.segment_seconds,
            "versions": {"vsr": __version__, "torch": torch.__version__, "av": av.__version__,
                         "libavcodec": ".".join(map(str, av.library_versions["libavcodec"]))}}


@dataclass
class VideoJob:
    """One video being done in segments: its plan, work folder and manifest."""

    plan: Plan
    work: Path
    manifest: Manifest
    options: UpscaleOptions  # with the precision resolved once for every segment
    model: str  # its name, for the summary
    resumed: int = 0  # segments an earlier run finished
    resumed_frames: int = 0

    def jobs(self, file: int) -> list[SegmentJob]:
        return [SegmentJob(JobKey(file, s.index), self.plan, s, self.work, self.options)
                for s in self.manifest.plan() if self.manifest.done(s.index) is None]

    def record(self, index: int, result: JobResult) -> None:
        assert result.sha256 is not None
        self.manifest.finish(index, frames=result.frames, sha256=result.sha256, warnings=list(result.warnings),
                             backend=result.backend, precision=result.precision)
        self.manifest.save(self.work)

    @property
    def frames_done(self) -> int:
        return sum(s["done"]["frames"] for s in self.manifest.segments if s["done"])

    @property
    def frames_total(self) -> int:
        return sum(s["frames"] for s in self.manifest.segments)

    def join(self, executor: Executor, start: float) -> Summary:
        """The output, from the finished segments; the work folder goes. Its summary says how the
        whole video was done, resumed segments included; its seconds run from `start` (in a
        folder, the pool's start: its segments shared the workers with other files)."""
        plan = self.plan
        assert isinstance(plan.info, VideoInfo) and isinstance(plan.sink_spec, VideoSinkSpec)
        if _identity(plan.input) != self.manifest.input:
            raise InputError(f"{plan.input}: changed while it was being upscaled; run the same command again")
        paths = [segment_file(self.work, s["index"]) for s in self.manifest.segments]
        report = join_segments(plan.output, paths, plan.sink_spec, plan.info, plan.copy_streams,
                               scratch=manifests.join_file(plan.output), replace=plan.overwrite)
        manifests.clear(self.work)
        done = [s["done"] for s in self.manifest.segments]
        warnings = tuple(dict.fromkeys([*plan.warnings, *(w for d in done for w in d["warnings"]), *report.warnings]))
        for message in warnings:
            log.warning("%s", message)
        seconds = time.perf_counter() - start
        upscaled = self.frames_done - self.resumed_frames  # by this run: its speed
        return Summary(input=str(plan.input), output=str(plan.output), frames=report.frames, seconds=round(seconds, 3),
                       fps=round(upscaled / seconds, 3) if seconds else 0.0, input_size=plan.in_size,
                       output_size=plan.out_size, codec=plan.codec, pix_fmt=plan.pix_fmt,
                       model=self.model, device=executor.device, bytes=report.bytes, warnings=warnings,
                       backend=",".join(dict.fromkeys(d["backend"] for d in done)),
                       precision=",".join(dict.fromkeys(d["precision"] for d in done)),
                       segments=len(done),
                       segments_resumed=self.resumed, executor=executor.name, workers=executor.workers)


@dataclass(frozen=True)
class Resolved:
    """What a run decides once for all its videos: where the workers run, and what they run."""

    device: str  # as the executor says it
    precision: str  # what --precision resolves to on the workers
    model_sha256: str


def resolve_run(options: UpscaleOptions, executor: Executor) -> Resolved:
    from vsr.models.catalogue import resolve

    return Resolved(executor.device, executor.precision(options.runtime.precision),
                    manifests.file_sha256(resolve(options.runtime.model)))


def prepare_video(info: VideoInfo, output: Path, options: UpscaleOptions, model: Model, segments: list[Segment],
                  resolved: Resolved, *, overwrite: bool) -> VideoJob:
    """The plan, and the work folder's manifest: the finished segments of an interrupted run of
    the same job are kept (and said so), anything else starts afresh (and says why)."""
    plan = make_plan(info, output, options, output_scale(options, model), overwrite=overwrite)
    execution = options.execution
    work = manifests.work_dir(output, execution.work_dir)
    identity = _identity(info.path)
    wanted = fingerprint(plan, options, resolved.model_sha256, resolved.device)
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
        manifest = Manifest.fresh(identity, wanted, segments, {"precision": resolved.precision})
    manifest.save(work)
    manifests.remove_strays(work, {s["index"] for s in manifest.segments if s["done"]})
    # Every segment in the precision the first run chose, whatever the workers would choose now.
    runtime = dataclasses.replace(options.runtime, precision=manifest.resolved["precision"],
                                  quantise=options.runtime.may_quantise)
    video = VideoJob(plan, work, manifest, dataclasses.replace(options, runtime=runtime), model.name, resumed)
    video.resumed_frames = video.frames_done
    return video


def _identity(path: Path) -> dict[str, Any]:
    try:
        return manifests.input_identity(path)
    except OSError as exc:
        raise InputError(f"{path}: can no longer be read ({exc.strerror or exc})") from None


def _intact(work: Path, index: int, sha256: str) -> bool:
    try:
        return manifests.segment_checksum(work, index) == sha256
    except OSError:
        return False


@dataclass(frozen=True)
class Entry:
    """A file of the run: probed (or why it cannot be read), and its output."""

    input: Path
    info: InputInfo | VsrError
    output: Path
    segments: list[Segment] | None = None  # already cut; None: cut here where it is a long video


def run_video(info: VideoInfo, output: Path, options: UpscaleOptions, model: Model, segments: list[Segment], *,
              overwrite: bool, progress: bool, on_frames: OnFrames | None = None) -> Summary:
    """One video in segments, resumable; the first error stops it. `on_frames(n)`: frames as
    they are written, by any worker."""
    [summary] = _run([Entry(info.path, info, output, segments)], options, model, overwrite=overwrite,
                     progress=progress, keep_going=False, on_frames=on_frames)
    assert isinstance(summary, Summary)
    return summary


def run_folder(files: Sequence[tuple[Path, InputInfo | VsrError, Path]], options: UpscaleOptions, model: Model, *,
               overwrite: bool, progress: bool) -> list[Summary | FileFailure]:
    """Files of a folder over one pool of workers: long videos in segments, the rest whole.
    `files` are (input, probed info or why it cannot be read, output); a file that fails is
    reported and the rest go on."""
    return _run([Entry(*f) for f in files], options, model, overwrite=overwrite, progress=progress, keep_going=True)


def _run(entries: Sequence[Entry], options: UpscaleOptions, model: Model, *, overwrite: bool, progress: bool,
         keep_going: bool, on_frames: OnFrames | None = None) -> list[Summary | FileFailure]:
    start = time.perf_counter()
    outcome: dict[int, Summary | FileFailure] = {}

    def fail(n: int, exc: Exception) -> None:
        if not keep_going:
            raise exc
        outcome[n] = FileFailure(str(entries[n].input), str(as_failure(exc)))

    # The locks outlive the workers: a run started the moment this one fails must not find
    # them still writing into its work folder.
    with contextlib.ExitStack() as claims:
        # The executor before any work folder: a cluster that cannot be reached leaves none.
        executor = make_executor(options, model)
        try:
            cuts: dict[int, list[Segment]] = {}
            jobs: list[Job] = []
            for n, entry in enumerate(entries):
                try:
                    if isinstance(entry.info, VsrError):
                        raise entry.info
                    segments = entry.segments or cut(entry.info, entry.output, options)
                    if segments is not None and (len(segments) > 1 or entry.segments is not None):
                        cuts[n] = segments
                    else:
                        jobs.append(FileJob(JobKey(n), entry.input, entry.output, options, overwrite, entry.info.frames))
                except Exception as exc:  # this file's failure, whatever it is: the others go on
                    fail(n, exc)
            # Outside any one file's failure: a worker that cannot start fails the run, once.
            resolved = resolve_run(options, executor) if cuts else None
            videos: dict[int, VideoJob] = {}
            for n, segments in cuts.items():
                entry = entries[n]
                assert isinstance(entry.info, VideoInfo) and resolved is not None
                try:
                    claims.enter_context(manifests.claim(entry.output))
                    videos[n] = prepare_video(entry.info, entry.output, options, model, segments, resolved,
                                              overwrite=overwrite)
                    jobs += videos[n].jobs(n)
                except Exception as exc:  # this file's failure, whatever it is: the others go on
                    fail(n, exc)
            _run_jobs(jobs, videos, executor, outcome, fail, progress, on_frames)
            executor.close()
            for n, video in videos.items():
                if n not in outcome:
                    try:
                        outcome[n] = video.join(executor, start)
                    except Exception as exc:  # this file's failure, whatever it is: the others go on
                        fail(n, exc)
        except BaseException:
            executor.close(wait=False)
            raise
    return [outcome[n] for n in range(len(entries)) if n in outcome]


def _run_jobs(jobs: Sequence[Job], videos: dict[int, VideoJob], executor: Executor,
              outcome: dict[int, Summary | FileFailure], fail: Callable[[int, Exception], None], progress: bool,
              on_frames: OnFrames | None = None) -> None:
    """Every job over the executor; a finished segment is recorded at once (even of a video
    another segment of which failed: the next run resumes it), a whole file's summary kept."""
    done = sum(v.frames_done for v in videos.values())
    bar = frame_bar(sum(j.frames for j in jobs) + done, enabled=progress, initial=done)

    def finished(result: JobResult) -> None:
        n, index = result.key.file, result.key.segment
        if index is not None:
            videos[n].record(index, result)
        elif n not in outcome:
            assert result.summary is not None
            outcome[n] = dataclasses.replace(result.summary, executor=executor.name, workers=executor.workers)
            for message in result.summary.warnings:
                log.warning("%s", message)

    def frames_written(n: int) -> None:
        bar.update(n)
        if on_frames is not None:
            on_frames(n)

    try:
        executor.run(jobs, finished, frames_written, lambda key, exc: fail(key.file, exc))
    finally:
        bar.close()
