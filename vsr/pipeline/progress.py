"""A job's progress, as events: the stage it is in, frames done of how many, the steady rate and
the time left, and warnings as they are found.

The pipeline tells a `Tracker`; the tracker tells its listeners a `Progress` snapshot after each
change. The CLI's progress bar and `--json`, the web app's event stream and a Python caller all
read the same snapshots. The tracker also carries the job's cancellation, which the stages check
as they go.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

from vsr.errors import Cancelled

if TYPE_CHECKING:
    from vsr.pipeline.summary import FolderReport, Summary

log = logging.getLogger("vsr.pipeline")

Stage = Literal["probing", "starting", "upscaling", "joining", "done", "failed", "cancelled"]
STAGES: tuple[Stage, ...] = get_args(Stage)
FINAL_STAGES: frozenset[Stage] = frozenset({"done", "failed", "cancelled"})

# The steady rate is measured over the frames written in the last RATE_WINDOW seconds: long
# enough to smooth an encoder's bursts (libx264 holds ~40 frames in its lookahead, then writes
# in step with the model) and segments reported a few at a time, short enough to follow a change.
RATE_WINDOW = 30.0


@dataclass(frozen=True)
class Progress:
    """One moment of a job, as every listener sees it."""

    stage: Stage
    """probing the input, starting (loading the model, building the backend), upscaling,
    joining segments; then done, failed or cancelled."""
    frames_done: int = 0
    """Frames written, those of segments a resumed run kept included."""
    frames_total: int | None = None
    """Frames the job will write, as the input declares them (or as estimated from its
    duration); None while unknown."""
    fps: float | None = None
    """Frames a second at the steady rate of this run, from the frames written in the last
    `RATE_WINDOW` seconds (start-up and resumed frames left out); None until two writes."""
    eta_seconds: float | None = None
    """Seconds left at the steady rate; None while the rate or the total is unknown."""
    elapsed_seconds: float = 0.0
    """Since the job started."""
    file: str | None = None
    """The input being worked on (for a folder, the current file)."""
    segments: int = 0
    """Segments the video is cut into (0: one stream, or not known yet)."""
    segments_resumed: int = 0
    """Segments an interrupted run had finished, kept."""
    warnings: tuple[str, ...] = ()
    """Every warning so far, each once."""
    error: str | None = None
    """Why it failed, in one line (stage `failed`)."""
    result: Summary | FolderReport | None = None
    """What was done (stage `done`): a `Summary`, or for a folder a `FolderReport`."""

    @property
    def finished(self) -> bool:
        return self.stage in FINAL_STAGES


Listener = Callable[[Progress], None]


class Cancellation:
    """A job's request to stop, checked by the stages as they go (within a fraction of a second;
    a backend that is being built, such as int8 calibration, is finished first)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise `Cancelled` where the job was asked to stop."""
        if self._event.is_set():
            raise Cancelled("cancelled")


@dataclass
class _Rate:
    """Frames written at steady pace: (time, frames written by this run) over the last window."""

    samples: deque[tuple[float, int]] = field(default_factory=deque)
    written: int = 0

    def add(self, now: float, frames: int) -> None:
        self.written += frames
        self.samples.append((now, self.written))
        while len(self.samples) > 2 and now - self.samples[1][0] >= RATE_WINDOW:
            self.samples.popleft()

    def fps(self) -> float | None:
        if len(self.samples) < 2:
            return None
        (t0, n0), (t1, n1) = self.samples[0], self.samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else None


class Tracker:
    """What the pipeline tells about a job, told on to listeners as `Progress` snapshots.

    Calls may come from several threads (a stream's writer, the driver of worker processes);
    listeners are called one at a time, in the thread that made the change. An exception a
    listener raises comes out of that call: the stage that made it stops, and the job with it.
    """

    def __init__(self, listeners: Iterable[Listener] = (), *, cancellation: Cancellation | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._listeners = list(listeners)
        self._clock = clock
        self._start = clock()
        self._lock = threading.RLock()
        self.cancellation = cancellation or Cancellation()
        self._said: set[tuple[str | None, str]] = set()
        self._rate = _Rate()
        self._state = Progress(stage="probing")

    # -- what listeners read ------------------------------------------------------------------

    @property
    def progress(self) -> Progress:
        """The latest snapshot."""
        with self._lock:
            return self._with_times(self._state)

    def listen(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def cancel(self) -> None:
        """Ask the job to stop (see `Cancellation`)."""
        self.cancellation.cancel()

    def check(self) -> None:
        self.cancellation.check()

    # -- what the pipeline tells -------------------------------------------------------------

    def stage(self, stage: Stage, *, file: str | None = None) -> None:
        self._change(stage=stage, **({"file": file} if file is not None else {}))

    def expect(self, frames_total: int | None) -> None:
        """How many frames the job will write, as far as known before it starts (0: unknown)."""
        self._change(frames_total=frames_total or None)

    def adjust(self, *, frames_total: int = 0, done: int = 0, segments: int = 0, resumed: int = 0) -> None:
        """Add to what was expected: a video cut into segments counts its frames exactly (`frames_total`:
        the difference from the estimate), and an earlier run may have done some (`done` frames,
        `resumed` of its `segments`)."""
        with self._lock:
            state = self._state
            total = None if state.frames_total is None and not frames_total else (state.frames_total or 0) + frames_total
            self._change(frames_total=total, frames_done=state.frames_done + done,
                         segments=state.segments + segments, segments_resumed=state.segments_resumed + resumed)

    def frames(self, n: int) -> None:
        """`n` more frames written."""
        with self._lock:
            self._rate.add(self._clock(), n)
            self._change(frames_done=self._state.frames_done + n)

    def warning(self, message: str, *, file: str | None = None) -> None:
        """Said on vsr's log (the CLI prints it) and kept in the snapshots: once for each file it
        is about (`file`, else the one being worked on)."""
        with self._lock:
            key = (file or self._state.file, message)
            if key in self._said:
                return
            self._said.add(key)
            log.warning("%s", message)
            self._change(warnings=(*self._state.warnings, message))

    def finish(self, result: Summary | FolderReport) -> None:
        self._change(stage="done", result=result)

    def fail(self, error: BaseException) -> None:
        if isinstance(error, Cancelled | KeyboardInterrupt):
            self._change(stage="cancelled")
        else:
            self._change(stage="failed", error=str(error) or type(error).__name__)

    def _change(self, **changes: Any) -> None:
        with self._lock:
            self._state = replace(self._state, **changes)
            snapshot = self._with_times(self._state)
            for listener in self._listeners:
                listener(snapshot)

    def _with_times(self, state: Progress) -> Progress:
        fps = self._rate.fps()
        left = None if state.frames_total is None else max(0, state.frames_total - state.frames_done)
        eta = None if fps is None or left is None or fps <= 0 else round(left / fps, 1)
        return replace(state, fps=None if fps is None else round(fps, 3), eta_seconds=eta,
                       elapsed_seconds=round(self._clock() - self._start, 3))


def progress_bar() -> Listener:
    """A listener drawing frames done as a bar on stderr (tqdm), from the first frame to the
    end; a single picture gets none. tqdm's lock is a thread lock: its default, a
    multiprocessing one, starts a resource tracker that reports the lock as leaked when a run
    with worker processes is interrupted."""
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    bar: list[Any] = []

    def draw(p: Progress) -> None:
        if p.finished:
            if bar:
                bar.pop().close()
            return
        if p.stage != "upscaling" or p.frames_total == 1:
            return
        if not bar:
            bar.append(tqdm(total=p.frames_total, initial=p.frames_done, unit="frame", file=sys.stderr,
                            dynamic_ncols=True, leave=False))
        shown = bar[0]
        if p.frames_total != shown.total:
            shown.total = p.frames_total
            shown.refresh()
        if p.frames_done > shown.n:
            shown.update(p.frames_done - shown.n)

    return draw
