"""`vsr.Job`: the one way to run an upscale and watch it.

    job = vsr.Job("in.mp4", "out.mp4", vsr.UpscaleOptions(scale=2), on_event=print)
    job.start()           # in a thread of its own; or job.run() in this one
    ...
    job.cancel()          # stops within seconds; a long video's finished segments are kept
    summary = job.wait()  # raises the job's error, or vsr.Cancelled

Progress comes as `Progress` events (stage, frames done and total, the steady rate, the time
left, warnings) to every listener; the CLI's progress bar and `--json`, the web app and a Python
caller read the same ones. A job started again with the same options resumes, as a rerun of the
CLI does.

    probing ─► starting (model, executor, backend) ─► upscaling ─► joining (segments) ─► done
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path

from vsr.errors import InputError, OutputError, VsrError, as_failure
from vsr.media.kinds import is_media
from vsr.media.sources import InputInfo
from vsr.media.video_source import VideoInfo
from vsr.models.descriptor import Model
from vsr.pipeline.options import UpscaleOptions
from vsr.pipeline.plan import checked_input, make_plan, output_scale
from vsr.pipeline.progress import Listener, Progress, Tracker
from vsr.pipeline.segments.cutting import cut
from vsr.pipeline.stream.one_stream import build_engine, upscale_stream
from vsr.pipeline.stream.pump import OnFrames
from vsr.pipeline.summary import FileFailure, FolderReport, Summary
from vsr.pipeline.workers.schedule import Entry, spread, upscale_files, upscale_in_segments

log = logging.getLogger(__name__)

Result = Summary | FolderReport


class Job:
    """An upscale of a file (a video, an animated image, an image) or of a folder, from options.

    `run()` does it in the calling thread (Ctrl-C stops it there, as `KeyboardInterrupt`);
    `start()` in a thread of its own, to `wait()` for. `cancel()` may be called from any thread.
    Without `overwrite` an existing output is never replaced. `on_frames(n)` is told of frames as
    they are written (see `vsr.upscale`).
    """

    def __init__(self, input: str | Path, output: str | Path, options: UpscaleOptions | None = None, *,
                 overwrite: bool = False, on_event: Listener | None = None, on_frames: OnFrames | None = None) -> None:
        self.input, self.output = Path(input), Path(output)
        self.options = options or UpscaleOptions()
        self.overwrite = overwrite
        self._on_frames = on_frames
        self._tracker = Tracker([on_event] if on_event is not None else [])
        self._lock = threading.Lock()
        self._begun = False
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._result: Result | None = None
        self._error: BaseException | None = None

    # -- watching -------------------------------------------------------------------------------

    @property
    def progress(self) -> Progress:
        """The latest event."""
        return self._tracker.progress

    def listen(self, listener: Listener) -> None:
        """Another listener, told of every event from now on."""
        self._tracker.listen(listener)

    @property
    def done(self) -> bool:
        """Whether it has ended, done, failed or cancelled."""
        return self._finished.is_set()

    # -- running --------------------------------------------------------------------------------

    def run(self) -> Result:
        """Do the job in this thread: its summary (a `FolderReport` for a folder), or its error
        raised (`vsr.Cancelled` where it was cancelled)."""
        with self._lock:
            if self._begun:
                raise RuntimeError("a Job runs once; make a new one to run it again (it resumes)")
            self._begun = True
        try:
            result = self._work()
        except BaseException as exc:
            self._error = exc
            self._final(error=exc)
            raise
        self._result = result
        self._final(result=result)
        return result

    def start(self) -> Job:
        """Do the job in a thread of its own; `wait()` for its result."""
        def run() -> None:
            with contextlib.suppress(BaseException):  # kept for wait(), which raises it
                self.run()

        self._thread = threading.Thread(target=run, name=f"vsr-job-{self.input.name}", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> Result:
        """The result of a started job, once it has ended (its error raised); TimeoutError where
        it has not ended within `timeout` seconds."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"{self.input}: still running after {timeout:g} s")
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def cancel(self) -> None:
        """Ask the job to stop. Its stages see it within a second (a backend being built, such as
        int8 calibration, is finished first); worker processes are stopped; nothing half-written
        stays; a long video's finished segments stay for the next run of the same job."""
        self._tracker.cancel()

    def _final(self, *, result: Result | None = None, error: BaseException | None = None) -> None:
        """The final event (a listener that fails on it cannot hide the job's outcome), then done."""
        try:
            if error is not None:
                self._tracker.fail(error)
            elif result is not None:
                self._tracker.finish(result)
        except Exception:
            log.debug("a listener failed on the final event", exc_info=True)
        finally:
            self._finished.set()

    # -- the work -------------------------------------------------------------------------------

    def _work(self) -> Result:
        tracker, options = self._tracker, self.options
        tracker.stage("probing", file=str(self.input))
        tracker.check()
        if self.input.is_dir():
            return upscale_folder_with(self.input, self.output, options, tracker, overwrite=self.overwrite)
        info = checked_input(self.input, self.output, options, overwrite=self.overwrite)
        tracker.expect(info.estimated_frames)
        tracker.stage("starting")
        from vsr.models.catalogue import load_model

        model = load_model(options.runtime.model)
        tracker.check()
        return upscale_file_with(info, self.output, options, model, tracker, overwrite=self.overwrite,
                                 on_frames=self._on_frames)


