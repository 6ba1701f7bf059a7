"""Work spread over workers: a long video's segments, or a folder's files, as tasks for an
executor (this process, local worker processes, or a Ray cluster), each finished segment recorded
at once, each video joined once all its segments are in.

    open_work (resume or afresh) ─► tasks for the missing segments ─► executor ─► record ─► join

A folder spread over several workers goes the same way: every file's segments, and the files
that are not cut (images, animations, short videos) whole, share one pool of workers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vsr.errors import VsrError
from vsr.media.sources import InputInfo
from vsr.media.video_source import VideoInfo
from vsr.models.descriptor import Model
from vsr.pipeline.options import UpscaleOptions
from vsr.pipeline.progress import Tracker
from vsr.pipeline.segments import work_folder
from vsr.pipeline.segments.cutting import Segment, cut
from vsr.pipeline.segments.resume import Resolved, VideoWork, open_work
from vsr.pipeline.stream.pump import OnFrames
from vsr.pipeline.summary import FileFailure, Summary
from vsr.pipeline.workers.local import Executor, InProcess, LocalProcesses
from vsr.pipeline.workers.tasks import FileTask, SegmentTask, Task, TaskKey, TaskResult


def devices(options: UpscaleOptions) -> list[str]:
    """The devices the `device` option names on this machine."""
    from vsr.runtime.device import resolve_devices

    return [str(d) for d in resolve_devices(options.runtime.device)]


def spread(options: UpscaleOptions) -> bool:
    """Whether the options ask for more than one worker in this process (several workers, or Ray)."""
    execution = options.execution
    return execution.executor == "ray" or (execution.workers or len(devices(options))) > 1


def make_executor(options: UpscaleOptions, model: Model) -> Executor:
    """Ray (placed from what the cluster has), or local processes, or (one worker) this process
    with the model already loaded."""
    from vsr.models.catalogue import portable_reference

    execution = options.execution
    if execution.executor == "ray":
        from vsr.pipeline.workers.ray_cluster import RayExecutor

        return RayExecutor(portable_reference(options.runtime.model), options.runtime.device, execution.workers,
                           address=execution.ray_address)
    names = devices(options)
    workers = execution.workers or len(names)
    if workers == 1:
        return InProcess(model, names[0])
    return LocalProcesses(model, portable_reference(options.runtime.model), names, workers)


def resolve_run(options: UpscaleOptions, executor: Executor) -> Resolved:
    from vsr.models.catalogue import resolve

    return Resolved(executor.device, executor.precision(options.runtime.precision),
                    work_folder.file_sha256(resolve(options.runtime.model)))


@dataclass(frozen=True)
class Entry:
    """A file of the run: probed (or why it cannot be read), and its output."""

    input: Path
    info: InputInfo | VsrError
    output: Path
    segments: list[Segment] | None = None
    """Already cut; None: cut here where it is a long video."""


def upscale_in_segments(info: VideoInfo, output: Path, options: UpscaleOptions, model: Model,
                        segments: list[Segment], tracker: Tracker, *, overwrite: bool,
                        on_frames: OnFrames | None = None) -> Summary:
    """One video in segments, resumable; the first error stops it. `on_frames(n)`: frames as
    they are written, by any worker."""
    [summary] = _run([Entry(info.path, info, output, segments)], options, model, tracker, overwrite=overwrite,
                     keep_going=False, on_frames=on_frames)
    assert isinstance(summary, Summary)
    return summary


def upscale_files(files: Sequence[Entry], options: UpscaleOptions, model: Model, tracker: Tracker, *,
                  overwrite: bool) -> list[Summary | FileFailure]:
    """Files of a folder over one pool of workers: long videos in segments, the rest whole. A
    file that fails is reported and the rest go on."""
    return _run(files, options, model, tracker, overwrite=overwrite, keep_going=True)


def _run(entries: Sequence[Entry], options: UpscaleOptions, model: Model, tracker: Tracker, *, overwrite: bool,
         keep_going: bool, on_frames: OnFrames | None = None) -> list[Summary | FileFailure]:
    start = time.perf_counter()
    outcome: dict[int, Summary | FileFailure] = {}

    def fail(n: int, exc: Exception) -> None:
        if not keep_going:
            raise exc
        outcome[n] = FileFailure.of(entries[n].input, exc)

    # The locks outlive the workers: a run started the moment this one fails must not find
    # them still writing into its work folder.
    with contextlib.ExitStack() as claims:
        # The executor before any work folder: a cluster that cannot be reached leaves none.
        tracker.stage("starting")
        executor = make_executor(options, model)
        try:
            cuts: dict[int, list[Segment]] = {}
            tasks: list[Task] = []
            for n, entry in enumerate(entries):
                try:
                    if isinstance(entry.info, VsrError):
                        raise entry.info
                    segments = entry.segments or cut(entry.info, entry.output, options)
                    if segments is not None and (len(segments) > 1 or entry.segments is not None):
                        cuts[n] = segments
                    else:
                        tasks.append(FileTask(TaskKey(n), entry.input, entry.output, options, overwrite,
                                              entry.info.estimated_frames or 0))
                except Exception as exc:  # this file's failure, whatever it is: the others go on
                    fail(n, exc)
            # Outside any one file's failure: a worker that cannot start fails the run, once.
            resolved = resolve_run(options, executor) if cuts else None
            videos: dict[int, VideoWork] = {}
            for n, segments in cuts.items():
                entry = entries[n]
                assert isinstance(entry.info, VideoInfo) and resolved is not None
                try:
                    claims.enter_context(work_folder.claim(entry.output))
                    video = videos[n] = open_work(entry.info, entry.output, options, model, segments, resolved,
                                                  overwrite=overwrite)
                    tasks += [SegmentTask(TaskKey(n, s.index), video.plan, s, video.work, video.options)
                              for s in video.missing()]
                except Exception as exc:  # this file's failure, whatever it is: the others go on
                    fail(n, exc)
            _run_tasks(tasks, videos, executor, tracker, outcome, fail, on_frames)
            executor.close()
            if videos:
                tracker.stage("joining")
            for n, video in videos.items():
                if n not in outcome:
                    try:
                        outcome[n] = video.join(tracker, start=start, device=executor.device, executor=executor.name,
                                                workers=executor.workers)
                    except Exception as exc:  # this file's failure, whatever it is: the others go on
                        fail(n, exc)
        except BaseException:
            executor.close(wait=False)
            raise
    return [outcome[n] for n in range(len(entries)) if n in outcome]


def _run_tasks(tasks: Sequence[Task], videos: dict[int, VideoWork], executor: Executor, tracker: Tracker,
               outcome: dict[int, Summary | FileFailure], fail: Callable[[int, Exception], None],
               on_frames: OnFrames | None = None) -> None:
    """Every task over the executor; a finished segment is recorded at once (even of a video
    another segment of which failed: the next run resumes it), a whole file's summary kept."""
    # The job expected each video's frames from its header; its segments count them exactly.
    tracker.adjust(frames_total=sum(v.manifest.frames_total - (v.plan.estimated_frames or 0) for v in videos.values()),
                   done=sum(v.manifest.frames_done for v in videos.values()),
                   segments=sum(len(v.manifest.segments) for v in videos.values()),
                   resumed=sum(v.resumed for v in videos.values()))
    tracker.stage("upscaling")

    def finished(result: TaskResult) -> None:
        n, index = result.key.file, result.key.segment
        if index is not None:
            assert result.segment is not None
            videos[n].record(index, result.segment)
        elif n not in outcome:
            assert result.summary is not None
            outcome[n] = dataclasses.replace(result.summary, executor=executor.name, workers=executor.workers)
            for message in result.summary.warnings:
                tracker.warning(message, file=result.summary.input)

    def frames_written(n: int) -> None:
        tracker.frames(n)
        if on_frames is not None:
            on_frames(n)

    executor.run(tasks, finished, frames_written, lambda key, exc: fail(key.file, exc), tracker.cancellation)