def upscale_file_with(info: InputInfo, output: Path, options: UpscaleOptions, model: Model, tracker: Tracker, *,
                      overwrite: bool, on_frames: OnFrames | None = None) -> Summary:
    """A probed input whose output was checked: in segments where it is a long video (or Ray
    was asked for), else as one stream in this process. Without `overwrite`, a file that
    appears at `output` meanwhile is not replaced: the run fails instead."""
    segments = cut(info, output, options)
    if segments is not None and (len(segments) > 1 or options.execution.executor == "ray"):
        assert isinstance(info, VideoInfo)  # only videos are cut
        return upscale_in_segments(info, output, options, model, segments, tracker, overwrite=overwrite,
                                   on_frames=on_frames)
    plan = make_plan(info, output, options, output_scale(options, model), overwrite=overwrite)
    engine = build_engine(model, plan, options)
    tracker.stage("upscaling", file=str(info.path))
    return upscale_stream(plan, engine, options, tracker, on_frames=on_frames)


def upscale_folder_with(input_dir: Path, output_dir: Path, options: UpscaleOptions, tracker: Tracker, *,
                        overwrite: bool) -> FolderReport:
    """Every image and video in a folder (not recursive), under the same names in the output
    folder; a file that fails is reported and the rest go on."""
    if not output_dir.parent.is_dir():
        raise OutputError(f"{output_dir}: the folder {output_dir.parent} does not exist")
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"{output_dir}: exists and is not a folder")
    files = sorted(p for p in input_dir.iterdir() if p.is_file() and is_media(p))
    if not files:
        raise InputError(f"{input_dir}: no images or videos in this folder")
    tracker.stage("starting")
    from vsr.models.catalogue import load_model

    model = load_model(options.runtime.model)
    output_scale(options, model)  # one usage error, not one failure per file
    output_dir.mkdir(exist_ok=True)
    tracker.stage("probing")
    entries: list[Entry] = []
    for path in files:
        target = output_dir / path.name
        try:
            entries.append(Entry(path, checked_input(path, target, options, overwrite=overwrite), target))
        except Exception as exc:  # reported in the folder's report, once; the other files go on
            entries.append(Entry(path, as_failure(exc), target))
    tracker.expect(sum(e.info.estimated_frames or 0 for e in entries if not isinstance(e.info, VsrError)))
    if spread(options):
        results = upscale_files(entries, options, model, tracker, overwrite=overwrite)
    else:
        results = []
        for entry in entries:
            try:
                tracker.check()
                if isinstance(entry.info, VsrError):
                    raise entry.info
                results.append(upscale_file_with(entry.info, entry.output, options, model, tracker,
                                                 overwrite=overwrite))
            except Exception as exc:  # one file's failure, whatever it is, stops only that file
                results.append(FileFailure.of(entry.input, exc))
    return FolderReport(input=str(input_dir), output=str(output_dir), files=tuple(results))
